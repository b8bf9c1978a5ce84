"""Run the op table (tests/op_table.py) eagerly: forward and gradient vs torch 2.13, and
float64 central differences along a random direction for every differentiable case."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close
from op_table import CASES, differentiable_args, make_inputs
from op_table import outputs as _outputs
from op_table import variant_id as _id

VARIANTS = [pytest.param(c, k, id=_id(c, k)) for c in CASES for k in range(len(c.variants))]
GRAD_VARIANTS = [p for p in VARIANTS if differentiable_args(*p.values)]
FD_VARIANTS = [p for p in GRAD_VARIANTS if p.values[0].fd]
DTYPE_VARIANTS = [pytest.param(c, k, d, id=f"{_id(c, k)}-{d}") for c in CASES
                  for d in c.dtypes[1:] for k in range(len(c.variants))]


def build(lib, case, k, arrays, diff):
    """The args of variant k as `lib` tensors; those at positions `diff` require grad."""
    return [lib.tensor(a.copy(), requires_grad=i in diff) for i, a in enumerate(arrays)]


def _inputs(case, k, dtype):
    if np.dtype(dtype).kind in "iu":    # integer runs: small integers, nonzero where needed
        return [_as_int(a, case.domain) if a.dtype.kind == "f" else a
                for a in make_inputs(case, k, np.float64)]
    return make_inputs(case, k, dtype)


def _as_int(a, domain):
    v = np.array(np.round(a * 2))
    if domain in ("positive", "nonzero"):
        v[v == 0] = 1
    return v.astype(np.int64)


def _run_both(case, k, dtype, diff):
    arrays = _inputs(case, k, dtype)
    tc_args, th_args = build(tc, case, k, arrays, diff), build(torch, case, k, arrays, diff)
    return tc_args, th_args, _outputs(case.fn(tc, *tc_args)), _outputs(case.fn(torch, *th_args))


def _compare_forward(case, got, want):
    assert len(got) == len(want), f"{case.name}: {len(got)} outputs | torch={len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, case.rtol, case.atol, what=f"{case.name} output {i}")


@pytest.mark.parametrize("case,k", VARIANTS)
def test_forward(case, k):
    _, _, got, want = _run_both(case, k, case.dtypes[0], ())
    _compare_forward(case, got, want)


@pytest.mark.parametrize("case,k,dtype", DTYPE_VARIANTS)
def test_forward_dtypes(case, k, dtype):
    _, _, got, want = _run_both(case, k, dtype, ())
    _compare_forward(case, got, want)


@pytest.mark.parametrize("case,k", GRAD_VARIANTS)
def test_grad_vs_torch(case, k):
    diff = differentiable_args(case, k)
    tc_args, th_args, got, want = _run_both(case, k, case.dtypes[0], diff)
    _compare_forward(case, got, want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.requires_grad == w.requires_grad, \
            f"{case.name} output {i} requires_grad: tracecomp={g.requires_grad} | torch=" \
            f"{w.requires_grad}"
    pairs = [(g, w) for g, w in zip(got, want) if w.requires_grad]
    if not pairs:
        pytest.skip("no output depends differentiably on the inputs")
    rng = np.random.default_rng(k)
    cots = [rng.standard_normal(tuple(w.shape)).astype(w.detach().numpy().dtype)
            for _, w in pairs]
    tc_in = [tc_args[i] for i in diff]
    th_in = [th_args[i] for i in diff]
    tg = tc.autograd.grad([g for g, _ in pairs], tc_in, [tc.tensor(c) for c in cots],
                          allow_unused=True)
    wg = torch.autograd.grad([w for _, w in pairs], th_in, [torch.tensor(c) for c in cots],
                             allow_unused=True)
    for i, (x, g, w) in enumerate(zip(th_in, tg, wg)):
        g = np.zeros(tuple(x.shape), np.float32) if g is None else g
        w = torch.zeros_like(x) if w is None else w
        assert_close(g, w, case.rtol * 10, case.atol * 10,
                     what=f"{case.name} d/d(arg {diff[i]})")


def _objective(case, arrays, cots):
    with tc.no_grad():
        outs = _outputs(case.fn(tc, *[tc.tensor(a) for a in arrays]))
    return sum(float(np.sum(o.numpy() * c)) for o, c in zip(outs, cots) if c is not None)


@pytest.mark.parametrize("case,k", FD_VARIANTS)
def test_grad_finite_differences(case, k):
    """float64: <grad, v> equals the central difference of <f(x), cot> along direction v."""
    diff = differentiable_args(case, k)
    arrays = make_inputs(case, k, np.float64)
    args = [tc.tensor(a.copy(), requires_grad=i in diff) for i, a in enumerate(arrays)]
    outs = _outputs(case.fn(tc, *args))
    rng = np.random.default_rng(1000 + k)
    cots = [rng.standard_normal(tuple(o.shape)) if o.requires_grad else None for o in outs]
    roots = [(o, c) for o, c in zip(outs, cots) if c is not None]
    if not roots:
        pytest.skip("no output depends differentiably on the inputs")
    grads = tc.autograd.grad([o for o, _ in roots], [args[i] for i in diff],
                             [tc.tensor(c) for _, c in roots], allow_unused=True)
    dirs = {i: rng.standard_normal(arrays[i].shape) for i in diff}
    analytic = sum(float(np.sum(g.numpy() * dirs[i])) for i, g in zip(diff, grads)
                   if g is not None)
    eps = 1e-6
    plus = [a + eps * dirs[i] if i in dirs else a for i, a in enumerate(arrays)]
    minus = [a - eps * dirs[i] if i in dirs else a for i, a in enumerate(arrays)]
    numeric = (_objective(case, plus, cots) - _objective(case, minus, cots)) / (2 * eps)
    assert np.isclose(analytic, numeric, rtol=1e-5, atol=1e-6), \
        f"{case.name}: directional derivative analytic={analytic!r} | central difference=" \
        f"{numeric!r} (args {diff})"


# --- pad with interior padding has no torch counterpart: a numpy reference ---------------
def _np_pad(x, config, value):
    out = x
    for d, (lo, hi, interior) in enumerate(config):
        n = out.shape[d]
        if interior and n > 1:
            shape = list(out.shape)
            shape[d] = n + (n - 1) * interior
            grown = np.full(shape, value, out.dtype)
            grown[(slice(None),) * d + (slice(None, None, interior + 1),)] = out
            out = grown
        widths = [(0, 0)] * out.ndim
        widths[d] = (max(lo, 0), max(hi, 0))
        out = np.pad(out, widths, constant_values=value)
        stop = out.shape[d] + min(hi, 0)
        out = out[(slice(None),) * d + (slice(-min(lo, 0), stop),)]
    return out


@pytest.mark.parametrize("config", [((1, 2, 1), (0, 0, 2)), ((-1, 1, 0), (2, -2, 1)),
                                    ((0, 0, 0), (1, 0, 3))], ids=str)
def test_pad_interior_vs_numpy(config):
    from tracecomp.ops.movement import pad
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = tc.tensor(x, requires_grad=True)
    y = pad(t, config, -1.5)
    assert_close(y, _np_pad(x, config, -1.5))
    g = np.random.default_rng(1).standard_normal(tuple(y.shape))
    (gx,) = tc.autograd.grad(y, t, tc.tensor(g))
    # the adjoint of padding picks out the input's positions: <pad(x), g> - <x, gx> is
    # what the fill value contributes, which does not depend on x
    lin = float(np.sum(_np_pad(x, config, 0.0) * g)) - float(np.sum(x * gx.numpy()))
    assert abs(lin) < 1e-9, f"pad VJP is not the adjoint: residual {lin}"
