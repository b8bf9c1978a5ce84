"""GEMM for the LLVM backend: the BLAS found at run time (through ctypes and called by name
from generated code) and the generated fallback kernel, all against a float64 numpy product.

A minimal MCJIT helper compiles the test modules, so these tests do not depend on the shared
engine; one test runs `blas.measure` through the shared engine when it is there.
"""
import ctypes
import os
import re

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

import tracecomp as tc
from tracecomp.codegen.llvm.gemm import blas
from tracecomp.codegen.llvm.gemm import generated as gemm_kernel
from tracecomp.errors import DTypeError, LoweringError, ShapeError

DTYPES = ["float32", "float64"]
SHAPES = [(1, 1, 1), (7, 13, 5), (65, 33, 17), (0, 4, 3), (4, 0, 3), (4, 3, 0), (0, 0, 0),
          (3, 80, 2), (9, 95, 130), (200, 37, 140), (9, 123, 140)]
# (m, n, k); n = 80, 95 cross the full-vector edges, m = 200 the generated GEMM's blocks of
# C's rows (A_BLOCK_SHARE; a partial last one); n = 123 makes B's padded rows 512 bytes apart, which
# the generated GEMM packs on an L1 they alias in (generated.aliasing_stride)
requires_blas = pytest.mark.skipif(blas.find_gemm("float32") is None,
                                   reason="no BLAS found: " + "; ".join(blas.search_log()))


def _reference(a, b, c=None, alpha=1.0, beta=0.0):
    out = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    return out if c is None else out + beta * c.astype(np.float64)


def _assert_gemm(got, want, k, what):
    # float32 sums of k products of N(0,1) values: error grows like sqrt(k) * eps
    rtol, atol = (1e-5, 1e-5 * max(1.0, np.sqrt(k))) if got.dtype == np.float32 else \
        (1e-12, 1e-12 * max(1.0, k))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                               err_msg=f"{what}: tracecomp=got | numpy float64=want")


def _random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


class _Jit:
    """The smallest MCJIT that runs a module: parse, verify, O2, codegen. Each engine gets its
    own target machine (MCJIT frees the one it is given); addresses live with `self`."""

    def __init__(self, module):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        ref = llvm.parse_assembly(str(module))
        ref.verify()
        tm = self._host()
        ref.triple, ref.data_layout = tm.triple, str(tm.target_data)
        builder = llvm.create_pass_builder(tm, llvm.PipelineTuningOptions(speed_level=2))
        builder.getModulePassManager().run(ref, builder)
        self.engine = llvm.create_mcjit_compiler(ref, self._host())
        self.engine.finalize_object()

    @staticmethod
    def _host():
        return llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=2)

    def address(self, name):
        return self.engine.get_function_address(name)

    def cfunc(self, name, *argtypes):
        fn = ctypes.CFUNCTYPE(None, *argtypes)(self.address(name))
        fn.jit = self  # the code is freed with the engine
        return fn


def _mcjit(module, names, imports):
    for name, address in imports.items():
        llvm.add_symbol(name, address)
    return _Jit(module)


# ------------------------------------------------------------------------------ discovery

@requires_blas
@pytest.mark.parametrize("dtype", DTYPES)
def test_found_symbol_is_described(dtype):
    sym = blas.find_gemm(dtype)
    assert sym.dtype == dtype and sym.int_bits in (32, 64) and sym.address
    assert os.path.exists(sym.path) and f"{'s' if dtype == 'float32' else 'd'}gemm" in sym.name
    # OpenBLAS's ILP64 naming: a 64_ suffix means 64-bit integers
    assert sym.int_bits == 64 or not sym.name.endswith("64_")
    assert any(sym.name in line for line in blas.search_log())


@requires_blas
def test_threads_reports_the_library():
    info = blas.threads()
    assert info["library"] == blas.find_gemm("float32").path
    assert info["num_threads"] is None or info["num_threads"] >= 1


