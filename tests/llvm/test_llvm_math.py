"""The LLVM engine and the vectorizable math library (codegen/llvm/{engine,mathlib}.py).

Every mathlib function runs inside an elementwise loop kernel compiled by the engine, the way
generated code uses it, and is checked three ways:
- accuracy: float32 against numpy/scipy in float64 on ~10^5 points per function, float64
  against mpmath (as a double-double) on ~10^3 points; the bounds (ulp of the exact value,
  subnormal ulp below the normal range) are the ones mathlib's docstring states;
- special values exactly: NaN, +-inf, +-0 (with sign), overflow and underflow;
- code: the optimized loop calls no libm function and is vectorized.
And the engine: addresses outlive their Python references while the Library lives, objects
round-trip through emit_object/load_object.
"""
import ctypes
import functools
import gc
import platform
import re

import llvmlite.binding as llvm
import mpmath
import numpy as np
import pytest
import scipy.special
from llvmlite import ir

from tracecomp.codegen.llvm.lower import mathlib
from tracecomp.codegen.llvm.runtime import engine

DTYPES = {"f32": (np.float32, ir.FloatType()), "f64": (np.float64, ir.DoubleType())}
UNARY = ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "erf", "rsqrt", "sqrt", "abs",
         "fabs", "floor", "ceil", "trunc", "round", "rint"]
BINARY = ["copysign", "minimum", "maximum", "fmin", "fmax"]

# max error in ulp: (float32, float64); mirrors mathlib's docstring
BOUNDS = {"exp": (1.1, 1.5), "expm1": (1.5, 2.0), "log": (1.0, 1.0), "log1p": (2.5, 2.5),
          "tanh": (2.5, 3.0), "sigmoid": (2.5, 2.5), "erf": (7.5, 3.0)}
RANGES = {  # (float32, float64) input ranges: beyond overflow and underflow where they exist
    "exp": ((-110, 95), (-760, 720)), "expm1": ((-50, 95), (-50, 720)),
    "log": ((0, 3e38), (0, 1e308)), "log1p": ((-1, 3e38), (-1, 1e308)),
    "tanh": ((-30, 30), (-30, 30)), "sigmoid": ((-120, 100), (-760, 760)),
    "erf": ((-8, 8), (-8, 8)),
}
NUMPY_REF = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p,
             "tanh": np.tanh, "sigmoid": scipy.special.expit, "erf": scipy.special.erf}
