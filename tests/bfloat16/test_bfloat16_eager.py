"""bfloat16 tensors against torch 2.13: dtype rules, creation, printing, finfo, save/load,
and numerics. torch's CPU kernels compute a bfloat16 op in float32 and round once; where
torch's result is deterministic the comparison is bit for bit (max_ulps=0), and the tests
that allow 1 ulp say why."""
import io

import numpy as np
import pytest
import torch
from bf16_helpers import assert_same, bits, tc_of

import tracecomp as tc


def _pair(*shape, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(*shape, generator=g) * scale).bfloat16()
    return tc_of(t), t


UNARY = ["exp", "log1p", "tanh", "sigmoid", "sqrt", "abs", "neg", "sin", "relu", "floor",
         "reciprocal", "rsqrt"]


@pytest.mark.parametrize("op", UNARY)
def test_unary_ops_round_once_like_torch(op):
    # one float32 op rounded once: bit for bit, up to 1 ulp where torch's vectorized
    # transcendental (Sleef) and numpy's differ in float32's last bit at a rounding tie
    x, t = _pair(64)
    if op in ("sqrt", "log1p", "rsqrt", "reciprocal"):
        x, t = tc.abs(x), torch.abs(t)
    exact = op in ("abs", "neg", "relu", "floor", "sqrt")
    assert_same(getattr(x, op)(), getattr(t, op)(), 0 if exact else 1)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "pow"])
def test_binary_ops_and_python_scalars_bit_for_bit(op):
    (x, t), (y, u) = _pair(5, 7), _pair(5, 7, seed=1)
    if op == "pow":
        x, t = tc.abs(x), torch.abs(t)
    assert_same(getattr(tc, op)(x, y), getattr(torch, op)(t, u))
    if op != "maximum":     # (torch.maximum takes tensors only)
        # a Python float stays unrounded (torch's opmath scalar): 0.1 is not a bf16 value
        assert_same(getattr(tc, op)(x, 0.1), getattr(torch, op)(t, 0.1))


def test_promotion_as_torch():
    b, h = tc.ones(2, dtype=tc.bfloat16), tc.ones(2, dtype=tc.float16)
    assert (b + h).dtype is tc.float32                        # torch: Half + BFloat16 -> Float
    assert (b + 1.5).dtype is tc.bfloat16 and (b + 2).dtype is tc.bfloat16
    assert (b + tc.tensor(1.5)).dtype is tc.bfloat16         # a 0-d float32 does not widen
    assert (b + tc.ones(2)).dtype is tc.float32
    assert (tc.ones(2, dtype=tc.int64) + b).dtype is tc.bfloat16
    assert tc.promote_types(tc.bfloat16, tc.float16) is tc.float32
    assert tc.promote_types(tc.bfloat16, tc.int32) is tc.bfloat16
    assert torch.promote_types(torch.bfloat16, torch.float16) is torch.float32
    assert b.is_floating_point() and tc.is_floating_point(b) and b.element_size() == 2


def test_reductions_accumulate_in_float32():
    x, t = _pair(1000, scale=1.0)
    x, t = x + 1.0, t + 1.0          # sums far past bf16's 8 bits: a bf16 accumulator drifts
    # one float32 sum rounded once; torch's sum order differs from numpy's: 1 ulp
    assert_same(x.sum(), t.sum(), 1)
    assert_same(x.mean(), t.mean(), 1)
    m, u = _pair(6, 40)
    assert_same(m.sum(1), u.sum(1), 1)
    assert_same(m.mean(0), u.mean(0), 1)
    assert_same(m.var(1), u.var(1), 1)
    assert_same(m.amax(1), u.amax(1))


def test_matmul_and_linear_accumulate_in_float32():
    (a, t), (b, u) = _pair(8, 64, scale=1.0), _pair(64, 5, scale=1.0, seed=1)
    # float32 accumulation rounded once; BLAS orders differ: 1 ulp
    assert_same(a @ b, t @ u, 1)
    (w, tw), (bias, tb) = _pair(5, 64, seed=2), _pair(5, seed=3)
    assert_same(tc.nn.functional.linear(a, w, bias), torch.nn.functional.linear(t, tw, tb), 1)