def test_env_override(monkeypatch):
    monkeypatch.setenv("TRACECOMP_BLAS", "none")
    blas.reset()
    try:
        assert blas.find_gemm("float32") is None and blas.find_gemm("float64") is None
        assert "TRACECOMP_BLAS=none" in blas.search_log()[0]
        with pytest.raises(LoweringError, match="no BLAS"):
            blas.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
        monkeypatch.delenv("TRACECOMP_BLAS")
        blas.reset()
        found = blas.find_gemm("float32")
        if found is not None:  # naming the library explicitly finds the same symbol
            monkeypatch.setenv("TRACECOMP_BLAS", found.path)
            blas.reset()
            assert blas.find_gemm("float32").name == found.name
    finally:
        monkeypatch.delenv("TRACECOMP_BLAS", raising=False)
        blas.reset()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_without_a_blas_compiled_products_run_the_generated_gemm(monkeypatch, dtype):
    """TRACECOMP_BLAS=none: a compiled MLP's forward and backward products (plain, batched,
    with transposed operands) run natively through gemm_kernel's GEMM and match eager."""
    monkeypatch.setenv("TRACECOMP_BLAS", "none")
    blas.reset()
    try:
        tc.manual_seed(0)
        model = tc.nn.Sequential(tc.nn.Linear(20, 16), tc.nn.ReLU(), tc.nn.Linear(16, 5))
        model = model.to(tc.float64) if dtype == np.float64 else model
        rng = np.random.default_rng(0)
        x = tc.tensor(rng.standard_normal((8, 20)).astype(dtype))

        def run(m):
            for p in model.parameters():
                p.grad = None
            out = m(x)
            o = out[:6].reshape(2, 3, 5)
            loss = (o @ o.transpose(1, 2)).sum()            # a batched product too
            loss.backward()
            return [out.detach().numpy()] + [p.grad.numpy().copy() for p in model.parameters()]
        want = run(model)
        compiled = tc.compile(model)
        got = run(compiled)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        text = "\n".join(compiled.fusion_log.values())
        assert "the generated GEMM, reading B^T in place" in text      # x @ W^T
        assert "the generated GEMM, reading A^T in place" in text      # dY^T @ x
        assert not re.search(r"kernel\d+_permute", text), text         # no transpose copies
        assert not re.search(r"python: %\d+ matmul", text), text
    finally:
        monkeypatch.delenv("TRACECOMP_BLAS", raising=False)
        blas.reset()


# ------------------------------------------------------------------------------ ctypes gemm

@requires_blas
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", SHAPES[:6])
def test_gemm_matches_numpy(dtype, trans_a, trans_b, m, n, k):
    a = _random((k, m) if trans_a else (m, k), dtype, 1)
    b = _random((n, k) if trans_b else (k, n), dtype, 2)
    op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
    got = blas.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == (m, n) and got.dtype == dtype
    _assert_gemm(got, _reference(op_a, op_b), k, f"gemm {dtype} {m}x{n}x{k} T={trans_a, trans_b}")


@requires_blas
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_alpha_beta_and_out(dtype):
    a, b, c = _random((6, 4), dtype, 1), _random((4, 5), dtype, 2), _random((6, 5), dtype, 3)
    out = c.copy()
    assert blas.gemm(a, b, out=out, alpha=2.0, beta=0.5) is out
    _assert_gemm(out, _reference(a, b, c, 2.0, 0.5), 4, "alpha=2 beta=0.5")
    out = np.full((6, 5), np.nan, dtype)  # beta = 0: C is overwritten, never read
    _assert_gemm(blas.gemm(a, b, out=out), _reference(a, b), 4, "beta=0 over NaN")
    zero_k = blas.gemm(np.ones((3, 0), dtype), np.ones((0, 2), dtype), out=np.ones((3, 2), dtype),
                       beta=3.0)
    np.testing.assert_array_equal(zero_k, np.full((3, 2), 3.0))


@requires_blas
def test_gemm_rejects_bad_arguments():
    a32, b32 = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    with pytest.raises(DTypeError, match="float32 or all float64"):
        blas.gemm(a32, b32.astype(np.float64))
    with pytest.raises(DTypeError):
        blas.gemm(a32.astype(np.int32), b32.astype(np.int32))
    with pytest.raises(ShapeError, match="inner dimensions"):
        blas.gemm(a32, a32)
    with pytest.raises(ShapeError, match="C-contiguous"):
        blas.gemm(np.ones((3, 2), np.float32).T, b32)
    with pytest.raises(ShapeError, match="out has shape"):
        blas.gemm(a32, b32, out=np.empty((4, 2), np.float32))


# ------------------------------------------------------------------------------ generated call

