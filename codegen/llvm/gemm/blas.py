"""Find an optimized CBLAS sgemm/dgemm that generated code can call by name.

Where we look, in this order (the first library whose symbol passes a self-check wins):

1. `TRACECOMP_BLAS`: a library path to use, or `none` to use no BLAS (the generated
   fallback kernel of generated.py then does the work).
2. numpy's bundled OpenBLAS (`numpy.libs/` next to numpy in manylinux and Windows wheels,
   `numpy/.dylibs/` in macOS wheels). First because numpy is a hard dependency, the library
   is already mapped into the process (numpy links it), so using it adds no second OpenBLAS
   thread pool competing for the same cores, and it is exactly the library `numpy.matmul`
   runs, which is both our eager backend and the speed target (>= 90 % of numpy).
   Its file name and symbol names are numpy build details (today
   `libscipy_openblas64_-<hash>.so` exporting `scipy_cblas_sgemm64_` with 64-bit ints), so
   they are discovered, never hard-coded.
3. BLAS libraries already mapped into this process (Linux `/proc/self/maps`): covers a
   numpy built against conda's or the system's BLAS, for the same reasons as 2.
4. The `lib directory` that `numpy.__config__` recorded at build time, when it exists here
   (source builds).
5. The `scipy-openblas32` / `scipy-openblas64` packages, only when already installed: they
   are documented, but their README asks projects other than NumPy and SciPy not to depend
   on them, so we never require them.
6. scipy's bundled OpenBLAS (scipy is a dependency): a second library with its own threads.
7. System libraries via `ctypes.util.find_library` (openblas, cblas, blas, mkl_rt,
   Accelerate).

In each library we try the OpenBLAS symbol families `<prefix>cblas_sgemm<suffix>` with
prefix `scipy_` or none and suffix `64_` or none. The integer width is 64 when the suffix is
`64_` (OpenBLAS's ILP64 naming) or when the library's own `openblas_get_config` says
`USE64BITINT`, else 32. The enum arguments (order, transposes) stay C `int` either way.
Every candidate is checked on a small product with padded leading dimensions against
numpy before it is accepted, so a wrong guess is skipped instead of returning wrong numbers.
"""
import ctypes
import functools
import importlib
import importlib.util
import os
import time
from typing import NamedTuple

import numpy as np
from llvmlite import ir

from tracecomp.errors import DTypeError, LoweringError, ShapeError

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_LETTER = {"float32": "s", "float64": "d"}
_FAMILIES = (("scipy_", "64_"), ("", "64_"), ("scipy_", ""), ("", ""))
_SUFFIXES = (".so", ".dylib", ".dll")


class GemmSymbol(NamedTuple):   # (not a frozen dataclass: ~2 ms less at the first compile)
    """One CBLAS gemm entry point: `name` in the library at `path`, resolved to `address`."""
    dtype: str       # "float32" or "float64"
    path: str
    name: str
    int_bits: int    # width of M, N, K and the leading dimensions: 32 or 64
    address: int
    source: str      # which step of the search found it ("numpy", "process", ...)
    prefix: str = ""  # symbol family, to find the library's companion functions
    suffix: str = ""


def find_gemm(dtype):
    """The best GemmSymbol for float32 or float64, or None when no usable BLAS was found."""
    return _discover().get(np.dtype(dtype).name)


def search_log():
    """What discovery tried and why candidates were skipped, one line each (for dumps)."""
    _discover()
    return list(_log)


def reset():
    """Forget the discovery result (tests that change TRACECOMP_BLAS call this)."""
    _discover.cache_clear()


# ------------------------------------------------------------------------------ candidates

def _libs_in(folder):
    if not folder or not os.path.isdir(folder):
        return []
    # names with "blas" or "mkl_rt" in them, as glob's *blas* would match them (not glob:
    # its import is 0.4 ms of a warm start's first call); shared objects only (.so, .so.3,
    # .dylib, .dll), not static archives or headers
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if not n.startswith(".") and ("blas" in n or "mkl_rt" in n)
                  and any(s in n for s in _SUFFIXES))


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    return os.path.dirname(spec.origin) if spec and spec.origin else None


