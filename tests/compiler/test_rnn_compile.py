"""Recurrent models under tracecomp.compile: the Python time loop unrolls at trace time, so
a whole language-model training step (embedding -> LSTM/GRU -> linear -> cross_entropy,
backward, clip_grad_norm_, SGD step) compiles into one graph. Losses and weights must
follow the eager step's and torch's step for step."""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn
from tracecomp.codegen.interp import compile_graph
from tracecomp.ir import verify
from tracecomp.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from tracecomp.ops.movement import pad
from tracecomp.passes import algebra
from tracecomp.tracing.tracer import trace

from helpers import assert_close, to_tc

VOCAB, EMBED, HIDDEN, STEPS, BATCH = 40, 16, 32, 16, 8


def _language_model(lib, cell, layers):
    class LanguageModel(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = lib.nn.Embedding(VOCAB, EMBED)
            self.rnn = getattr(lib.nn, cell)(EMBED, HIDDEN, layers)
            self.decode = lib.nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            out, _ = self.rnn(self.embed(tokens))
            return self.decode(out)
    return LanguageModel()


def _three_models(cell, layers):
    """torch's model, and two tracecomp copies of its weights (eager, compiled)."""
    torch.manual_seed(0)
    want = _language_model(torch, cell, layers)
    copies = []
    for _ in range(2):
        m = _language_model(tc, cell, layers)
        m.load_state_dict({k: to_tc(v) for k, v in want.state_dict().items()})
        copies.append(m)
    return want, *copies


def _batches(n):
    rng = np.random.RandomState(0)
    return [(rng.randint(0, VOCAB, (STEPS, BATCH)), rng.randint(0, VOCAB, (STEPS, BATCH)))
            for _ in range(n)]


def _torch_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        return loss
    return step


def _tc_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        return loss
    return step


def test_lstm_language_model_training_step_compiles_into_one_graph():
    want, eager, model = _three_models("LSTM", 1)
    kw = {"lr": 0.5, "momentum": 0.9}
    torch_step = _torch_step(want, torch.optim.SGD(want.parameters(), **kw))
    eager_step = _tc_step(eager, tc.optim.SGD(eager.parameters(), **kw))
    model_step = _tc_step(model, tc.optim.SGD(model.parameters(), **kw))
    batches = _batches(4)
    # One eager step first gives every parameter its .grad and momentum buffer, so the
    # compiled step sees one signature from its first call: one compile (a first call
    # without them would compile a second graph, which tests/compiler/test_compile_step.py covers).
    # Unrolled over 16 time steps the graph has ~2,000 nodes; compiling it twice would
    # double the test's time.
    x, y = batches[0]
    torch_step(torch.tensor(x), torch.tensor(y))
    for step in (eager_step, model_step):
        step(tc.tensor(x), tc.tensor(y))
    compiled = tc.compile(model_step)
    for i, (x, y) in enumerate(batches[1:], 1):
        a = torch_step(torch.tensor(x), torch.tensor(y)).item()
        b = eager_step(tc.tensor(x), tc.tensor(y)).item()
        c = compiled(tc.tensor(x), tc.tensor(y)).item()
        assert b == pytest.approx(a, rel=1e-5), f"step {i}: eager {b} | torch {a}"
        assert c == pytest.approx(b, rel=1e-5), f"step {i}: compiled {c} | eager {b}"
    assert compiled.compiles == 1
    assert compiled.graphs["simplified"].op_count() > 30 * STEPS    # the time loop, unrolled
    for (key, w), e, m in zip(want.state_dict().items(), eager.state_dict().values(),
                              model.state_dict().values()):
        assert_close(e, w, 1e-4, 1e-5, what=f"eager {key}")
        assert_close(m, e, 1e-4, 1e-5, what=f"compiled {key}")


def test_compiled_gru_model_forward_with_eager_backward_through_the_bridge():
    want, eager, model = _three_models("GRU", 1)
    forward = tc.compile(model)
    kw = {"lr": 0.5}
    torch_step = _torch_step(want, torch.optim.SGD(want.parameters(), **kw))
    eager_step = _tc_step(eager, tc.optim.SGD(eager.parameters(), **kw))
    compiled_step = _tc_step(forward, tc.optim.SGD(model.parameters(), **kw))
    for i, (x, y) in enumerate(_batches(3)):
        a = torch_step(torch.tensor(x), torch.tensor(y)).item()
        b = eager_step(tc.tensor(x), tc.tensor(y)).item()
        c = compiled_step(tc.tensor(x), tc.tensor(y)).item()
        assert b == pytest.approx(a, rel=1e-5), f"step {i}"
        assert c == pytest.approx(b, rel=1e-5), f"step {i}"
    for p, q in zip(eager.parameters(), model.parameters()):
        assert_close(q.grad, p.grad, 1e-4, 1e-5)
    assert forward._compiled.compiles == 1


@pytest.mark.parametrize("cell,kw", [("LSTM", {"num_layers": 2, "bidirectional": True,
                                                "proj_size": 3, "batch_first": True}),
                                      ("GRU", {"num_layers": 2, "bidirectional": True}),
                                      ("RNN", {"num_layers": 2, "nonlinearity": "relu"})])
def test_stacked_bidirectional_layers_compile_and_match_torch(cell, kw):
    """Layers, directions and projections unroll like time steps (the interp backend runs
    the same graph as llvm, without the LLVM build time)."""
    torch.manual_seed(0)
    want = getattr(torch.nn, cell)(5, 6, **kw)
    got = getattr(nn, cell)(5, 6, **kw)
    got.load_state_dict({k: to_tc(v) for k, v in want.state_dict().items()})
    x = np.random.RandomState(1).randn(*((3, 7, 5) if kw.get("batch_first") else (7, 3, 5)))
    x = x.astype(np.float32)

    def run(model, x):
        out, hidden = model(x)
        hidden = hidden if isinstance(hidden, tuple) else (hidden,)
        return (out.sin().sum() + sum((h * h).sum() for h in hidden)), out

    compiled = tc.compile(run, backend="interp")
    loss, out = compiled(got, tc.tensor(x))
    want_loss, want_out = run(want, torch.tensor(x))
    assert_close(out, want_out)
    loss.backward()
    want_loss.backward()
    for (name, p), q in zip(want.named_parameters(), got.parameters()):
        assert_close(q.grad, p.grad, 1e-4, 1e-5, what=f"grad of {name}")


def test_packing_inside_compiled_code_matches_eager():
    tc.manual_seed(0)
    rnn = nn.GRU(3, 4, bidirectional=True)
    x = tc.randn(5, 3, 3, requires_grad=True)

    def run(x):
        packed = pack_padded_sequence(x, [5, 2, 4], enforce_sorted=False)
        out, h = rnn(packed)
        padded, _ = pad_packed_sequence(out, total_length=6)
        return (padded * padded).sum() + h.sum()

    want = run(x)
    (gx,) = tc.autograd.grad(want, [x])
    got = tc.compile(run, backend="interp")(x)
    assert_close(got, want, 1e-5, 1e-6)
    (cx,) = tc.autograd.grad(got, [x])
    assert_close(cx, gx, 1e-5, 1e-6)


def test_a_packed_sequence_argument_runs_compiled_as_torch():
    """hunkim's pack_pad: compile(lstm)(packed). The batch sizes are a static of the
    signature by value (they decide the shapes); data and indices are inputs."""
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 4)
    rnn = nn.LSTM(3, 4)
    rnn.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    compiled = tc.compile(rnn)
    x = np.random.default_rng(0).standard_normal((5, 3, 3)).astype(np.float32)
    for lengths in ([5, 2, 4], [5, 2, 4], [3, 3, 1]):
        xt = torch.tensor(x, requires_grad=True)
        want, (h, _) = ref(torch.nn.utils.rnn.pack_padded_sequence(xt, lengths,
                                                                  enforce_sorted=False))
        xc = tc.tensor(x, requires_grad=True)
        got, (gh, _) = compiled(pack_padded_sequence(xc, lengths, enforce_sorted=False))
        assert tuple(got.batch_sizes.tolist()) == tuple(want.batch_sizes.tolist())
        assert_close(got.data, want.data.detach().numpy(), 1e-5, 1e-6)
        assert_close(gh, h.detach().numpy(), 1e-5, 1e-6)
        (got.data.sum() + gh.sum()).backward()
        (want.data.sum() + h.sum()).backward()
        assert_close(xc.grad, xt.grad.numpy(), 1e-4, 1e-6)
    assert compiled._compiled.compiles == 2      # one per batch_sizes