def test_softmax_log_softmax_layer_norm_bit_for_bit():
    x, t = _pair(30, 9)
    assert_same(tc.softmax(x, -1), torch.softmax(t, -1))
    assert_same(tc.log_softmax(x, 1), torch.log_softmax(t, 1))     # bf16 row sums, as torch
    assert_same(tc.nn.functional.layer_norm(x, (9,)), torch.nn.functional.layer_norm(t, (9,)))


def test_conv2d_rounds_once_with_its_bias():
    (x, t), (w, tw), (b, tb) = _pair(2, 3, 7, 7), _pair(4, 3, 3, 3, seed=1), _pair(4, seed=2)
    assert_same(tc.nn.functional.conv2d(x, w, b), torch.nn.functional.conv2d(t, tw, tb))


def test_creation_ops_and_conversions():
    for name, args in [("zeros", (2, 3)), ("ones", (4,)), ("arange", (5,)), ("eye", (3,))]:
        assert_same(getattr(tc, name)(*args, dtype=tc.bfloat16),
                    getattr(torch, name)(*args, dtype=torch.bfloat16))
    assert_same(tc.full((3,), 1.1, dtype=tc.bfloat16), torch.full((3,), 1.1, dtype=torch.bfloat16))
    assert_same(tc.tensor([0.1, 1e38, -3.3], dtype=tc.bfloat16),
                torch.tensor([0.1, 1e38, -3.3], dtype=torch.bfloat16))
    assert tc.randn(3, dtype=tc.bfloat16).dtype is tc.bfloat16
    f = torch.tensor([1.00390625, 1.01171875, -2.5, 65504.0, 3e38])   # ties round to even
    assert_same(tc_of(f).bfloat16(), f.bfloat16())
    assert_same(tc_of(f).to(tc.bfloat16), f.to(torch.bfloat16))
    assert_same(tc_of(f).bfloat16().float(), f.bfloat16().float())
    assert tc_of(f).bfloat16().tolist() == f.bfloat16().tolist()
    assert tc_of(f[:1]).bfloat16().item() == f[:1].bfloat16().item()


def test_printing_as_torch():
    t = torch.tensor([1.1, 2.5, -3.75]).bfloat16()
    assert repr(tc_of(t)).replace("tracecomp", "torch") == repr(t)
    assert repr(tc.bfloat16) == "tracecomp.bfloat16" and str(tc.bfloat16.itemsize) == "2"


def test_finfo():
    got, want = tc.finfo(tc.bfloat16), torch.finfo(torch.bfloat16)
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(got, field) == getattr(want, field), field


def test_module_to_bfloat16_and_back():
    m = tc.nn.Linear(3, 2)
    assert m.bfloat16().weight.dtype is tc.bfloat16
    assert m.to(tc.float32).weight.dtype is tc.float32
    assert m.to(tc.bfloat16).bias.dtype is tc.bfloat16


def test_save_load_and_torch_checkpoints():
    torch.manual_seed(0)
    tm = torch.nn.Linear(4, 3).bfloat16()
    buf = io.BytesIO()
    torch.save(tm.state_dict(), buf)
    buf.seek(0)
    loaded = tc.load(buf)
    for k, v in tm.state_dict().items():
        assert_same(loaded[k], v)
    buf = io.BytesIO()
    tc.save(loaded, buf)
    buf.seek(0)
    again = tc.load(buf)
    for k, v in tm.state_dict().items():
        assert_same(again[k], v)


