"""Small products over a long inner dimension (codegen/llvm/gemm/dots.py): A @ B^T with both
operands read along K, as a conv's weight gradient is. Each shape is compared with the
float64 product; the shapes cover full and partial tiles in both directions, a K that is
not a multiple of the vector width, float64, and a product large enough to be split over
threads. The fusion log must show the dots kernel (else the test would pass on the BLAS)."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm.gemm import dots
from tracecomp.codegen.llvm.runtime import parallel

SHAPES = [  # (M, N, K, dtype)
    (6, 25, 50176, np.float32),     # LeNet's first conv: one row tile, a partial last column
    (16, 150, 6400, np.float32),    # its second: a partial last row tile
    (1, 1, 17, np.float32),         # one dot product, K shorter than a vector
    (7, 4, 100, np.float64),
    (3, 20, 333, np.float32),
]


@pytest.mark.parametrize("m,n,k,dtype", SHAPES, ids=[f"{m}x{n}x{k}-{np.dtype(d).name}"
                                                     for m, n, k, d in SHAPES])
def test_dots_match_the_float64_product(m, n, k, dtype):
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype)
    f = tc.compile(lambda x, y: x @ y.t())
    got = f(tc.tensor(a), tc.tensor(b)).numpy()
    assert "_dots" in "\n".join(f.fusion_log.values())
    want = a.astype(np.float64) @ b.astype(np.float64).T
    # a K-long float sum: the error grows like sqrt(K) ulps of the operands' products
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.sqrt(k) * 4)
    split = m * n * k >= parallel.SPLIT_WORK
    assert ("split over threads" in "\n".join(f.fusion_log.values())) == split


def test_a_product_with_a_large_result_stays_on_the_blas():
    f = tc.compile(lambda x, y: x @ y.t())
    f(tc.randn(64, 300), tc.randn(128, 300))
    assert "_dots" not in "\n".join(f.fusion_log.values())


def test_use_wants_a_transposed_second_operand():
    from tracecomp.passes import fusion
    from tracecomp.tracing.tracer import trace
    g = trace(lambda x, y: x @ y, tc.randn(4, 4096), tc.randn(4096, 4))
    plan = fusion.run(g)
    assert not any(dots.use(grp) for grp in plan.groups)    # B read down its columns