def test_traced_lengths_are_a_clear_error():
    rnn = nn.LSTM(3, 4)
    x = tc.randn(5, 3, 3)
    with pytest.raises(tc.TraceError, match="pack_padded_sequence's `lengths` is a traced "
                                            "tensor"):
        tc.compile(lambda x, n: rnn(pack_padded_sequence(x, n, enforce_sorted=False))[1][0],
                   backend="interp", fullgraph=True)(x, tc.tensor([5, 2, 4]))


# --- the algebra rule that keeps an unrolled RNN's backward linear in the sequence length ---
def _blocks(order):
    """A function summing zero-padded (2, 3) blocks at rows 0, 2, 4 of a (6, 3) tensor, in
    the given order of blocks."""
    def fn(a, b, c):
        parts = {0: a, 2: b, 4: c}
        total = None
        for low in order:
            p = pad(parts[low], ((low, 4 - low, 0), (0, 0, 0)))
            total = p if total is None else total + p
        return total
    return fn


@pytest.mark.parametrize("order,ops", [((4, 2, 0), ["concat"]),       # an RNN's backward
                                       ((0, 2, 4), ["concat"]),
                                       ((4, 0, 2), ["pad", "pad", "add", "pad", "add"])])
def test_sum_of_adjacent_leading_blocks_is_a_concat(order, ops):
    graph = trace(_blocks(order), tc.zeros(2, 3), tc.zeros(2, 3), tc.zeros(2, 3))
    simplified = algebra.run(graph)
    verify(simplified)
    assert [n.op for n in simplified.nodes] == ops     # a gap (4 then 0) stays as it was
    xs = [np.random.RandomState(k).randn(2, 3).astype(np.float32) for k in range(3)]
    np.testing.assert_array_equal(compile_graph(simplified)(xs)[0],
                                  compile_graph(graph)(xs)[0])


