"""rnn_scan (ops/rnn_scan.py): a recurrent layer direction as one primitive eagerly. Its
numpy time loop and back-through-time against float64 central differences for every mode,
packed and run backwards, with a cotangent on every channel of the record; gradients of
gradients through the layers against torch's; the layer's output contiguous as torch's;
and one tape node per layer direction, not one per op per step."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.dispatch import bind
from tracecomp.ops.rnn_scan import rnn_scan_p

from helpers import to_tc

H = 3
GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _operands(mode, batch_sizes, seed=0):
    """float64 operands of one layer direction: 4 steps of a batch of 3 (or packed rows)."""
    rng = np.random.default_rng(seed)
    rows = (sum(batch_sizes),) if batch_sizes else (4, 3)
    gi = rng.standard_normal(rows + (GATES[mode] * H,))
    w_hh = rng.standard_normal((GATES[mode] * H, H)) * 0.6
    h0, c0 = rng.standard_normal((3, H)), rng.standard_normal((3, H))
    if mode == "RNN_RELU":
        gi = gi + 0.3       # away from relu's kink at the first steps
    return {"LSTM": (gi, w_hh, h0, c0), "GRU": (gi, w_hh, rng.standard_normal(3 * H), h0)
            }.get(mode, (gi, w_hh, h0))


@pytest.mark.parametrize("batch_sizes", [None, (3, 3, 2, 1)], ids=["padded", "packed"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("mode", list(GATES))
def test_vjp_matches_central_differences(mode, reverse, batch_sizes):
    arrays = _operands(mode, batch_sizes)
    params = {"mode": mode, "reverse": reverse, "batch_sizes": batch_sizes}
    inputs = [tc.tensor(a, requires_grad=True) for a in arrays]
    out = bind(rnn_scan_p, *inputs, **params)
    rng = np.random.default_rng(7)
    cot = rng.standard_normal(tuple(out.shape))       # on every channel, the gates' too
    grads = tc.autograd.grad(out, inputs, tc.tensor(cot))
    for k, (a, g) in enumerate(zip(arrays, grads)):
        direction = rng.standard_normal(a.shape)

        def objective(sign, k=k, direction=direction):
            moved = [b + sign * 1e-6 * direction if j == k else b for j, b in enumerate(arrays)]
            return float(np.sum(rnn_scan_p.impl(*moved, **params) * cot))

        numeric = (objective(1) - objective(-1)) / 2e-6
        analytic = float(np.sum(g.numpy() * direction))
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-7), \
            f"{mode}: operand {k}: VJP {analytic} | central difference {numeric}"


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_gradient_of_gradient_matches_torch(name, packed):
    """A penalty on the input's gradient (create_graph=True) through two bidirectional
    layers: the weights' gradients need the steps' second derivatives."""
    want = getattr(torch.nn, name)(3, 4, 2, bidirectional=True)
    got = getattr(tc.nn, name)(3, 4, 2, bidirectional=True)
    got.load_state_dict({k: to_tc(v) for k, v in want.state_dict().items()})
    xs = np.random.RandomState(0).randn(5, 2, 3).astype(np.float32)
    results = []
    for lib, m in ((torch, want), (tc, got)):
        x = lib.tensor(xs, requires_grad=True)
        seq = lib.nn.utils.rnn.pack_padded_sequence(x, [5, 3]) if packed else x
        out = m(seq)[0]
        out = lib.nn.utils.rnn.pad_packed_sequence(out)[0] if packed else out
        gx, = lib.autograd.grad((out ** 2).sum(), x, create_graph=True)
        (gx ** 2).sum().backward()
        results.append([gx.detach().numpy()] + [p.grad.numpy() for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_output_is_contiguous_and_one_node_per_direction(name):
    """torch's output is contiguous (`out.view(-1, H)` is how char-RNNs flatten it); the
    time loop records one node per layer direction, not one per op per step."""
    m = getattr(tc.nn, name)(2, 4, 1, bidirectional=True, batch_first=False)
    x = tc.randn(6, 3, 2, requires_grad=True)
    out, _ = m(x)
    assert out.is_contiguous()
    assert out.view(-1, 8).shape == (18, 8)
    single = getattr(tc.nn, name)(2, 4)
    out, _ = single(x)
    assert out.is_contiguous() and out.view(-1, 4).shape == (18, 4)
    # out is a view of the record; the record's node is rnn_scan's, its operands the
    # input projection and w_hh: no per-step nodes in between
    seen, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(n for n, _ in node.next_functions)
    assert len(seen) < 15, f"{name}: {len(seen)} nodes for 6 steps"


def test_second_derivative_through_gate_channels_is_refused():
    """Only the layer reads a record, and only its output and state channels: a gradient
    of a gradient with a cotangent on the gate channels says so instead of dropping it."""
    arrays = _operands("LSTM", None)
    inputs = [tc.tensor(a, requires_grad=True) for a in arrays]
    out = bind(rnn_scan_p, *inputs, mode="LSTM", reverse=False, batch_sizes=None)
    with pytest.raises(tc.errors.AutogradError, match="gate channels"):
        tc.autograd.grad(out[3].sum(), inputs[1], create_graph=True)