def test_inplace_update_rounds_once():
    (x, t), (y, u) = _pair(40), _pair(40, seed=1)
    x.mul_(0.9).add_(y, alpha=-0.1)
    t.mul_(0.9).add_(u, alpha=-0.1)
    # 40 elements: torch's 32-wide vector loop rounds once; its scalar tail rounds
    # alpha * other to bf16 first, so up to 1 ulp there
    assert_same(x, t, 1)
    assert np.array_equal(bits(x)[:32], bits(t)[:32])


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_autograd_gradients_in_bfloat16(act):
    (x, t), (w, tw) = _pair(6, 5), _pair(5, 4, seed=1)
    w.requires_grad_()
    tw.requires_grad_()
    y = torch.tensor([0, 3, 1, 2, 2, 0])
    loss_tc = tc.nn.functional.cross_entropy(getattr(tc, act)(x @ w), tc.tensor(y.numpy()))
    loss_t = torch.nn.functional.cross_entropy(getattr(torch, act)(t @ tw), y)
    assert_same(loss_tc, loss_t, 1)
    loss_tc.backward()
    loss_t.backward()
    assert w.grad.dtype is tc.bfloat16
    # bit for bit: tanh's and sigmoid's VJPs round once, as torch's backward kernels
    assert_same(w.grad, tw.grad)


def test_conversions_round_through_float32_as_torch():
    # torch makes a bfloat16 from a float: a double (or int64) is rounded twice, so
    # 1 + 2**-8 + 2**-30 becomes 1.0 where one rounding would give 1.0078125
    v = [1 + 2 ** -8 + 2 ** -30, 3e38, 1e-40, float("inf"), -0.0, 2 ** 24 + 2 ** 16 + 1]
    assert_same(tc.tensor(v, dtype=tc.bfloat16), torch.tensor(v, dtype=torch.bfloat16))
    assert_same(tc.tensor(v, dtype=tc.float64).bfloat16(),
                torch.tensor(v, dtype=torch.float64).bfloat16())
    ints = [2 ** 24 + 2 ** 16 + 1, -(2 ** 40 + 2 ** 32 + 3), 7]
    assert_same(tc.tensor(ints).to(tc.bfloat16), torch.tensor(ints).to(torch.bfloat16))
    assert_same(tc.full((2,), v[0], dtype=tc.bfloat16),
                torch.full((2,), v[0], dtype=torch.bfloat16))
    nan = tc.tensor([float("nan")], dtype=tc.bfloat16)
    assert bool(tc.isnan(nan).all())


def test_legacy_type_names():
    x = tc.ones(2, dtype=tc.bfloat16)
    assert x.type() == torch.ones(2, dtype=torch.bfloat16).type() == "torch.BFloat16Tensor"
    assert tc.ones(2).type("torch.BFloat16Tensor").dtype is tc.bfloat16
    assert isinstance(x, tc.BFloat16Tensor)


def test_set_default_dtype_bfloat16():
    try:
        tc.set_default_dtype(tc.bfloat16)
        torch.set_default_dtype(torch.bfloat16)
        assert_same(tc.tensor([1.1, 2.2]), torch.tensor([1.1, 2.2]))
        assert_same(tc.ones(2) / 3, torch.ones(2) / 3)
    finally:
        tc.set_default_dtype(tc.float32)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("case", ["linear", "conv2d"])
def test_mixed_bfloat16_float32_weights_are_refused_as_torch(case):
    for lib in (torch, tc):
        F = lib.nn.functional
        x = lib.ones(1, 2, 5, 5, dtype=lib.bfloat16) if case == "conv2d" else \
            lib.ones(2, 3, dtype=lib.bfloat16)
        w = lib.ones(3, 2, 3, 3) if case == "conv2d" else lib.ones(4, 3)
        with pytest.raises(RuntimeError):
            getattr(F, case)(x, w)


def test_layer_norm_takes_float32_weights_and_mean_takes_a_dtype():
    t = torch.randn(4, 6).bfloat16()
    x = tc_of(t)
    w = torch.randn(6)
    assert_same(tc.nn.functional.layer_norm(x, (6,), tc_of(w)),
                torch.nn.functional.layer_norm(t, (6,), w))
    assert_same(x.mean(dtype=tc.float32), t.mean(dtype=torch.float32))
    assert_same(x.sum(1, dtype=tc.float32), t.sum(1, dtype=torch.float32))
