"""Complex inputs of logsumexp, F.normalize, linalg.vecdot, cov and
corrcoef give torch's answers (eagerly): vecdot and cov conjugate as torch's do, norms take
the moduli, logsumexp shifts by the real parts' maximum."""
import numpy as np
import pytest
import torch

import tracecomp as tc

CASES = {
    "logsumexp": lambda lib, z, w: lib.logsumexp(z, 1),
    "normalize": lambda lib, z, w: lib.nn.functional.normalize(z, dim=1),
    "vecdot": lambda lib, z, w: lib.linalg.vecdot(z, w),
    "cov": lambda lib, z, w: lib.cov(z),
    "corrcoef": lambda lib, z, w: lib.corrcoef(z),
}


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("name", list(CASES))
def test_complex_values_equal_torchs(name, dtype):
    rng = np.random.default_rng(0)
    z, w = ((rng.standard_normal((4, 6)) + 1j * rng.standard_normal((4, 6))).astype(dtype)
            for _ in range(2))
    want = CASES[name](torch, torch.tensor(z), torch.tensor(w)).numpy()
    got = CASES[name](tc, tc.tensor(z), tc.tensor(w)).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=2e-5 if dtype == "complex64" else 1e-12,
                               atol=1e-6 if dtype == "complex64" else 1e-12)
