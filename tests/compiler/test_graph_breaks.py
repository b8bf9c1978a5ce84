"""Graph breaks (compiler/graph_break.py): code a trace cannot record runs eagerly, the
modules it calls run compiled on their own, and the numbers are torch's; said once in a
warning; fullgraph=True keeps the TraceError. Each program is a pattern met in published
tutorials: teacher forcing with Python's random, packing with lengths.tolist(), a branch
on a loss value, Grad-CAM's hook on a layer's output, a layer with a backward hook."""
import random
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, with_torch_weights


def _said(fn, *args):
    """fn(*args) and the graph-break warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [str(w.message) for w in caught if "graph break" in str(w.message)]


def _seq2seq(lib):
    nn = lib.nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.out = nn.Embedding(12, 6), nn.GRU(6, 8), nn.Linear(8, 12)

        def forward(self, token, hidden):
            out, hidden = self.rnn(self.emb(token).unsqueeze(0), hidden)
            return self.out(out.squeeze(0)), hidden

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.enc, self.dec = nn.Embedding(12, 6), nn.GRU(6, 8), Decoder()

        def forward(self, src, trg, teacher_forcing=0.5):
            hidden = self.enc(self.emb(src))[1]
            token, outs = trg[0], []
            for t in range(1, trg.shape[0]):
                out, hidden = self.dec(token, hidden)
                outs.append(out)
                token = trg[t] if random.random() < teacher_forcing else out.argmax(1)
            return lib.stack(outs)
    return Seq2Seq()


def test_teacher_forcing_with_pythons_random_trains_as_torch():
    torch.manual_seed(0)
    ref = _seq2seq(torch)
    model = with_torch_weights(_seq2seq(tc), ref)
    compiled = tc.compile(model)
    opt, ref_opt = tc.optim.Adam(model.parameters()), torch.optim.Adam(ref.parameters())
    rng = np.random.default_rng(0)
    said = []
    for step in range(3):
        src, trg = rng.integers(0, 12, (5, 3)), rng.integers(0, 12, (4, 3))
        random.seed(step)
        out, warned = _said(compiled, tc.tensor(src), tc.tensor(trg))
        said += warned
        loss = tc.nn.functional.cross_entropy(out.reshape(-1, 12), tc.tensor(trg[1:]).reshape(-1))
        random.seed(step)
        want = torch.nn.functional.cross_entropy(
            ref(torch.tensor(src), torch.tensor(trg)).reshape(-1, 12),
            torch.tensor(trg[1:]).reshape(-1))
        assert_close(loss.item(), want.item(), rtol=1e-5, what="loss")
        opt.zero_grad(), ref_opt.zero_grad()
        loss.backward(), want.backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what="gradient")
        opt.step(), ref_opt.step()
    # said once, naming the function and why; the decoder compiled once for every step
    assert len(said) == 1 and "Seq2Seq.forward" in said[0] and "Python's random" in said[0]
    pieces = compiled._compiled.splits.compiled
    assert {type(m).__name__: c._compiled.compiles for m, c in pieces.items()} == \
        {"Embedding": 1, "GRU": 1, "Decoder": 1}


def test_fullgraph_true_keeps_the_trace_error():
    model = _seq2seq(tc)
    src, trg = tc.zeros(5, 3, dtype=tc.long), tc.zeros(4, 3, dtype=tc.long)
    with pytest.raises(tc.TraceError, match="Python's random"):
        tc.compile(model, fullgraph=True)(src, trg)


class _Tagger(tc.nn.Module):
    """Packs padded sentences with lengths.tolist() (sgrvinod's and rasbt's taggers)."""

    def __init__(self):
        super().__init__()
        self.emb, self.rnn = tc.nn.Embedding(10, 4), tc.nn.LSTM(4, 5, batch_first=True)
        self.head = tc.nn.Sequential(tc.nn.Linear(5, 5), tc.nn.Tanh(), tc.nn.Linear(5, 3))

    def forward(self, ids, lengths):
        packed = tc.nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths.tolist(),
                                                      batch_first=True,
                                                      enforce_sorted=False)
        out, _ = tc.nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        return self.head(out)


def _torch_tagger(model):
    ref = torch.nn.Module()
    ref.emb, ref.rnn = torch.nn.Embedding(10, 4), torch.nn.LSTM(4, 5, batch_first=True)
    ref.head = torch.nn.Sequential(torch.nn.Linear(5, 5), torch.nn.Tanh(),
                                   torch.nn.Linear(5, 3))
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return ref


def test_packing_with_lengths_tolist_runs_its_layers_compiled():
    tc.manual_seed(1)
    model = _Tagger()
    ref = _torch_tagger(model)
    compiled = tc.compile(model)
    rng = np.random.default_rng(1)
    for lengths in ([4, 2, 3], [5, 5, 1], [2, 4, 3]):
        ids = rng.integers(0, 10, (3, max(lengths)))
        out, _ = _said(compiled, tc.tensor(ids), tc.tensor(lengths))
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            ref.emb(torch.tensor(ids)), lengths, batch_first=True, enforce_sorted=False)
        want = ref.head(torch.nn.utils.rnn.pad_packed_sequence(ref.rnn(packed)[0],
                                                               batch_first=True)[0])
        assert_close(out, want.detach(), what="output")
        model.zero_grad(), ref.zero_grad()
        out.pow(2).sum().backward(), want.pow(2).sum().backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what="gradient")
    # the packed LSTM runs eagerly (it would compile per pattern of lengths); the
    # embedding and the head compile, the head once for its three lengths' worth of sizes
    assert {type(m).__name__ for m in compiled._compiled.splits.compiled} == \
        {"Embedding", "Sequential"}


def test_a_whole_step_that_branches_on_its_loss_trains_as_eager():
    """A step keeping the best loss seen in Python: the step runs eagerly, its model
    compiled, and the weights follow the uncompiled step's."""
    def make():
        tc.manual_seed(2)
        model = tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 1))
        return model, tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def stepper(model, opt, best):
        def step(x, y):
            opt.zero_grad()
            loss = tc.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            if loss < best[0]:
                best[0] = loss.item()
            return loss
        return step
    (model, opt), (twin, twin_opt) = make(), make()
    best, twin_best = [np.inf], [np.inf]
    step, compiled = stepper(model, opt, best), tc.compile(stepper(twin, twin_opt, twin_best))
    rng = np.random.default_rng(2)
    for _ in range(4):
        x, y = tc.tensor(rng.standard_normal((6, 4), dtype=np.float32)), tc.tensor(
            rng.standard_normal((6, 1), dtype=np.float32))
        assert_close(_said(compiled, x, y)[0], step(x, y), what="loss")
    assert twin_best == best
    for p, q in zip(twin.parameters(), model.parameters()):
        assert_close(p, q, what="parameter")


