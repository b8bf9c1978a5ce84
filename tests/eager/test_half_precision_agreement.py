"""float16 and bfloat16 results bit for bit against torch's CPU kernels, eager and compiled.

torch computes a float16 or bfloat16 op in float32 and rounds its result once: sums,
cumulative sums and products, norms and matrix products accumulate in float32, and
rsqrt, softmax and addmm's product-plus-bias round once (numpy's float16 loops rounded
each step of a sum over a leading dim or a cumsum, and 1 / sqrt(x) twice). prod is the
exception: torch multiplies in the reduced dtype itself, each product rounded, in the order
of its vectorized reduction loop (ops/reduce._prod_impl).
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

_RNG = np.random.default_rng(2026)


def _data(shape, near_one=False):
    x = _RNG.standard_normal(shape).astype(np.float32)
    return x * 0.1 + 1 if near_one else x


def _check(fn, arrays, dtype, compiled):
    """fn on arrays as `dtype`, torch's and tracecomp's (eager or compiled) bits equal."""
    want = fn(torch, *[torch.tensor(a).to(getattr(torch, dtype)) for a in arrays])
    f = tc.compile(lambda *xs: fn(tc, *xs)) if compiled else (lambda *xs: fn(tc, *xs))
    got = f(*[tc.tensor(a).to(getattr(tc, dtype)) for a in arrays])
    assert got.dtype == getattr(tc, dtype)
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


# name: (fn(lib, *tensors), input shapes, inputs near 1 (products))
_OPS = {
    # a multiple of torch's vector width: its scalar tail rounds sqrt first (not modelled)
    "rsqrt": (lambda lib, x: x.abs().rsqrt(), [(4, 64)], False),
    "sum_dim0": (lambda lib, x: x.sum(0), [(33, 16)], False),
    "sum_middle": (lambda lib, x: x.sum(1), [(3, 5, 7)], False),
    "mean_dim0": (lambda lib, x: x.mean(0), [(33, 16)], False),
    "cumsum_last": (lambda lib, x: x.cumsum(-1), [(4, 40)], False),
    "cumsum_dim0": (lambda lib, x: x.cumsum(0), [(40, 4)], False),
    "cumprod_last": (lambda lib, x: x.cumprod(-1), [(4, 40)], True),
    "prod_last": (lambda lib, x: x.prod(-1), [(5, 40)], True),
    "prod_dim0": (lambda lib, x: x.prod(0), [(33, 16)], True),
    "prod_all": (lambda lib, x: x.prod(), [(2, 3, 4)], True),
    # rows past 4 vectors: four accumulators, then pairwise, then lane by lane, then the tail
    "prod_long_rows": (lambda lib, x: x.prod(-1), [(3, 100)], True),
    "norm_last": (lambda lib, x: x.norm(dim=-1), [(6, 8)], False),
    "softmax_last": (lambda lib, x: x.softmax(-1), [(6, 8)], False),
    "log_softmax_last": (lambda lib, x: x.log_softmax(-1), [(6, 8)], False),
    # along another dim torch's kernel works in float32 throughout (not the last dim's)
    "log_softmax_dim0": (lambda lib, x: x.log_softmax(0), [(33, 16)], False),
    "log_softmax_middle": (lambda lib, x: x.log_softmax(1), [(3, 5, 7)], False),
    # a composite in torch for every dtype: each part rounded
    "logsumexp_last": (lambda lib, x: x.logsumexp(-1), [(6, 8)], False),
    "logsumexp_dim0": (lambda lib, x: x.logsumexp(0), [(33, 16)], False),
    "addmm": (lambda lib, b, m1, m2: lib.addmm(b, m1, m2.T), [(6,), (4, 8), (6, 8)], False),
    "baddbmm": (lambda lib, b, m1, m2: lib.baddbmm(b, m1, m2.transpose(1, 2)),
                [(2, 4, 6), (2, 4, 8), (2, 6, 8)], False),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("op", sorted(_OPS))
def test_reductions_and_kernels_round_once_as_torchs(op, dtype, compiled):
    fn, shapes, near_one = _OPS[op]
    _check(fn, [_data(s, near_one) for s in shapes], dtype, compiled)


def _check_grads(fn, arrays, dtype, compiled):
    """fn's output and its gradients (against a random cotangent) for arrays as `dtype`,
    torch's and tracecomp's bits equal."""
    ins = [torch.tensor(a).to(getattr(torch, dtype)).requires_grad_() for a in arrays]
    out = fn(torch, *ins)
    cotangent = _RNG.standard_normal(tuple(out.shape)).astype(np.float32)
    out.backward(torch.tensor(cotangent).to(getattr(torch, dtype)))
    f = tc.compile(lambda *xs: fn(tc, *xs)) if compiled else (lambda *xs: fn(tc, *xs))
    got = [tc.tensor(a).to(getattr(tc, dtype)).requires_grad_() for a in arrays]
    mine = f(*got)
    np.testing.assert_array_equal(mine.detach().float().numpy(), out.detach().float().numpy())
    mine.backward(tc.tensor(cotangent).to(getattr(tc, dtype)))
    for mine, theirs in zip(got, ins):
        np.testing.assert_array_equal(mine.grad.float().numpy(), theirs.grad.float().numpy())


# torch's formulas, each op rounded in turn: reciprocal -g * (out * out), div's divisor
# -g * ((a / b) / b), rsqrt -0.5 * g * out.pow(3) (float16's cube rounded once), float16's
# sigmoid_backward g * (1 - out) * out (bfloat16's in float32, rounded once)
_GRADS = {
    "reciprocal": (lambda lib, x: x.reciprocal(), [(4, 64)]),
    "div": (lambda lib, x, y: x / y, [(4, 64), (4, 64)]),
    "rsqrt": (lambda lib, x: x.abs().rsqrt(), [(4, 64)]),
    "sigmoid": (lambda lib, x: x.sigmoid(), [(4, 64)]),
    # (x - target) and its square rounded, their mean once; norm * (x - target) * g
    "mse_mean": (lambda lib, x, y: lib.nn.functional.mse_loss(x, y), [(4, 64), (4, 64)]),
    "mse_sum": (lambda lib, x, y: lib.nn.functional.mse_loss(x, y, reduction="sum"),
                [(33, 16), (33, 16)]),
    "mse_none": (lambda lib, x, y: lib.nn.functional.mse_loss(x, y, reduction="none"),
                 [(6, 8), (6, 8)]),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(("op", "dtype"), [
    (op, dtype) for op in sorted(_GRADS) for dtype in ("float16", "bfloat16", "float32")
    # float32's own sigmoid and sums are an ulp off torch's here and there
    if dtype != "float32" or op in ("reciprocal", "div", "rsqrt")])
def test_gradients_follow_torchs_formulas(op, dtype, compiled):
    fn, shapes = _GRADS[op]
    _check_grads(fn, [_data(s) for s in shapes], dtype, compiled)


# in place, as out of place: alpha and value in float32 with the sum, rounded once (alpha
# rounded to the dtype first); lerp by a number one fused multiply-add in float32
_BOTH_WAYS = {
    "sub_alpha": (lambda x, y: x.sub(y, alpha=0.3), lambda x, y: x.sub_(y, alpha=0.3)),
    "add_alpha": (lambda x, y: x.add(y, alpha=-1.7), lambda x, y: x.add_(y, alpha=-1.7)),
    "addcmul": (lambda x, y: x.addcmul(y, y, value=0.3),
                lambda x, y: x.addcmul_(y, y, value=0.3)),
    "addcdiv": (lambda x, y: x.addcdiv(y, y.abs() + 1, value=0.3),
                lambda x, y: x.addcdiv_(y, y.abs() + 1, value=0.3)),
    "lerp_small": (lambda x, y: x.lerp(y, 0.3), lambda x, y: x.lerp_(y, 0.3)),
    "lerp_large": (lambda x, y: x.lerp(y, 0.7), lambda x, y: x.lerp_(y, 0.7)),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("op", sorted(_BOTH_WAYS))
def test_scaled_sums_and_lerp_round_once_in_place_or_not(op, dtype, in_place, compiled):
    fn = _BOTH_WAYS[op][in_place]
    _check(lambda lib, x, y: fn(x, y), [_data((4, 64)), _data((4, 64))], dtype, compiled)


# nll_loss sums the picked losses in the dtype, each step rounded, in torch's cascade of
# partial sums (ops/nll._cascade_sum); cross_entropy sums its rounded log-probabilities so
_LOSSES = {
    "cross_entropy_mean": ("cross_entropy", 33, {}),
    "cross_entropy_sum": ("cross_entropy", 300, {"reduction": "sum"}),
    "cross_entropy_ignored": ("cross_entropy", 64, {"ignore_index": 3}),
    "nll_mean": ("nll_loss", 40, {}),
    "nll_sum_ignored": ("nll_loss", 300, {"reduction": "sum", "ignore_index": 7}),
}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("case", sorted(_LOSSES))
def test_class_losses_sum_as_torchs(case, dtype, compiled):
    name, batch, kwargs = _LOSSES[case]
    targets = np.arange(batch) % 10

    def fn(lib, x):
        x = x.log_softmax(-1) if name == "nll_loss" else x
        return getattr(lib.nn.functional, name)(x, lib.tensor(targets), **kwargs)
    _check(fn, [_data((batch, 10))], dtype, compiled)
