"""Every check eager code makes, compiled code makes too, with torch's error class.

Integer division by zero raises RuntimeError("ZeroDivisionError"...) in every spelling
(`//`, `%`, fmod, floor_divide, div with a rounding mode, their in-place forms), eagerly and
from compiled code, where the check is one check_range guard in the graph. Embedding and
gather refuse out-of-range indices, convolution and pooling refuse negative padding, a zero
stride or dilation, and narrow refuses a range outside the dim, compiled as eagerly. Where no
check fires, results are torch's.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

A = np.array([7, -7, 7, -7, 0, 1, -1, 100, -100, 5], dtype=np.int64)
B = np.array([2, 2, -2, -2, 3, -3, 1, 7, 7, -1], dtype=np.int64)

# fn(lib, a, b) for integer tensors a, b: every spelling of an integer division
DIVISIONS = {
    "floordiv_op": lambda lib, a, b: a // b,
    "mod_op": lambda lib, a, b: a % b,
    "floor_divide": lambda lib, a, b: lib.floor_divide(a, b),
    "remainder": lambda lib, a, b: lib.remainder(a, b),
    "fmod": lambda lib, a, b: lib.fmod(a, b),
    "div_floor": lambda lib, a, b: lib.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda lib, a, b: a.div(b, rounding_mode="trunc"),
    "rfloordiv": lambda lib, a, b: 7 // b,
    "rmod": lambda lib, a, b: -7 % b,
    "remainder_": lambda lib, a, b: a.clone().remainder_(b),
    "fmod_": lambda lib, a, b: a.clone().fmod_(b),
    "floor_divide_": lambda lib, a, b: a.clone().floor_divide_(b),
    "div_trunc_": lambda lib, a, b: a.clone().div_(b, rounding_mode="trunc"),
    "div_floor_": lambda lib, a, b: a.clone().div_(b, rounding_mode="floor"),
    "ifloordiv": lambda lib, a, b: _augmented(a.clone(), b, "//"),
    "imod": lambda lib, a, b: _augmented(a.clone(), b, "%"),
    "chain": lambda lib, a, b: (a * 3 + 1) // (b * 2) + (a % (b + 0)),
}


def _augmented(x, y, op):
    if op == "//":
        x //= y
    else:
        x %= y
    return x


def _run(fn, args, compiled):
    call = tc.compile(lambda *xs: fn(tc, *xs)) if compiled else (lambda *xs: fn(tc, *xs))
    return call(*[tc.tensor(a) for a in args])


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("dtype", ["int64", "int32"])
@pytest.mark.parametrize("name", sorted(DIVISIONS))
def test_integer_division_is_torchs_and_refuses_zero(name, dtype, mode):
    fn = DIVISIONS[name]
    a, b = A.astype(dtype), B.astype(dtype)
    want = fn(torch, torch.tensor(a), torch.tensor(b)).numpy()
    got = _run(fn, (a, b), mode == "compiled").numpy()
    assert got.dtype == want.dtype and np.array_equal(got, want), \
        f"tracecomp={got} | torch={want}"
    zero = b.copy()
    zero[3] = 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        fn(torch, torch.tensor(a), torch.tensor(zero))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _run(fn, (a, zero), mode == "compiled")


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_integer_division_by_a_zero_number(mode):
    x = np.array([5, -3])
    for fn in (lambda lib, a: a // 0, lambda lib, a: a % 0, lambda lib, a: lib.fmod(a, 0),
               lambda lib, a: lib.div(a, 0, rounding_mode="trunc")):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            fn(torch, torch.tensor(x))
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            _run(fn, (x,), mode == "compiled")


def test_compiled_division_checks_with_one_guard():
    """The check is the check_range guard primitive in the graph, not backend code."""
    compiled = tc.compile(lambda a, b: a // b + a % b)
    compiled(tc.tensor(A), tc.tensor(B))
    text = str(compiled.graphs["forward.optimized"])
    assert "check_range(" in text and "exclude=0" in text, text


def test_uint8_and_float_divisors():
    a, z = np.array([5, 7], np.uint8), np.array([0, 2], np.uint8)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        tc.tensor(a) // tc.tensor(z)
    # a floating result divides by zero without an error: inf and nan, as torch
    for fn in (lambda lib, x, y: x // y, lambda lib, x, y: x % y, lambda lib, x, y: lib.fmod(x, y)):
        args = (np.array([5, 0, -5]), np.array([0.0, 0.0, 0.0], np.float32))
        want = fn(torch, *map(torch.tensor, args)).numpy()
        for compiled in (False, True):
            got = _run(fn, args, compiled).numpy()
            np.testing.assert_array_equal(got, want)


def test_bool_division_is_not_implemented():
    t, f = np.array([True]), np.array([False])
    for fn in (lambda lib, a, b: a // b, lambda lib, a, b: a % b,
               lambda lib, a, b: lib.fmod(a, b),
               lambda lib, a, b: lib.div(a, b, rounding_mode="trunc")):
        with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
            fn(torch, torch.tensor(t), torch.tensor(f))
        with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
            fn(tc, tc.tensor(t), tc.tensor(f))


def test_integer_trunc_division_is_exact():
    a = np.array([2 ** 62 + 1, 16777217, -(2 ** 53) - 1], np.int64)
    b = np.array([1, 1, 1], np.int64)
    want = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode="trunc").numpy()
    for compiled in (False, True):
        got = _run(lambda lib, x, y: lib.div(x, y, rounding_mode="trunc"), (a, b), compiled)
        np.testing.assert_array_equal(got.numpy(), want)


def test_integer_pow_with_negative_exponents():
    a = np.array([2, 3, 1, -1, -1, 0, -2])
    b = np.array([-1, 2, -3, -3, -2, -1, 3])
    want = (torch.tensor(a) ** torch.tensor(b)).numpy()
    for compiled in (False, True):
        np.testing.assert_array_equal(_run(lambda lib, x, y: x ** y, (a, b), compiled).numpy(),
                                      want)
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        tc.tensor(a) ** -1


def test_float_floor_division_values_and_zero_gradient():
    """1 // 0.1 is 9 (floor(1 / 0.1) would be 10); div(rounding_mode='floor') has a zero
    gradient, eagerly and compiled."""
    a, b = np.array([1.0, -2.5, 7.0, 1.0], np.float32), np.array([0.1, 2.0, -3.0, 0.3], np.float32)
    want = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode="floor").numpy()
    for compiled in (False, True):
        x = tc.tensor(a, requires_grad=True)
        fn = lambda x, y: tc.div(x, y, rounding_mode="floor")  # noqa: E731
        out = (tc.compile(fn) if compiled else fn)(x, tc.tensor(b))
        np.testing.assert_array_equal(out.detach().numpy(), want)
        out.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4, np.float32))


# --- indices -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("bad", [-1, 4, 100])
def test_embedding_refuses_out_of_range_indices(bad, mode):
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    idx = np.array([[0, bad], [3, 1]])
    with pytest.raises(IndexError, match="index out of range in self"):
        torch.nn.functional.embedding(torch.tensor(idx), torch.tensor(w))
    with pytest.raises(IndexError, match="index out of range in self"):
        _run(lambda lib, i, w: lib.nn.functional.embedding(i, w), (idx, w), mode == "compiled")
    good = np.array([[0, 2], [3, 1]])
    want = torch.nn.functional.embedding(torch.tensor(good), torch.tensor(w)).numpy()
    got = _run(lambda lib, i, w: lib.nn.functional.embedding(i, w, padding_idx=-1), (good, w),
               mode == "compiled")
    np.testing.assert_array_equal(got.detach().numpy(), want)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("bad", [-1, 4])
def test_gather_refuses_out_of_range_indices(bad, mode):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    idx = np.array([[0, bad]])
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 4"):
        torch.gather(torch.tensor(x), 1, torch.tensor(idx))
    for fn in (lambda lib, x, i: lib.gather(x, 1, i),
               lambda lib, x, i: lib.gather(x * 2, 1, i) + 1):      # inside fused code too
        with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 4"):
            _run(fn, (x, idx), mode == "compiled")


# --- convolution and pooling arguments -------------------------------------------------------
def _F(lib):
    return lib.nn.functional


CONV_ARGS = {
    "conv2d_padding": (lambda lib, x, w: _F(lib).conv2d(x, w, padding=-1),
                       "negative padding is not supported"),
    "conv2d_padding_pair": (lambda lib, x, w: _F(lib).conv2d(x, w, padding=(1, -1)),
                            "negative padding is not supported"),
    "conv2d_stride": (lambda lib, x, w: _F(lib).conv2d(x, w, stride=0),
                      "non-positive stride is not supported"),
    "conv2d_dilation": (lambda lib, x, w: _F(lib).conv2d(x, w, dilation=0),
                        "dilation should be greater than zero"),
    "conv2d_groups": (lambda lib, x, w: _F(lib).conv2d(x, w, groups=0),
                      "non-positive groups is not supported"),
    "conv1d_padding": (lambda lib, x, w: _F(lib).conv1d(x[0], w[0], padding=-2),
                       "negative padding is not supported"),
    "conv1d_stride": (lambda lib, x, w: _F(lib).conv1d(x[0], w[0], stride=-1),
                      "non-positive stride is not supported"),
    "conv1d_dilation": (lambda lib, x, w: _F(lib).conv1d(x[0], w[0], dilation=-1),
                        "dilation should be greater than zero"),
    "conv_transpose2d_padding": (lambda lib, x, w: _F(lib).conv_transpose2d(x, w, padding=-1),
                                 "negative padding is not supported"),
    "conv_transpose2d_output_padding": (
        lambda lib, x, w: _F(lib).conv_transpose2d(x, w, stride=2, output_padding=-1),
        "negative output_padding is not supported"),
    "conv_transpose2d_stride": (lambda lib, x, w: _F(lib).conv_transpose2d(x, w, stride=0),
                                "non-positive stride is not supported"),
    "conv_transpose1d_padding": (
        lambda lib, x, w: _F(lib).conv_transpose1d(x[0], w[0], padding=-1),
        "negative padding is not supported"),
    "unfold_padding": (lambda lib, x, w: _F(lib).unfold(x, 3, padding=-1),
                       "padding should be non-negative"),
    "unfold_stride": (lambda lib, x, w: _F(lib).unfold(x, 3, stride=0),
                      "stride should be greater than zero"),
    "unfold_dilation": (lambda lib, x, w: _F(lib).unfold(x, 3, dilation=0),
                        "dilation should be greater than zero"),
    "fold_padding": (lambda lib, x, w: _F(lib).fold(lib.ones(1, 9, 9), (5, 5), 3, padding=-1),
                     "padding should be non-negative"),
    "max_pool2d_padding": (lambda lib, x, w: _F(lib).max_pool2d(x, 2, padding=-1),
                           "pad must be non-negative"),
    "max_pool2d_stride": (lambda lib, x, w: _F(lib).max_pool2d(x, 2, stride=-1),
                          "stride should be greater than zero"),
    "max_pool2d_dilation": (lambda lib, x, w: _F(lib).max_pool2d(x, 2, dilation=0),
                            "dilation should be greater than zero"),
    "avg_pool2d_padding": (lambda lib, x, w: _F(lib).avg_pool2d(x, 2, padding=-1),
                           "pad must be non-negative"),
}


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("name", sorted(CONV_ARGS))
def test_convolution_and_pooling_refuse_bad_arguments(name, mode):
    fn, message = CONV_ARGS[name]
    x = np.ones((1, 1, 5, 5), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match=message):
        fn(torch, torch.tensor(x), torch.tensor(w))
    with pytest.raises(RuntimeError, match=message):
        _run(fn, (x, w), mode == "compiled")


# --- narrow --------------------------------------------------------------------------------
NARROW = [((0, 3, 4), RuntimeError, r"start \(3\) \+ length \(4\) exceeds dimension size \(5\)"),
          ((0, 3, -1), RuntimeError, r"narrow\(\): length must be non-negative"),
          ((0, 6, 0), IndexError, r"start out of range \(expected to be in range of \[-5, 5\]"),
          ((-1, -6, 1), IndexError, r"start out of range")]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("args, kind, message", NARROW)
def test_narrow_refuses_ranges_outside_the_dim(args, kind, message, mode):
    x = np.arange(5)
    with pytest.raises(kind, match=message):
        torch.tensor(x).narrow(*args)
    with pytest.raises(kind, match=message):
        _run(lambda lib, t: t.narrow(*args), (x,), mode == "compiled")
    for ok in ((0, 5, 0), (0, -5, 5), (0, -2, 2), (0, 1, 3)):
        got = _run(lambda lib, t, ok=ok: t.narrow(*ok), (x,), mode == "compiled").numpy()
        np.testing.assert_array_equal(got, torch.tensor(x).narrow(*ok).numpy())


UNFOLD = [((0, 6, 1), RuntimeError, r"maximum size for tensor at dimension 0 is 5 but size is 6"),
          ((0, 2, 0), RuntimeError, r"step is 0 but must be > 0"),
          ((0, -1, 1), RuntimeError, r"size is -1 but must be >= 0"),
          ((1, 2, 1), IndexError, r"Dimension out of range")]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("args, kind, message", UNFOLD)
def test_tensor_unfold_refuses_bad_windows(args, kind, message, mode):
    x = np.arange(5.0)
    with pytest.raises(kind, match=message):
        torch.tensor(x).unfold(*args)
    with pytest.raises(kind, match=message):
        _run(lambda lib, t: t.unfold(*args), (x,), mode == "compiled")


# --- gradients of the ops whose special values changed ---------------------------------------
GRADS = {
    "clamp_min_gt_max": lambda lib, x, y: lib.clamp(x, min=0.5, max=-0.5),
    "clamp_tensor_bounds": lambda lib, x, y: lib.clamp(x, min=y, max=y + 0.5),
    "hardtanh": lambda lib, x, y: lib.nn.functional.hardtanh(x, -1.0, 1.0),
    "lerp_weights": lambda lib, x, y: lib.lerp(x, y, 0.7) + lib.lerp(x, y, 0.2)
    + lib.lerp(x, y, y),
    "xlogy": lambda lib, x, y: lib.xlogy(x, y.abs() + 0.5) + lib.xlogy(x * 0, y),
    "remainder": lambda lib, x, y: x % (y.abs() + 0.5),
}


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_torch(name, mode):
    fn = GRADS[name]
    x = np.array([-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 1.7], np.float64)
    y = np.array([0.5, -1.5, 0.2, -0.4, 0.8, 0.9, -0.2], np.float64)
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (x, y))
    fn(torch, tx, ty).sum().backward()
    cx, cy = (tc.tensor(v, requires_grad=True) for v in (x, y))
    call = tc.compile(lambda a, b: fn(tc, a, b).sum()) if mode == "compiled" else \
        (lambda a, b: fn(tc, a, b).sum())
    call(cx, cy).backward()
    for ours, theirs in ((cx, tx), (cy, ty)):
        got = np.zeros_like(x) if ours.grad is None else ours.grad.numpy()
        want = np.zeros_like(x) if theirs.grad is None else theirs.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
