"""Graph breaks as published programs meet them (compiler/graph_break.py), each pattern
compared with torch 2.13: a loss module whose optional weight is None runs eagerly like any
other loss; a break is said once per program (not once per instance of a layer, nor once
more through logging's last resort) at the caller's line; a padded batch of new lengths
runs split without tracing the function again up to its break."""
import logging
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import torch

import tracecomp as tc

from helpers import assert_close, with_torch_weights


def _breaks(fn, *args):
    """fn(*args) and the graph-break warnings it gave (message, file name)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [(str(w.message), w.filename) for w in caught
                 if "graph break" in str(w.message)]


def _classifier(lib):
    """An MLP whose forward branches on a value (`if x.abs().max() > 10`: a break)."""
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(),
                                          lib.nn.Linear(8, 3))

        def forward(self, x):
            if x.abs().max() > 10:      # rescale outliers: Python reads a value
                x = x / 10
            return self.body(x)
    return Net()


def test_a_loss_whose_weight_is_none_runs_eagerly_in_a_split_step():
    """CrossEntropyLoss() registers its weight as a None buffer: it holds no state, so a
    split step runs it eagerly (as a ReLU), where it was compiled on its own."""
    torch.manual_seed(0)
    ref = _classifier(torch)
    model = with_torch_weights(_classifier(tc), ref)
    loss_fns = {lib: (lib.nn.CrossEntropyLoss(), lib.nn.BCEWithLogitsLoss())
                for lib in (tc, torch)}
    opts = {tc: tc.optim.SGD(model.parameters(), lr=0.1),
            torch: torch.optim.SGD(ref.parameters(), lr=0.1)}

    def stepper(lib, net):
        ce, bce = loss_fns[lib]

        def step(x, y):
            out = net(x)
            loss = ce(out, y) + bce(out[:, 0], (y == 1).to(out.dtype))
            opts[lib].zero_grad()
            loss.backward()
            opts[lib].step()
            return loss
        return step
    step = tc.compile(stepper(tc, model))
    ref_step = stepper(torch, ref)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((5, 4)).astype(np.float32) * 6
        y = rng.integers(0, 3, 5)
        got, said = _breaks(step, tc.tensor(x), tc.tensor(y))
        assert_close(got, ref_step(torch.tensor(x), torch.tensor(y)).detach(), what="loss")
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q.detach(), what="parameter")
    compiled = {type(m).__name__ for m in step.splits.compiled}
    assert compiled == {"Net"}, compiled     # not CrossEntropyLoss, not BCEWithLogitsLoss


class _Block(tc.nn.Module):
    """A layer that reads a value of its input (a break in each of its instances)."""

    def __init__(self):
        super().__init__()
        self.fc = tc.nn.Linear(4, 4)

    def forward(self, x):
        edges = (x > 0).nonzero()       # GAT's edge list: its shape depends on the data
        return self.fc(x) * (1 + edges.shape[0] / x.numel())


def test_a_break_in_every_block_is_said_once_at_the_callers_line():
    """Twelve instances of one breaking block: one warning for the block and one for the
    model, each naming the line that called the compiled model."""
    tc.manual_seed(0)
    model = tc.nn.Sequential(*[_Block() for _ in range(12)])
    compiled = tc.compile(model)
    x = tc.randn(3, 4)
    out, said = _breaks(compiled, x)
    assert_close(out, model(x), what="output")
    assert len(said) == 2, [m.split("\n")[0] for m, _ in said]
    assert "_Block.forward" in said[1][0] and "nonzero" in said[1][0]
    assert all(file == __file__ for _, file in said), said      # the caller's line
    assert _breaks(compiled, x)[1] == []                         # and said once


def test_a_break_is_printed_once_where_no_logging_is_configured():
    """logging's last resort printed the warning a second time to stderr."""
    program = textwrap.dedent("""
        import tracecomp as tc
        class Net(tc.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = tc.nn.Linear(3, 3)
            def forward(self, x):
                return self.fc(x) if x.sum() > 0 else -self.fc(x)
        tc.compile(Net())(tc.ones(2, 3))
    """)
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("graph break in Net.forward") == 1, run.stderr


def test_new_lengths_run_split_without_tracing_up_to_the_break_again(caplog, monkeypatch):
    """A tagger that packs with lengths.tolist(): each batch's padded length is new. The
    first batch traces its forward up to the break; later lengths run split at once."""
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")      # each trace is logged
    def make(lib):
        class Tagger(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.nn.Embedding(10, 4)
                self.rnn = lib.nn.GRU(4, 5, batch_first=True)
                self.head = lib.nn.Linear(5, 3)

            def forward(self, ids, lengths):
                packed = lib.nn.utils.rnn.pack_padded_sequence(
                    self.emb(ids), lengths.tolist(), batch_first=True, enforce_sorted=False)
                out = lib.nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0],
                                                           batch_first=True)[0]
                return self.head(out)
        return Tagger()
    torch.manual_seed(5)
    ref = make(torch)
    model = with_torch_weights(make(tc), ref)
    compiled = tc.compile(model)
    rng = np.random.default_rng(5)
    batches = [[3, 2, 1], [5, 4, 2], [6, 2, 2], [4, 4, 3], [7, 1, 5]]
    for lengths in batches:
        ids = rng.integers(0, 10, (3, max(lengths)))
        with caplog.at_level(logging.INFO, logger="tracecomp"):
            out, _ = _breaks(compiled, tc.tensor(ids), tc.tensor(lengths))
        want = ref(torch.tensor(ids), torch.tensor(lengths))
        assert_close(out, want.detach(), what="output")
        model.zero_grad(), ref.zero_grad()
        out.pow(2).sum().backward(), want.pow(2).sum().backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert_close(p.grad, q.grad, rtol=1e-4, what="gradient")
    # one trace (the first batch's), which stopped at the break
    traces = [r.getMessage() for r in caplog.records if "compiling" in r.getMessage()
              and "Tagger.forward" in r.getMessage()]
    assert len(traces) == 1, traces