def _bundled(package):
    """Libraries a wheel vendored: `<pkg>.libs` beside the package, `.dylibs` / `.libs` in it."""
    root = _package_dir(package)
    if root is None:
        return []
    folders = [os.path.join(os.path.dirname(root), package + ".libs"),
               os.path.join(root, ".dylibs"), os.path.join(root, ".libs")]
    return [p for f in folders for p in _libs_in(f)]


def _mapped():
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line and "(deleted)" not in line}
    except OSError:
        return []
    names = ("blas", "mkl_rt")
    return sorted(p for p in paths if any(n in os.path.basename(p).lower() for n in names))


def _numpy_config_dir():
    cfg = getattr(getattr(np, "__config__", None), "CONFIG", {}) or {}
    blas = cfg.get("Build Dependencies", {}).get("blas", {})
    return _libs_in(blas.get("lib directory"))


def _openblas_packages():
    found = []
    for name in ("scipy_openblas64", "scipy_openblas32"):
        if importlib.util.find_spec(name) is None:
            continue
        try:  # importing it loads the library; get_lib_dir is its documented API
            found += _libs_in(importlib.import_module(name).get_lib_dir())
        except (ImportError, AttributeError, OSError) as e:  # broken optional package: go on
            _log.append(f"skip {name}: {e}")
    return found


def _system():
    # imported here: ctypes.util imports subprocess (~1.5 ms), and a host whose numpy
    # bundles a BLAS never looks this far
    import ctypes.util

    names = ("openblas", "openblas64_", "cblas", "blas", "mkl_rt", "Accelerate")
    return [p for p in (ctypes.util.find_library(n) for n in names) if p]


def _candidates():
    """(source, path) pairs in order of preference; see the module docstring for why."""
    yield from (("numpy", p) for p in _bundled("numpy"))
    yield from (("process", p) for p in _mapped())
    yield from (("numpy-config", p) for p in _numpy_config_dir())
    yield from (("scipy-openblas", p) for p in _openblas_packages())
    yield from (("scipy", p) for p in _bundled("scipy"))
    yield from (("system", p) for p in _system())


# ------------------------------------------------------------------------------ discovery

_log = []
_dlls = {}  # path -> ctypes.CDLL, kept so the libraries stay loaded


def _dll(path):
    if path not in _dlls:
        _dlls[path] = ctypes.CDLL(path)
    return _dlls[path]


def _lookup(dll, name):
    try:
        return ctypes.cast(getattr(dll, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def _companion(sym, stem, restype):
    """The library's own `openblas_<stem>` in the gemm symbol's family, or None."""
    dll = _dll(sym.path)
    for name in (f"{sym.prefix}openblas_{stem}{sym.suffix}", f"openblas_{stem}"):
        if _lookup(dll, name):
            fn = getattr(dll, name)
            fn.restype = restype
            return fn
    return None


def _int_bits(dll, prefix, suffix):
    if suffix == "64_":
        return 64
    name = f"{prefix}openblas_get_config{suffix}"
    if _lookup(dll, name) is None:  # not OpenBLAS (Accelerate, MKL's LP64 default): int
        return 32
    config = getattr(dll, name)
    config.restype = ctypes.c_char_p
    return 64 if b"USE64BITINT" in (config() or b"") else 32


def _probe(dll, path, source, dtype):
    """The first symbol family in the library at path that computes a gemm correctly."""
    for prefix, suffix in _FAMILIES:
        name = f"{prefix}cblas_{_LETTER[dtype]}gemm{suffix}"
        address = _lookup(dll, name)
        if address is None:
            continue
        sym = GemmSymbol(dtype, path, name, _int_bits(dll, prefix, suffix), address, source,
                         prefix, suffix)
        if _self_check(sym):
            _log.append(f"use {name} ({sym.int_bits}-bit ints) from {path} [{source}]")
            return sym
        _log.append(f"skip {name} in {path}: wrong result on the self-check")
    return None


def _self_check(sym):
    # leading dimensions larger than the widths catch row/column-major or int-width mix-ups
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 6)).astype(sym.dtype)[:, :4]
    b = rng.standard_normal((4, 7)).astype(sym.dtype)[:, :5]
    c = np.full((3, 8), 2.0, sym.dtype)
    _call(sym, False, False, 3, 5, 4, 1.0, a, 6, b, 7, 0.5, c, 8)
    expect = a.astype(np.float64) @ b + 1.0
    return np.allclose(c[:, :5], expect, rtol=1e-4, atol=1e-4) and (c[:, 5:] == 2.0).all()


