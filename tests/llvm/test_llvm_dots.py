"""Products computed as dot products along K (codegen/llvm/gemm/dots.py): A @ B^T with both
operands read along K, as x @ W^T and a conv's weight gradient are.

Compiled products are compared with the float64 product; the shapes cover full and partial
tiles in both directions, a K that is not a multiple of the vector width, float64, and
products large enough to be split over threads (small results in narrow blocks). The
fusion log must name dots (else the test would pass on another GEMM). The function itself
is called directly on strided operands, adding into C and with an empty K, for the host's
tile and for the AVX2 one (TRACECOMP_CPU_FEATURES=-avx512f). Every test runs as on a host
where dots won gemm/calibrate.py's contest against the generated GEMM (test_gemm_choice.py
covers the other answer)."""
import ctypes
import re

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm import target
from tracecomp.codegen.llvm.gemm import calibrate, choice, dots, shared
from tracecomp.codegen.llvm.runtime import parallel


@pytest.fixture(autouse=True)
def dots_won(monkeypatch):
    monkeypatch.setattr(calibrate, "dots_win", lambda dtype: True)


SHAPES = [  # (M, N, K, dtype)
    (6, 25, 50176, np.float32),     # LeNet's first conv: a tile of 4 rows and one of 2
    (16, 150, 6400, np.float32),    # its second: split into narrow blocks of columns
    (64, 256, 784, np.float32),     # an MLP's first layer x @ W^T
    (1, 1, 170, np.float32),        # one dot product, K not a multiple of the vector
    (7, 4, 200, np.float64),
    (3, 20, 333, np.float32),
]


@pytest.mark.parametrize("m,n,k,dtype", SHAPES, ids=[f"{m}x{n}x{k}-{np.dtype(d).name}"
                                                     for m, n, k, d in SHAPES])
def test_dots_match_the_float64_product(m, n, k, dtype, monkeypatch):
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype)
    f = tc.compile(lambda x, y: x @ y.t())
    got = f(tc.tensor(a), tc.tensor(b)).numpy()
    log = "\n".join(f.fusion_log.values())
    assert "dots (dot products along K), reading B^T in place" in log
    want = a.astype(np.float64) @ b.astype(np.float64).T
    # a K-long float sum: the error grows like sqrt(K) ulps of the operands' products
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.sqrt(k) * 4)
    split = m * n * k >= parallel.SPLIT_WORK
    assert ("split over threads" in log) == split


def test_a_split_product_is_chosen_by_its_pieces(monkeypatch):
    """x @ W^T over a batch of 512: too many rows for dots as a whole, but split over
    threads each call computes a block of rows (128 on 2 CPUs), which dots computes."""
    monkeypatch.delenv("TRACECOMP_GEMM", raising=False)
    if parallel._cpus() < 2:
        pytest.skip("one CPU: nothing is split")
    f = tc.compile(lambda x, w: x @ w.t())
    x, w = tc.randn(512, 784), tc.randn(256, 784)
    np.testing.assert_allclose(f(x, w).numpy(), x.numpy() @ w.numpy().T, rtol=1e-4, atol=1e-3)
    log = "\n".join(f.fusion_log.values())
    rows = re.search(r"split over threads in \d+ blocks of (\d+) rows", log)
    assert rows and int(rows.group(1)) <= choice.DOTS_MAX_ROWS, log
    assert "dots (dot products along K), reading B^T in place" in log


def test_a_small_result_is_split_in_narrow_blocks():
    """6 x 25 over a long K: no 64-wide block would leave a second piece for a thread."""
    from tracecomp.passes import fusion
    from tracecomp.tracing.tracer import trace
    g = trace(lambda x, y: x @ y.t(), tc.randn(6, 50176), tc.randn(25, 50176))
    product = next(grp for grp in fusion.run(g, target.host()).groups if grp.kind == "matmul")
    axis, width = parallel.gemm_split(product)
    assert axis == 1 and width < 25 and parallel.gemm_extent(product, (axis, width)) >= 2


def _call(address, a, b, c, acc):
    """C (+)= A @ B^T through the function at `address`, on the arrays' row strides."""
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    fn = ctypes.CFUNCTYPE(None, i64, i64, i64, p, i64, p, i64, p, i64, ctypes.c_int32)(address)
    size = a.itemsize
    fn(a.shape[0], b.shape[0], a.shape[1], a.ctypes.data, a.strides[0] // size,
       b.ctypes.data, b.strides[0] // size, c.ctypes.data, c.strides[0] // size, acc)


@pytest.mark.parametrize("features", ["", "-avx512f"], ids=["host", "avx2"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_function_reads_strided_rows_adds_into_c_and_takes_an_empty_k(
        features, dtype, monkeypatch):
    if features:
        monkeypatch.setenv("TRACECOMP_CPU_FEATURES", features)
    address = shared.address(dtype, "dots", False, True)
    rng = np.random.default_rng(3)
    tol = 1e-5 if dtype == "float32" else 1e-13
    # columns past the last full tile (5 wide with AVX-512, 3 with AVX2): tiles of half
    # the width, then 1 (11 = 5 + 5 + 1, 9 = 5 + 2 + 2, 8 = 5 + 2 + 1 or 3 + 3 + 1 + 1)
    for m, n, k in [(9, 11, 37), (5, 9, 40), (6, 8, 20), (4, 5, 16), (13, 2, 300), (2, 7, 0)]:
        a = rng.standard_normal((m, k + 3)).astype(dtype)[:, :k]     # rows k + 3 apart
        b = rng.standard_normal((n, k + 5)).astype(dtype)[:, :k]
        want = a.astype(np.float64) @ b.astype(np.float64).T
        c = np.full((m, n + 2), np.nan, dtype)
        _call(address, a, b, c[:, :n], 0)        # overwrites C: the NaNs are never read
        np.testing.assert_allclose(c[:, :n], want, rtol=tol, atol=tol * 10)
        assert np.isnan(c[:, n:]).all()          # and nothing past each row's n columns
        before = rng.standard_normal((m, n)).astype(dtype)
        c = before.copy()
        _call(address, a, b, c, 1)
        np.testing.assert_allclose(c, before + want, rtol=tol, atol=tol * 10)
    assert dots.tile_shape() == dots.TILES[target.host().vector_bytes]


def test_symbol_refuses_transposes_dots_does_not_compute():
    with pytest.raises(ValueError, match=r"dots computes A @ B\^T, not A\^T @ B\^T"):
        shared.symbol("float32", "dots", True, True)
