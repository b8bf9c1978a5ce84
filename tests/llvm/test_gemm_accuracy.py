"""The generated GEMM's float32 rounding error (codegen/llvm/gemm/generated.py): each K
block is summed from zero and then added to C, so the error of a long product stays near
the BLAS's instead of growing with K as one chain of K multiply-adds does (a 3x3
convolution over 512 channels, K = 4608, was 6x the BLAS's error and flipped ReLUs
between compiled and eager ResNet runs)."""
import numpy as np
import pytest

import tracecomp as tc


@pytest.mark.parametrize("shape", [(196, 4608, 512), (37, 1000, 70)])   # (M, K, N)
def test_a_long_product_rounds_no_worse_than_the_blas(monkeypatch, shape):
    monkeypatch.setenv("TRACECOMP_GEMM", "generated")
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    product = tc.compile(lambda x, y: x @ y, backend="llvm")
    product(tc.tensor(a), tc.tensor(b))     # (a first call computes it on the BLAS)
    got = product(tc.tensor(a), tc.tensor(b)).numpy()
    assert "the generated GEMM" in product.fusion_log["forward"]
    blas_error = np.abs(a @ b - exact).max()
    assert np.abs(got - exact).max() <= 1.5 * blas_error