MPMATH_REF = {"exp": mpmath.exp, "expm1": mpmath.expm1, "log": mpmath.log,
              "log1p": mpmath.log1p, "tanh": mpmath.tanh, "erf": mpmath.erf,
              "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v))}


def _add_map_kernel(module, name, fn, ty, arity):
    """void name(ptr in_0, ..., ptr out, i64 n): out[i] = fn(in_0[i], ...)."""
    ptr, i64 = ir.PointerType(), ir.IntType(64)
    kernel = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr] * (arity + 1) + [i64]),
                         name=name)
    *srcs, dst, n = kernel.args
    for arg in (*srcs, dst):
        arg.add_attribute("noalias")
    entry, body, done = (kernel.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    xs = [b.load(b.gep(src, [i], inbounds=True, source_etype=ty), typ=ty) for src in srcs]
    b.store(b.call(fn, xs), b.gep(dst, [i], inbounds=True, source_etype=ty))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()


@functools.cache
def _library(dtype):
    """One compiled library per dtype with a kernel `k_<name>` per mathlib function."""
    ty = DTYPES[dtype][1]
    module = engine.new_module(f"mathtest_{dtype}")
    for name in UNARY + BINARY:
        _add_map_kernel(module, f"k_{name}", mathlib.get(module, name, ty), ty,
                        2 if name in BINARY else 1)
    return engine.compile_module(module, [f"k_{name}" for name in UNARY + BINARY])


def run(name, dtype, *xs):
    np_dtype = DTYPES[dtype][0]
    xs = [np.ascontiguousarray(x, dtype=np_dtype) for x in xs]
    out = np.empty_like(xs[0])
    fn = _library(dtype).cfunc(f"k_{name}", None,
                               *[ctypes.c_void_p] * (len(xs) + 1), ctypes.c_int64)
    fn(*[x.ctypes.data for x in xs], out.ctypes.data, out.size)
    return out


def ulp(ref, np_dtype):
    """The ulp of exact values `ref` (float64) in np_dtype, subnormal spacing at the bottom."""
    info = np.finfo(np_dtype)
    _, exponent = np.frexp(np.abs(ref))
    return np.maximum(np.ldexp(1.0, exponent - (info.nmant + 1)), float(info.smallest_subnormal))


def sample(np_dtype, lo, hi, n, seed):
    """Uniform points on [lo, hi] plus log-uniform magnitudes down to the smallest subnormal."""
    rng = np.random.default_rng(seed)
    tiny = float(np.finfo(np_dtype).smallest_subnormal) * 4
    parts = [rng.uniform(lo, hi, n)]
    for sign, top in ((1, hi), (-1, -lo)):
        if top > 0:
            parts.append(sign * np.exp(rng.uniform(np.log(tiny), np.log(top), n)))
    x = np.concatenate(parts).astype(np_dtype)
    return x[(x >= lo) & (x <= hi)]


def reference(name, dtype, x):
    """Exact values as (hi, lo) float64 pairs: numpy float64 for float32 inputs (its error is
    far below a float32 ulp), mpmath for float64 inputs."""
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


def check_ulp(name, dtype, x, got, ref_hi, ref_lo, bound):
    np_dtype = DTYPES[dtype][0]
    info = np.finfo(np_dtype)
    overflow = float(info.max) + float(ulp(float(info.max), np_dtype)) / 2
    expect_inf = np.abs(ref_hi) >= overflow
    assert np.all(got[expect_inf] == np.sign(ref_hi[expect_inf]) * np.inf), (
        f"{name} {dtype}: x={x[expect_inf & ~np.isinf(got)][:5]} should overflow to inf")
    # Round-to-nearest overflows like a result of 2^(emax+1): score inf that way.
    g = got.astype(np.float64)
    # (That is inf again for float64, where mpmath's exact values already overflow to inf.)
    g = np.where(np.isinf(g), np.sign(g) * np.ldexp(1.0, info.maxexp), g)
    fin = ~expect_inf & np.isfinite(ref_hi)
    err = np.abs((g[fin] - ref_hi[fin]) - ref_lo[fin]) / ulp(ref_hi[fin], np_dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (
        f"{name} {dtype}: {err[worst]:.3f} ulp > {bound} at x={x[fin][worst]!r}: "
        f"tracecomp={got[fin][worst]!r} | exact={ref_hi[fin][worst]!r}")


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_accuracy(name, dtype):
    column = 0 if dtype == "f32" else 1
    lo, hi = RANGES[name][column]
    np_dtype = DTYPES[dtype][0]
    n = 100_000 if dtype == "f32" else 500
    x = sample(np_dtype, lo, hi, n, seed=sum(map(ord, name)))
    if name in ("exp", "expm1", "sigmoid"):  # around the overflow and underflow thresholds
        edge = 88.72 if dtype == "f32" else 709.78
        x = np.concatenate([x, np.linspace(edge - 0.1, edge + 0.1, 401, dtype=np_dtype)])
        if name != "expm1":
            tiny = -103.97 if dtype == "f32" else -745.13
            x = np.concatenate([x, np.linspace(tiny - 1, tiny + 18, 401, dtype=np_dtype)])
    got = run(name, dtype, x)
    check_ulp(name, dtype, x, got, *reference(name, dtype, x), BOUNDS[name][column])


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 1e-300, 5e-324, 1e-45,
            -1e-45, 1e-40, 3e38, -3e38, 1e300, -1e300]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_special_values(name, dtype):
    """NaN, infinities and signed zeros exactly as numpy (float64, then rounded) gives them."""
    np_dtype = DTYPES[dtype][0]
    with np.errstate(all="ignore"):
        x = np.array(SPECIALS, dtype=np_dtype)
        want = NUMPY_REF[name](x.astype(np.float64)).astype(np_dtype)
    got = run(name, dtype, x)
    for xi, g, w in zip(x, got, want):
        same = (np.isnan(g) and np.isnan(w)) or (g == w and np.signbit(g) == np.signbit(w))
        if not np.isfinite(w) or w == 0 or not np.isfinite(g) or g == 0:
            assert same, f"{name} {dtype}({xi!r}): tracecomp={g!r} | numpy={w!r}"


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_intrinsics_match_numpy(dtype):
    np_dtype = DTYPES[dtype][0]
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 10, 1000), [0.5, 1.5, 2.5, -0.5, -2.5, 0.0, -0.0,
                                                  np.inf, -np.inf, np.nan, 1e-40]])
    y = np.concatenate([rng.normal(0, 10, 1000), [1.0, -1.0, 0.0, np.nan, -0.0, 2.0,
                                                  np.nan, 1.0, -np.inf, 3.0, -1.0]])
    x, y = x.astype(np_dtype), y.astype(np_dtype)
    expected = {"sqrt": np.sqrt, "abs": np.abs, "fabs": np.fabs, "floor": np.floor,
                "ceil": np.ceil, "trunc": np.trunc, "round": np.round, "rint": np.rint}
    binary = {"copysign": np.copysign, "minimum": np.minimum, "maximum": np.maximum,
              "fmin": np.fmin, "fmax": np.fmax}
    with np.errstate(invalid="ignore"):
        for name, fn in expected.items():
            np.testing.assert_array_equal(run(name, dtype, x), fn(x), err_msg=name)
        for name, fn in binary.items():
            np.testing.assert_array_equal(run(name, dtype, x, y), fn(x, y), err_msg=name)
        # rsqrt is two correctly rounded steps, sqrt then divide: numpy's own for float64,
        # within 1.5 ulp of the exact value for float32.
        pos = np.abs(np.concatenate([x[np.isfinite(x)], [1e-45, 5e-324, 3e38]]).astype(np_dtype))
        got = run("rsqrt", dtype, pos)
        if dtype == "f64":
            np.testing.assert_array_equal(got, 1 / np.sqrt(pos), err_msg="rsqrt")
        else:
            check_ulp("rsqrt", dtype, pos, got, 1 / np.sqrt(pos.astype(np.float64)),
                      np.zeros(pos.size), 1.5)


