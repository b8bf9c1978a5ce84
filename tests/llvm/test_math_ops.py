"""Elementwise math of issue 9 beyond the op table: the accuracy of the new mathlib
functions (sinh, cosh, asinh, acosh, atanh, erfinv) and that their loops vectorize with no
libm call, special values (eager and compiled), torch's errors and dtype rules, and meshgrid.

Values and gradients on ordinary inputs are in the op table (tests/op_table.py, eager vs
torch and compiled interp/llvm vs eager); this file holds what a table row cannot say.
"""
import ctypes
import functools
import math
import platform
import re
import warnings

import llvmlite.binding as llvm
import mpmath
import numpy as np
import pytest
import scipy.special
import torch
from test_llvm_math import _add_map_kernel, _kernel_asm, check_ulp, sample

import tracecomp as tc
from tracecomp.codegen.llvm.lower import mathlib
from tracecomp.codegen.llvm.runtime import engine

from helpers import assert_close

# name -> (float32 bound, float64 bound or None), as mathlib's docstring states
BOUNDS = {"sinh": (2.0, 1.5), "cosh": (1.5, 1.5), "asinh": (3.0, 2.5), "acosh": (3.5, 3.0),
          "atanh": (3.0, 2.5), "erfinv": (0.5, None)}
RANGES = {"sinh": (-95, 95), "cosh": (-95, 95), "asinh": (-3e38, 3e38), "acosh": (1, 3e38),
          "atanh": (-1, 1), "erfinv": (-1, 1)}
NUMPY_REF = {"sinh": np.sinh, "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh,
             "atanh": np.arctanh,
             "erfinv": lambda x: np.copysign(scipy.special.erfinv(x), x)}  # odd: erfinv(-0) = -0
MPMATH_REF = {"sinh": mpmath.sinh, "cosh": mpmath.cosh, "asinh": mpmath.asinh,
              "acosh": mpmath.acosh, "atanh": mpmath.atanh}


@functools.cache
def _library(dtype):
    from llvmlite import ir
    ty = ir.FloatType() if dtype == "f32" else ir.DoubleType()
    names = [n for n in BOUNDS if dtype == "f32" or BOUNDS[n][1] is not None]
    module = engine.new_module(f"math9_{dtype}")
    for name in names:
        _add_map_kernel(module, f"k_{name}", mathlib.get(module, name, ty), ty, 1)
    return engine.compile_module(module, [f"k_{n}" for n in names])


def _run(name, dtype, x):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    fn = _library(dtype).cfunc(f"k_{name}", None, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_int64)
    fn(x.ctypes.data, out.ctypes.data, out.size)
    return out


def _reference(name, dtype, x):
    if dtype == "f32":
        with np.errstate(all="ignore"):
            return NUMPY_REF[name](x.astype(np.float64)), np.zeros(x.size)
    hi, lo = np.empty(x.size), np.zeros(x.size)
    with mpmath.workdps(40):
        for i, v in enumerate(x.tolist()):
            exact = MPMATH_REF[name](mpmath.mpf(v))
            hi[i] = float(exact)
            if np.isfinite(hi[i]):
                lo[i] = float(exact - mpmath.mpf(hi[i]))
    return hi, lo


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_mathlib_accuracy(name, dtype):
    column = 0 if dtype == "f32" else 1
    if BOUNDS[name][column] is None:
        pytest.skip(f"{name} has a float32 lowering only")
    np_dtype = np.float32 if dtype == "f32" else np.float64
    lo, hi = RANGES[name]
    x = sample(np_dtype, lo, hi, 60_000 if dtype == "f32" else 400, seed=len(name))
    if name in ("sinh", "cosh"):            # around float32's and float64's overflow
        edge = 89.4159 if dtype == "f32" else 710.4758
        x = np.concatenate([x, np.linspace(edge - 0.2, edge + 0.2, 201, dtype=np_dtype),
                            -np.linspace(edge - 0.2, edge + 0.2, 201, dtype=np_dtype)])
    if name in ("atanh", "erfinv", "acosh"):   # near the poles and the branch point
        near = 10.0 ** np.linspace(-15 if dtype == "f64" else -7, 0, 300)
        x = np.concatenate([x, (1 - near if name != "acosh" else 1 + near).astype(np_dtype)])
    check_ulp(name, dtype, x, _run(name, dtype, x), *_reference(name, dtype, x),
              BOUNDS[name][column])


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1.5, -1.5, 1e-45, -1e-40, 3e38,
            -3e38, 89.4, 89.5, -89.5]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_mathlib_special_values(name, dtype):
    if dtype == "f64" and BOUNDS[name][1] is None:
        pytest.skip(f"{name} has a float32 lowering only")
    np_dtype = np.float32 if dtype == "f32" else np.float64
    with np.errstate(all="ignore"):
        x = np.array(SPECIALS, dtype=np_dtype)
        want = NUMPY_REF[name](x.astype(np.float64)).astype(np_dtype)
    got = _run(name, dtype, x)
    for xi, g, w in zip(x, got, want):
        same = (np.isnan(g) and np.isnan(w)) or (g == w and np.signbit(g) == np.signbit(w))
        if not np.isfinite(w) or w == 0 or not np.isfinite(g) or g == 0:
            assert same, f"{name} {dtype}({xi!r}): tracecomp={g!r} | numpy={w!r}"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64")
                    or not llvm.get_host_cpu_features().get("avx"), reason="x86 AVX assembly")
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_mathlib_loops_vectorize_without_libm_calls(dtype):
    asm = _library(dtype).asm
    for name in BOUNDS:
        if dtype == "f64" and BOUNDS[name][1] is None:
            continue
        body = _kernel_asm(asm, f"k_{name}")
        jumps = re.findall(r"^\s*(?:call|jmp)\w*\s+(\S+)", body, re.MULTILINE)
        calls = [target for target in jumps if not target.startswith(".L")]
        assert not calls, f"{name} {dtype}: the loop calls {calls}"
        assert re.search(r"%[yz]mm", body), f"{name} {dtype}: no ymm/zmm code; not vectorized"