def _emit_blas_caller(module, sym, int_type, trans_a, trans_b, alpha, beta):
    """void call(iN m, iN n, iN k, ptr a, iN lda, ptr b, iN ldb, ptr c, iN ldc), with int_type
    possibly narrower than the BLAS's integers (emit_gemm_call widens them)."""
    ptr = ir.PointerType()
    args = [int_type] * 3 + [ptr, int_type] * 3
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), "call")
    m, n, k, a, lda, b, ldb, c, ldc = fn.args
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    blas.emit_gemm_call(builder, sym, m, n, k, a, lda, b, ldb, c, ldc, trans_a, trans_b, alpha,
                        beta)
    builder.ret_void()


def _check_generated_call(dtype, bits):
    sym = blas.load_for_llvm(dtype)
    module = ir.Module("blas_call")
    _emit_blas_caller(module, sym, ir.IntType(bits), True, False, 1.5, 0.25)
    assert f'declare void @"{sym.name}"' in str(module)  # by name: no address in the IR
    jit = _Jit(module)
    n_t = ctypes.c_int32 if bits == 32 else ctypes.c_int64
    p = ctypes.c_void_p
    call = jit.cfunc("call", n_t, n_t, n_t, p, n_t, p, n_t, p, n_t)
    m, n, k = 7, 13, 5
    a, b, c = _random((k, m), dtype, 1), _random((k, n), dtype, 2), _random((m, n), dtype, 3)
    out = c.copy()
    call(m, n, k, a.ctypes.data, m, b.ctypes.data, n, out.ctypes.data, n)
    _assert_gemm(out, _reference(a.T, b, c, 1.5, 0.25), k, f"generated call {sym.name}")


@requires_blas
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bits", [32, 64])
def test_generated_code_calls_blas_by_name(dtype, bits):
    _check_generated_call(dtype, bits)


def test_a_32_bit_openblas_works_too(monkeypatch):
    """scipy's bundled OpenBLAS uses 32-bit ints (numpy's 64): detected, and the ctypes and
    generated calls both pass them at the right width."""
    libs = [p for p in blas._bundled("scipy") if "openblas" in os.path.basename(p)]
    if not libs:
        pytest.skip("scipy bundles no OpenBLAS here")
    monkeypatch.setenv("TRACECOMP_BLAS", libs[0])
    blas.reset()
    try:
        sym = blas.find_gemm("float64")
        assert sym is not None and sym.int_bits == 32, blas.search_log()
        a, b = _random((5, 3), "float64", 1), _random((3, 4), "float64", 2)
        _assert_gemm(blas.gemm(a, b), _reference(a, b), 3, "32-bit OpenBLAS via ctypes")
        _check_generated_call("float64", 64)  # wider ints are truncated to the BLAS's 32
    finally:
        monkeypatch.delenv("TRACECOMP_BLAS")
        blas.reset()


# ------------------------------------------------------------------------------ fallback kernel

_TILES = [None, (32, 6, 2), (16, 4, 2), (16, 3, 1)]  # host default, AVX2-, SSE-shaped, odd
# (64, 4, 1): AVX-512's 16 float32 lanes (LLVM splits them where the host has fewer), so
# the transposing pack's 16 x 16 blocks run on every host
_TRANSPOSED_TILES = [None, (32, 6, 2), (16, 3, 1), (64, 4, 1)]
_TRANSPOSES = [(True, False), (False, True), (True, True)]


@pytest.fixture(scope="module")
def fallbacks():
    """One module with a kernel per (dtype, tile); kc = 8 on the odd tile so K blocks split,
    and A's share of L2 small, so that every product of more than a few rows runs in
    several blocks of C's rows (generated.A_BLOCK_SHARE)."""
    module, names = ir.Module("fallback"), {}
    share = gemm_kernel.A_BLOCK_SHARE
    gemm_kernel.A_BLOCK_SHARE = 256     # 512 KiB of L2: 2 KiB of A, 4 rows of a K block of 128
    try:
        _emit_fallbacks(module, names)
    finally:
        gemm_kernel.A_BLOCK_SHARE = share
    jit = _Jit(module)
    i64, p = ctypes.c_int64, ctypes.c_void_p
    return {key: jit.cfunc(name, i64, i64, i64, p, i64, p, i64, p, i64, ctypes.c_int32)
            for key, name in names.items()}