def _kernel_asm(asm, name):
    """The assembly of one function in a module's assembly listing."""
    start = asm.index(f"\n{name}:")
    return asm[start:asm.index(".Lfunc_end", start)]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64")
                    or not llvm.get_host_cpu_features().get("avx"), reason="x86 AVX assembly")
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_loops_vectorize_without_libm_calls(dtype):
    asm = _library(dtype).asm
    for name in UNARY + BINARY:
        body = _kernel_asm(asm, f"k_{name}")
        jumps = re.findall(r"^\s*(?:call|jmp)\w*\s+(\S+)", body, re.MULTILINE)
        calls = [target for target in jumps if not target.startswith(".L")]
        assert not calls, f"{name} {dtype}: the loop calls {calls}"
        assert re.search(r"%[yz]mm", body), f"{name} {dtype}: no ymm/zmm code; not vectorized"


def test_functions_are_internal_alwaysinline_and_created_once():
    module = engine.new_module()
    fn = mathlib.get(module, "tanh", ir.FloatType())
    assert mathlib.get(module, "tanh", ir.FloatType()) is fn
    assert mathlib.get(module, "tanh", ir.DoubleType()) is not fn
    assert fn.linkage == "internal" and "alwaysinline" in fn.attributes
    text = str(module)
    assert "nnan" not in text and "ninf" not in text and "fast" not in text
    with pytest.raises(KeyError, match="no function 'tanhh'"):
        mathlib.get(module, "tanhh", ir.FloatType())


SCALE_IR = """
define double @scale(double %x) {
  %y = fmul double %x, 3.0
  ret double %y
}
"""


def test_library_keeps_its_code_alive():
    lib = engine.compile_module(SCALE_IR, ["scale"])
    fn = lib.cfunc("scale", ctypes.c_double, ctypes.c_double)
    address = lib.address("scale")
    assert "define double @scale" in lib.llvm_ir and "@scale" in lib.optimized_ir
    assert "scale:" in lib.asm
    del lib
    for _ in range(3):
        engine.compile_module(SCALE_IR, ["scale"])  # churn: other libraries come and go
        gc.collect()
    assert fn(2.0) == 6.0
    assert ctypes.cast(address, ctypes.c_void_p).value == address
    with pytest.raises(KeyError, match="not exported"):
        fn._library.address("missing")


def test_object_roundtrip():
    blob = engine.emit_object(SCALE_IR)
    assert isinstance(blob, bytes) and len(blob) > 0
    lib = engine.load_object(blob, ["scale"])
    assert lib.cfunc("scale", ctypes.c_double, ctypes.c_double)(1.5) == 4.5
    assert lib.asm is None and lib.optimized_ir is None  # nothing to show without the IR
    # A real kernel (vector code, constant pools) from a library's object: same results.
    compiled = _library("f32")
    again = engine.load_object(compiled.object, ["k_tanh"])
    x = np.linspace(-10, 10, 1001, dtype=np.float32)
    out = np.empty_like(x)
    fn = again.cfunc("k_tanh", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    np.testing.assert_array_equal(out, run("tanh", "f32", x))


def test_invalid_ir_is_rejected_before_optimizing():
    bad = "define i32 @f() {\n  ret float 0.0\n}\n"
    with pytest.raises(RuntimeError):
        engine.compile_module(bad, ["f"])