@functools.cache
def _discover():
    _log.clear()
    override = os.environ.get("TRACECOMP_BLAS", "").strip()
    if override.lower() in ("none", "0", "off"):
        _log.append(f"TRACECOMP_BLAS={override}: no BLAS, the generated kernel is used")
        return {}
    candidates = [("TRACECOMP_BLAS", override)] if override else _candidates()
    found, seen = {}, set()
    for source, path in candidates:
        if os.sep in path:  # a bare soname from find_library stays bare: dlopen searches it
            path = os.path.abspath(path)
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        try:
            dll = _dll(path)
        except OSError as e:
            _log.append(f"skip {path}: cannot load ({e})")
            continue
        for dtype in _LETTER:
            sym = found.get(dtype) or _probe(dll, path, source, dtype)
            if sym:
                found[dtype] = sym
        if len(found) == len(_LETTER):
            break
    for dtype in _LETTER:
        if dtype not in found:
            _log.append(f"no {dtype} gemm found; the generated kernel is used")
    return found


# ------------------------------------------------------------------------------ LLVM side

def load_for_llvm(dtype="float32"):
    """Make find_gemm(dtype)'s symbol callable by name from JIT-compiled code; returns it
    (None without a BLAS). Idempotent.

    `load_library_permanently` keeps the library resident for the engine's lifetime.
    `add_symbol` pins the name to the exact address the self-check validated, since LLVM
    checks explicit symbols before libraries: another library exporting the same name with
    another integer width (a system `cblas_sgemm`, say) cannot be picked up instead."""
    import llvmlite.binding as llvm

    sym = find_gemm(dtype)
    if sym is not None:
        llvm.load_library_permanently(sym.path)
        llvm.add_symbol(sym.name, sym.address)
    return sym


def declare_gemm(module, sym):
    """The `declare` of sym in an llvmlite.ir module (reused when already declared)."""
    if sym.name in module.globals:
        return module.globals[sym.name]
    i32, n, ptr = ir.IntType(32), ir.IntType(sym.int_bits), ir.PointerType()
    fp = ir.FloatType() if sym.dtype == "float32" else ir.DoubleType()
    fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, n, n, n, fp, ptr, n, ptr, n, fp,
                                           ptr, n])
    return ir.Function(module, fnty, sym.name)


def emit_gemm_call(builder, sym, m, n, k, a, lda, b, ldb, c, ldc, trans_a=False,
                   trans_b=False, alpha=1.0, beta=0.0):
    """Emit C = alpha * op(A) @ op(B) + beta * C (row-major) as a call to sym.

    Integer operands are ir values of any width (sign-extended or truncated to the BLAS
    width); alpha is a Python float, beta one or an ir value of the BLAS's float type (a
    product that adds to C on some calls only). Leading dimensions must be >= 1 even for
    empty matrices, or OpenBLAS reports an illegal argument."""
    fn = declare_gemm(builder.module, sym)
    width = ir.IntType(sym.int_bits)
    fp = fn.function_type.args[6]

    def fit(v):
        if v.type.width == sym.int_bits:
            return v
        return builder.sext(v, width) if v.type.width < sym.int_bits else builder.trunc(v, width)

    i32 = ir.IntType(32)
    trans = [ir.Constant(i32, TRANS if t else NO_TRANS) for t in (trans_a, trans_b)]
    beta = beta if isinstance(beta, ir.Value) else ir.Constant(fp, beta)
    args = [ir.Constant(i32, ROW_MAJOR), *trans, fit(m), fit(n), fit(k), ir.Constant(fp, alpha),
            a, fit(lda), b, fit(ldb), beta, c, fit(ldc)]
    return builder.call(fn, args)