def test_grad_cam_hook_on_a_layer_output_fires_at_every_backward():
    """Grad-CAM: a forward hook on a layer registers a hook on its output's gradient. The
    hook is a graph break; the layer runs compiled with its hooks around it."""
    def run(lib, compile_model):
        torch.manual_seed(3)
        model = lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3), lib.nn.ReLU(), lib.nn.Flatten(),
                                  lib.nn.Linear(4 * 4 * 4, 3))
        if lib is tc:
            model = with_torch_weights(model, run(torch, False)[2])
        grads = []

        def watch(module, args, out):
            out.register_hook(grads.append)
        model[0].register_forward_hook(watch)
        forward = tc.compile(model) if compile_model else model
        x = lib.tensor(np.linspace(-1, 1, 2 * 2 * 6 * 6, dtype=np.float32).reshape(2, 2, 6, 6))
        for _ in range(2):
            forward(x)[:, 1].sum().backward()
        return grads, model[0].weight.grad, model
    want, want_w, _ = run(torch, False)
    got, got_w, _ = run(tc, True)
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert_close(g, w, what="the hooked output's gradient")
    assert_close(got_w, want_w, rtol=1e-4, what="conv weight gradient")


def test_a_layer_with_a_backward_hook_runs_it_at_every_backward():
    def run(lib):
        torch.manual_seed(4)
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
        if lib is tc:
            model = with_torch_weights(model, run(torch)[1])
        seen = []
        model[2].register_full_backward_hook(lambda m, gin, gout: seen.append(gout[0]))
        forward = tc.compile(model) if lib is tc else model
        x = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 6)
        for _ in range(2):
            forward(x).pow(2).sum().backward()
        return seen, model
    want, ref = run(torch)
    got, model = run(tc)
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert_close(g, w, what="grad_output")
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, what="gradient")


def test_a_function_without_modules_runs_eagerly_and_says_so():
    f = tc.compile(lambda x: x * 2 if x.sum().item() > 0 else -x)
    out, said = _said(f, tc.tensor([1.0, 2.0]))
    assert out.tolist() == [2.0, 4.0]
    assert len(said) == 1 and "x.sum().item() > 0" in said[0]       # names the line
    assert f(tc.tensor([-1.0, -2.0])).tolist() == [1.0, 2.0]     # no stale branch
    assert _said(f, tc.tensor([3.0, 1.0]))[1] == []              # said once


def test_a_failed_trace_leaves_no_stores_behind():
    """The trace that meets the break ran the forward's Python up to it: its appends and
    stores are undone, so the eager run's are the only ones (the first call appended
    twice, and a traced tensor could stay in the list)."""
    def run(lib, compile_model):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc, self.log, self.seen = lib.nn.Linear(3, 3), [], {}

            def forward(self, x):
                self.log.append(x.shape[0])
                self.seen["last"] = x * 2
                y = self.fc(x)
                return -y if y.sum() > 0 else y
        net = Net()
        forward = tc.compile(net) if compile_model else net
        for n in (2, 2, 5):
            forward(lib.ones(n, 3))
        return net.log, net.seen["last"]
    (log, last), (want_log, want_last) = run(tc, True), run(torch, False)
    assert log == want_log == [2, 2, 5]
    assert_close(last, want_last)