def _emit_fallbacks(module, names):
    for dtype in DTYPES:
        for t, tile in enumerate(_TILES):
            kc = 8 if tile == (16, 3, 1) else 128
            names[dtype, tile] = gemm_kernel.emit_gemm(module, dtype, f"gemm_{dtype}_{t}",
                                                       tile, kc).name
        for t, tile in enumerate(_TRANSPOSED_TILES):
            kc = 8 if tile == (16, 3, 1) else 128
            for trans in _TRANSPOSES:
                names[dtype, tile, trans] = gemm_kernel.emit_gemm(
                    module, dtype, f"gemm_{dtype}_{t}_{trans[0]:d}{trans[1]:d}", tile, kc,
                    *trans).name


def _run(fn, a, b, c, acc):
    """a, b, c may be column slices of larger arrays: their row strides are the lds."""
    ld = [max(1, x.strides[0] // x.itemsize) if x.shape[0] else 1 for x in (a, b, c)]
    fn(a.shape[0], b.shape[1], a.shape[1], a.ctypes.data, ld[0], b.ctypes.data, ld[1],
       c.ctypes.data, ld[2], acc)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tile", _TILES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_fallback_kernel_matches_numpy(fallbacks, dtype, tile, m, n, k):
    fn = fallbacks[dtype, tile]
    # padded buffers (leading dimension > width) with sentinels that must stay untouched
    a = _random((m, k + 3), dtype, 1)[:, :k]
    b = _random((k, n + 5), dtype, 2)[:, :n]
    big_c = np.full((m + 1, n + 7), 7.0, dtype)
    c = big_c[:m, :n]
    c[...] = np.nan  # overwritten, never read, when acc = 0
    _run(fn, a, b, c, 0)
    _assert_gemm(c, _reference(a, b), k, f"fallback {dtype} tile={tile} {m}x{n}x{k}")
    c0 = _random((m, n), dtype, 3)
    c[...] = c0
    _run(fn, a, b, c, 1)
    _assert_gemm(c, _reference(a, b, c0, beta=1.0), k, f"fallback acc {dtype} tile={tile}")
    assert (big_c[:, n:] == 7.0).all() and (big_c[m:, :] == 7.0).all(), "wrote past the edge"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tile", _TRANSPOSED_TILES)
@pytest.mark.parametrize("trans", _TRANSPOSES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_fallback_kernel_reads_transposed_operands_in_place(fallbacks, dtype, tile, trans, m,
                                                            n, k):
    """op(A) = A^T stored k x m, op(B) = B^T stored n x k, from padded buffers (ld > width),
    as a BLAS takes them: the same product as from the operands stored plainly."""
    fn, (trans_a, trans_b) = fallbacks[dtype, tile, trans], trans
    a = _random((k, m + 3) if trans_a else (m, k + 3), dtype, 1)[:, :m if trans_a else k]
    b = _random((n, k + 5) if trans_b else (k, n + 5), dtype, 2)[:, :k if trans_b else n]
    op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
    big_c = np.full((m + 1, n + 7), 7.0, dtype)
    c = big_c[:m, :n]
    c[...] = np.nan
    ld = [max(1, x.strides[0] // x.itemsize) if x.shape[0] else 1 for x in (a, b, c)]
    fn(m, n, k, a.ctypes.data, ld[0], b.ctypes.data, ld[1], c.ctypes.data, ld[2], 0)
    _assert_gemm(c, _reference(op_a, op_b), k, f"fallback {dtype} tile={tile} T={trans} "
                 f"{m}x{n}x{k}")
    assert (big_c[:, n:] == 7.0).all() and (big_c[m:, :] == 7.0).all(), "wrote past the edge"


# ------------------------------------------------------------------------------ measurement

def test_measure_returns_gflops():
    result = blas.measure(48, repeats=1, jit=_mcjit)
    ways = ["numpy_matmul", "fallback", "fallback_threads"]
    if blas.find_gemm("float32") is not None:
        ways += ["blas_ctypes", "blas_generated"]
        assert result["blas"]["symbol"] == blas.find_gemm("float32").name
    assert all(result[w] > 0 for w in ways), result


def test_measure_through_the_shared_engine():
    engine = pytest.importorskip("tracecomp.codegen.llvm.runtime.engine")
    if not hasattr(engine, "compile_module"):
        pytest.skip("the shared engine has no compile_module yet")
    result = blas.measure(32, "float64", repeats=1)
    assert result["fallback"] > 0 and result["numpy_matmul"] > 0