# --- special values through the public ops, eager and compiled ---------------------------
def _both(fn, *arrays):
    """fn's result eagerly, through the llvm backend, and torch's."""
    eager = fn(tc, *[tc.tensor(a) for a in arrays])
    compiled = tc.compile(lambda *xs: fn(tc, *xs), backend="llvm")(
        *[tc.tensor(a) for a in arrays])
    want = fn(torch, *[torch.tensor(a) for a in arrays])
    return eager, compiled, want


INF, NAN = math.inf, math.nan
SPECIAL_CASES = {
    # the reported bug: fmod was remainder (fmod(-3, 2) gave 1)
    "fmod": (lambda lib, a, b: lib.fmod(a, b),
             [[-3.0, 3.0, -7.5, 5.0, INF, 1.0], [2.0, -2.0, 2.0, INF, 2.0, 0.0]]),
    "fmod_int": (lambda lib, a, b: lib.fmod(a, b),
                 [np.array([-7, 7, -7, 5]), np.array([2, -2, 3, 5])]),
    "sinh_overflow": (lambda lib, x: (lib.sinh(x), lib.cosh(x)),
                      [[89.0, -89.0, 89.5, 1e-30, -0.0, INF, NAN]]),
    "inverse_hyperbolic": (lambda lib, x: (lib.asinh(x), lib.atanh(x / 2e38), lib.acosh(x)),
                           [[0.0, -0.0, 1.0, 2.0, 1e30, -1e30, INF, NAN, 0.5]]),
    "logaddexp": (lambda lib, a, b: (lib.logaddexp(a, b), lib.logaddexp2(a, b)),
                  [[-INF, INF, -INF, 1000.0, NAN, 0.0], [-INF, INF, 3.0, 1000.0, 1.0, -INF]]),
    "xlogy": (lambda lib, a, b: lib.xlogy(a, b),
              [[0.0, 0.0, 0.0, 2.0, 0.0], [0.0, NAN, INF, 0.0, -1.0]]),
    "nan_to_num": (lambda lib, x: (lib.nan_to_num(x), lib.nan_to_num(x, 1.0, 2.0, -2.0)),
                   [[NAN, INF, -INF, 1.5]]),
    "isclose_inf": (lambda lib, a, b: lib.isclose(a, b, equal_nan=True),
                    [[INF, -INF, INF, NAN, 1.0], [INF, -INF, -INF, NAN, 1.0 + 1e-7]]),
    "sinc": (lambda lib, x: lib.sinc(x), [[0.0, 1.0, -0.5, 1e-20, INF]]),
    # erfc(10) is subnormal in float32: C's erfcf is off by a subnormal step or two there
    "erfc_tail": (lambda lib, x: (lib.erfc(x), lib.erfinv(x / 10)),
                  [[5.0, 9.0, 10.0, -10.0, 0.0, 10.0]], 3e-45),
    "lgamma_poles": (lambda lib, x: lib.lgamma(x), [[0.0, -1.0, -2.5, 1.0, 2.0, INF, -INF]]),
    "hypot": (lambda lib, a, b: lib.hypot(a, b),
              [[3e38, INF, NAN, 3.0, 0.0], [3e38, NAN, INF, 4.0, -0.0]]),
    "fmax_nan": (lambda lib, a, b: (lib.fmax(a, b), lib.fmin(a, b)),
                 [[NAN, 1.0, NAN, 2.0], [1.0, NAN, NAN, -2.0]]),
    "copysign_zero": (lambda lib, a, b: lib.copysign(a, b), [[1.0, 2.0, 0.0], [-0.0, 0.0, -1.0]]),
    "log2_exact": (lambda lib, x: (lib.log2(x), lib.log10(x), lib.exp2(lib.log2(x))),
                   [[1.0, 8.0, 1024.0, 100.0, 1000.0, 0.0]]),
}