# ------------------------------------------------------------------------------ Python side

@functools.cache
def _cfunc(sym):
    n = ctypes.c_int64 if sym.int_bits == 64 else ctypes.c_int32
    fp = ctypes.c_float if sym.dtype == "float32" else ctypes.c_double
    i, p = ctypes.c_int, ctypes.c_void_p
    proto = ctypes.CFUNCTYPE(None, i, i, i, n, n, n, fp, p, n, p, n, fp, p, n)
    return proto(sym.address)


def _call(sym, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    _cfunc(sym)(ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS,
                m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data, ldc)


def gemm(a, b, out=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """out = alpha * op(a) @ op(b) + beta * out through the BLAS, where op(x) is x.T when
    trans_x. Arrays are 2-D, C-contiguous, all float32 or all float64; out is allocated when
    None. The reference for tests and the shape the generated calls take."""
    dtype = a.dtype
    if b.dtype != dtype or dtype.name not in _LETTER or (out is not None and out.dtype != dtype):
        raise DTypeError(f"gemm: a, b and out must all be float32 or all float64; got "
                         f"{a.dtype}, {b.dtype}, {None if out is None else out.dtype}")
    sym = find_gemm(dtype)
    if sym is None:
        raise LoweringError("gemm: no BLAS was found (see blas.search_log()); use the "
                            "generated kernel from generated.py instead")
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"gemm: a and b must be 2-D; got shapes {a.shape} and {b.shape}")
    m, k = a.shape[::-1] if trans_a else a.shape
    k2, n = b.shape[::-1] if trans_b else b.shape
    if k != k2:
        raise ShapeError(f"gemm: inner dimensions differ: op(a) is {(m, k)}, op(b) is "
                         f"{(k2, n)} (trans_a={trans_a}, trans_b={trans_b})")
    if out is None:
        out = (np.zeros if beta else np.empty)((m, n), dtype)
    if out.shape != (m, n):
        raise ShapeError(f"gemm: out has shape {out.shape}, expected {(m, n)}")
    if not all(x.flags.c_contiguous for x in (a, b, out)):
        raise ShapeError("gemm: a, b and out must be C-contiguous (np.ascontiguousarray)")
    # row-major leading dimension = stored row length, at least 1 (BLAS rejects 0)
    lda, ldb, ldc = (max(1, x.shape[1]) for x in (a, b, out))
    _call(sym, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc)
    return out


def threads():
    """The BLAS in use and its threading: {'library', 'num_threads', 'config', 'corename'};
    values are
    None where the library does not export the OpenBLAS query functions."""
    sym = find_gemm("float32") or find_gemm("float64")
    if sym is None:
        return {"library": None, "num_threads": None, "config": None, "corename": None}
    count = _companion(sym, "get_num_threads", ctypes.c_int)
    config = _companion(sym, "get_config", ctypes.c_char_p)
    core = _companion(sym, "get_corename", ctypes.c_char_p)
    return {"library": sym.path, "num_threads": count() if count else None,
            "config": config().decode() if config else None,
            "corename": core().decode() if core else None}


def set_threads(n):
    """Set the BLAS's thread count (for benchmarks); False when the library can't."""
    sym = find_gemm("float32") or find_gemm("float64")
    fn = sym and _companion(sym, "set_num_threads", None)
    if not fn:
        return False
    fn(ctypes.c_int(n))  # OpenBLAS takes a plain int here, even in ILP64 builds
    return True


# ------------------------------------------------------------------------------ measurement

def measure(n=512, dtype="float32", repeats=7, jit=None):
    """GFLOP/s of one n x n x n product, median of `repeats` timed calls after a warm-up,
    for every way tracecomp can run a GEMM; a way that is unavailable gives None.

    Keys: numpy_matmul; blas_ctypes (gemm() above); blas_generated (a JIT-compiled function
    that calls the BLAS symbol by name); fallback (the generated kernel (generated.py), one
    thread); fallback_threads (the same kernel with the rows split over one Python thread
    per CPU); plus n, dtype, cpus, and blas (the library, symbol and its thread count).
    `jit(module, names, imports)` returns an object whose .address(name) stays valid while
    it lives; the default is engine.compile_module."""
    from concurrent.futures import ThreadPoolExecutor

    from . import generated as gemm_kernel

    jit = jit or _engine_jit
    dtype = np.dtype(dtype).name
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    c = np.empty((n, n), dtype)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def gflops(run):
        run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        # 3 significant digits: one decimal made a slow small product's 0.04 GFLOP/s 0.0
        return float(f"{2 * n**3 / float(np.median(times)) / 1e9:.3g}")

    p, i64 = ctypes.c_void_p, ctypes.c_int64
    ptrs = [x.ctypes.data for x in (a, b, c)]
    module = ir.Module("tracecomp_gemm_bench")
    kernel = gemm_kernel.emit_gemm(module, dtype, "tc_bench_fallback")
    names, imports = [kernel.name], {}
    sym = load_for_llvm(dtype)
    if sym is not None:
        names.append(_emit_caller(module, sym, "tc_bench_blas").name)
        imports[sym.name] = sym.address
    lib = jit(module, names, imports)
    fallback = ctypes.CFUNCTYPE(None, i64, i64, i64, p, i64, p, i64, p, i64, ctypes.c_int32)(
        lib.address(kernel.name))
    rows = -(-n // cpus)
    pieces = [(lo, min(n, lo + rows)) for lo in range(0, n, rows)]
    size = c.itemsize

    def split(pool):
        futures = [pool.submit(fallback, hi - lo, n, n, ptrs[0] + lo * n * size, n, ptrs[1], n,
                               ptrs[2] + lo * n * size, n, 0) for lo, hi in pieces]
        for f in futures:
            f.result()

    result = {"n": n, "dtype": dtype, "cpus": cpus,
              "blas": {**threads(), "symbol": sym.name} if sym else None,
              "numpy_matmul": gflops(lambda: np.matmul(a, b, out=c)),
              "blas_ctypes": gflops(lambda: gemm(a, b, out=c)) if sym else None,
              "blas_generated": None,
              "fallback": gflops(lambda: fallback(n, n, n, ptrs[0], n, ptrs[1], n, ptrs[2], n,
                                                  0))}
    if sym is not None:
        call = ctypes.CFUNCTYPE(None, i64, p, p, p)(lib.address("tc_bench_blas"))
        result["blas_generated"] = gflops(lambda: call(n, *ptrs))
    with ThreadPoolExecutor(cpus) as pool:
        result["fallback_threads"] = gflops(lambda: split(pool))
    return result


def _emit_caller(module, sym, name):
    """void name(i64 n, ptr a, ptr b, ptr c): C = A @ B for n x n row-major matrices."""
    i64, ptr = ir.IntType(64), ir.PointerType()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64, ptr, ptr, ptr]), name)
    n, a, b, c = fn.args
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    emit_gemm_call(builder, sym, n, n, n, a, n, b, n, c, n)
    builder.ret_void()
    return fn


def _engine_jit(module, names, imports):
    from ..runtime import engine

    return engine.compile_module(module, names, imports=imports)