def test_inner_dim_blocks_and_overlaps_are_left_alone():
    def inner(a, b):
        return pad(a, ((0, 0, 0), (0, 3, 0))) + pad(b, ((0, 0, 0), (3, 0, 0)))

    def overlap(a, b):
        return pad(a, ((0, 1, 0), (0, 0, 0))) + pad(b, ((1, 0, 0), (0, 0, 0)))

    for fn in (inner, overlap):
        graph = trace(fn, tc.zeros(2, 3), tc.zeros(2, 3))
        assert [n.op for n in algebra.run(graph).nodes] == ["pad", "pad", "add"]


def test_unrolled_rnn_backward_has_no_pad_per_time_step():
    rnn = nn.RNN(3, 4)
    x = tc.randn(12, 2, 3, requires_grad=True)

    def run(x):
        out, _ = rnn(x)
        return (out * out).sum()

    compiled = tc.compile(run, backend="interp")
    got = compiled(x)
    (gx,) = tc.autograd.grad(got, [x])
    (want,) = tc.autograd.grad(run(x), [x])
    assert_close(gx, want, 1e-5, 1e-6)
    backward = compiled.graphs["backward.optimized"]
    assert sum(n.op == "pad" for n in backward.nodes) == 0
    # one concat stacks the gradients; the partitioner may recompute the output's own
    # concat of the saved steps instead of saving it (passes/partition.py)
    recomputed = compiled.memory_log.count("recomputed  concat")
    assert sum(n.op == "concat" for n in backward.nodes) == 1 + recomputed