@pytest.mark.parametrize("name", sorted(SPECIAL_CASES))
def test_special_values_eager_compiled_and_torch(name):
    fn, data, *atol = SPECIAL_CASES[name]
    atol = atol[0] if atol else 0
    arrays = [np.asarray(d) if isinstance(d, np.ndarray) else np.asarray(d, np.float32)
              for d in data]
    with np.errstate(all="ignore"):
        eager, compiled, want = _both(fn, *arrays)
    eager, compiled, want = ([v] if not isinstance(v, tuple) else list(v)
                             for v in (eager, compiled, want))
    for i, (e, c, w) in enumerate(zip(eager, compiled, want)):
        assert_close(e, w, 2e-6, atol, what=f"{name} eager output {i}")
        assert_close(c, w, 2e-6, atol, what=f"{name} compiled output {i}")


def test_sinc_gradient_at_zero_is_zero_as_torch():
    x = tc.tensor([0.0, 0.5], requires_grad=True)
    tc.sinc(x).sum().backward()
    xt = torch.tensor([0.0, 0.5], requires_grad=True)
    torch.sinc(xt).sum().backward()
    assert_close(x.grad, xt.grad)


def test_higher_order_gradients_of_lgamma():
    """lgamma -> digamma -> polygamma(1) -> polygamma(2): each VJP is the next op."""
    x = tc.tensor([0.7, 2.5], dtype=tc.float64, requires_grad=True)
    (g1,) = tc.autograd.grad(tc.lgamma(x).sum(), x, create_graph=True)
    (g2,) = tc.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = tc.autograd.grad(g2.sum(), x)
    v = np.array([0.7, 2.5])
    for got, n in ((g1, 0), (g2, 1), (g3, 2)):
        assert_close(got, scipy.special.polygamma(n, v), 1e-12, 0, what=f"polygamma({n})")


# --- errors and dtype rules, as torch's CPU build -----------------------------------------
ERRORS = [
    (lambda lib: lib.hypot(lib.tensor([1, 2]), lib.tensor([1, 2])), NotImplementedError,
     "\"hypot_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.frac(lib.tensor([1, 2])), NotImplementedError,
     "\"frac_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.logaddexp(lib.tensor([1]), lib.tensor([2])), NotImplementedError,
     "\"logaddexp_cpu\" not implemented for 'Long'"),
    (lambda lib: lib.fmod(lib.tensor([1, 2]), 0), RuntimeError, "ZeroDivisionError"),
    (lambda lib: lib.isclose(lib.tensor([1]), lib.tensor([1.0])), RuntimeError,
     "Long did not match Float"),
    (lambda lib: lib.isclose(lib.tensor([1.0]), lib.tensor([1.0]), rtol=-1), RuntimeError,
     "rtol must be greater than or equal to zero, but got -1"),
    (lambda lib: lib.heaviside(lib.tensor([1.0]), lib.tensor([1.0], dtype=lib.float64)),
     RuntimeError, "heaviside is not yet implemented for tensors with different dtypes."),
    (lambda lib: lib.heaviside(lib.tensor([1.0]), 0.5), TypeError,
     "heaviside(): argument 'values' (position 2) must be Tensor, not float"),
    (lambda lib: lib.logaddexp(lib.tensor([1.0]), 1.0), TypeError,
     "logaddexp(): argument 'other' (position 2) must be Tensor, not float"),
    (lambda lib: lib.fmax(lib.tensor([1.0]), 1), TypeError,
     "fmax(): argument 'other' (position 2) must be Tensor, not int"),
    (lambda lib: lib.atan2(lib.tensor([1.0]), 2.0), TypeError,
     "atan2(): argument 'other' (position 2) must be Tensor, not float"),
    (lambda lib: lib.hypot(lib.tensor([1.0]), 2), TypeError,
     "hypot(): argument 'other' (position 2) must be Tensor, not int"),
    (lambda lib: lib.polygamma(-1, lib.tensor([1.0])), RuntimeError,
     "polygamma(n, x) does not support negative n."),
    (lambda lib: lib.positive(lib.tensor([True])), RuntimeError,
     "The `+` operator, on a bool tensor is not supported."),
    (lambda lib: lib.tensor([1.0]).float_power_(2), RuntimeError,
     "the base given to float_power_ has dtype Float but the operation's result requires "
     "dtype Double"),
    (lambda lib: lib.tensor([1, 2]).sinh_(), RuntimeError, "can't be cast to the desired output"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors_match_torch(k):
    fn, kind, message = ERRORS[k]
    with pytest.raises(kind, match=re.escape(message)):
        fn(torch)
    with pytest.raises(kind, match=re.escape(message)):
        fn(tc)


DTYPE_RULES = [
    lambda lib, i, f, b: lib.tan(i), lambda lib, i, f, b: lib.sinh(b),
    lambda lib, i, f, b: lib.fmod(i, 2), lambda lib, i, f, b: lib.fmod(i, 2.5),
    lambda lib, i, f, b: lib.atan2(i, i), lambda lib, i, f, b: lib.copysign(i, -1),
    lambda lib, i, f, b: lib.copysign(b, b), lambda lib, i, f, b: lib.xlogy(i, i),
    lambda lib, i, f, b: lib.logit(i), lambda lib, i, f, b: lib.deg2rad(b),
    lambda lib, i, f, b: lib.heaviside(i, lib.tensor(1)), lambda lib, i, f, b: lib.nan_to_num(i),
    lambda lib, i, f, b: lib.float_power(i, 2), lambda lib, i, f, b: lib.fmax(i, f),
    lambda lib, i, f, b: lib.fmin(b, b), lambda lib, i, f, b: lib.isclose(i, i),
    lambda lib, i, f, b: lib.sinc(b), lambda lib, i, f, b: lib.sgn(i),
    lambda lib, i, f, b: lib.lgamma(b), lambda lib, i, f, b: lib.erfinv(i),
    lambda lib, i, f, b: lib.exp2(i), lambda lib, i, f, b: lib.log10(i),
    lambda lib, i, f, b: lib.clamp_min(i, 1.5), lambda lib, i, f, b: lib.polygamma(1, b),
    lambda lib, i, f, b: lib.signbit(i), lambda lib, i, f, b: lib.erfc(i),
]


@pytest.mark.parametrize("k", range(len(DTYPE_RULES)))
def test_dtype_rules_match_torch(k):
    def args(lib):
        return lib.tensor([1, 2, -3]), lib.tensor([1.0, -2.0, 3.0]), lib.tensor([True, False,
                                                                                True])
    with np.errstate(all="ignore"):
        got = DTYPE_RULES[k](tc, *args(tc))
    want = DTYPE_RULES[k](torch, *args(torch))
    assert_close(got, want, 1e-6, 1e-7, what=f"rule {k}")


# --- meshgrid --------------------------------------------------------------------------------
def test_meshgrid_warns_like_torch_without_indexing():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a, b = tc.meshgrid(tc.tensor([1, 2]), tc.tensor([3, 4, 5]))
    assert any("required to pass the indexing argument" in str(w.message) for w in caught)
    assert tuple(a.shape) == (2, 3) and tuple(b.shape) == (2, 3)
    assert a.tolist() == [[1, 1, 1], [2, 2, 2]] and b.tolist() == [[3, 4, 5], [3, 4, 5]]


@pytest.mark.parametrize("call, message", [
    (lambda lib: lib.meshgrid(lib.ones(2, 2), indexing="ij"), "Expected 0D or 1D tensor"),
    (lambda lib: lib.meshgrid(lib.tensor([1]), lib.tensor([1.0]), indexing="ij"),
     "meshgrid expects all tensors to have the same dtype"),
    (lambda lib: lib.meshgrid(lib.tensor([1]), indexing="foo"),
     'torch.meshgrid: indexing must be one of "xy" or "ij", but received: foo'),
    (lambda lib: lib.meshgrid(indexing="ij"), "meshgrid expects a non-empty TensorList"),
])
def test_meshgrid_errors(call, message):
    with pytest.raises(RuntimeError, match=re.escape(message)):
        call(torch)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        call(tc)


def test_special_namespace():
    x = np.array([-2.0, -0.5, 0.0, 0.3, 4.0], np.float32)
    for name in ("expit", "gammaln", "psi", "ndtr", "erfc", "entr", "sinc", "exp2", "logit"):
        with np.errstate(all="ignore"):
            got = getattr(tc.special, name)(tc.tensor(x))
        want = getattr(torch.special, name)(torch.tensor(x))
        assert_close(got, want, 1e-5, 1e-6, what=f"special.{name}")
    got = tc.special.xlog1py(tc.tensor(x), tc.tensor(x + 1))
    assert_close(got, torch.special.xlog1py(torch.tensor(x), torch.tensor(x + 1)), 1e-5, 1e-6)
