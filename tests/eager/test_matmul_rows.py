"""A batch of rows times one matrix (nn.Linear on (batch, seq, features)) is one product
of the stacked rows, forward and for the matrix's gradient (ops/linalg.py): numpy
multiplies per batch item, and the gradient was a product per item summed after. Values
and gradients against torch, for the layouts nn.Linear and attention code give it."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

rng = np.random.default_rng(0)
CASES = {
    "linear on a sequence": ((4, 5, 6), (3, 6), lambda x, w: x @ w.t()),
    "plain matrix": ((4, 5, 6), (6, 3), lambda x, w: x @ w),
    "4-D batch": ((2, 3, 4, 6), (6, 5), lambda x, w: x @ w),
    "permuted rows": ((5, 4, 6), (6, 3), lambda x, w: x.permute(1, 0, 2) @ w),
    "empty rows": ((0, 5, 6), (6, 3), lambda x, w: x @ w),
    "empty inner dim": ((4, 5, 0), (0, 3), lambda x, w: x @ w),
    # few rows, many columns: computed as (w @ x.T).T (ops/linalg.py _product)
    "few rows times a transposed weight": ((3, 16), (40, 16), lambda x, w: x @ w.t()),
    "a sequence of few rows, transposed weight": ((1, 3, 16), (40, 16), lambda x, w: x @ w.t()),
}


@pytest.mark.parametrize("shapes", CASES.values(), ids=list(CASES))
def test_rows_times_a_matrix_and_its_gradients_are_torchs(shapes):
    sx, sw, f = shapes
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (sx, sw))
    results = []
    for lib in (tc, torch):
        xs, ws = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        out = f(xs, ws)
        weights = lib.tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32)) \
            if lib is tc else torch.tensor(results[0][3])
        (out * weights).sum().backward()
        results.append((out.detach().numpy(), xs.grad.numpy(), ws.grad.numpy(),
                        weights.numpy()))
    for ours, theirs in zip(results[0][:3], results[1][:3]):
        assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 4, 16, 64])
def test_few_rows_times_a_transposed_matrix_is_numpys_product_laid_out_as_torchs(rows):
    """x @ w.T with 8 or more times as many columns as rows runs as (w @ x.T).T: the same
    dot products, so numpy's values, and a fresh row-major result, as torch's (a view
    of the transposed product would refuse .view())."""
    x = rng.standard_normal((rows, 96)).astype(np.float32)
    w = rng.standard_normal((512, 96)).astype(np.float32)
    out = tc.tensor(x) @ tc.tensor(w).t()
    theirs = torch.tensor(x) @ torch.tensor(w).t()
    # the same dot products (bitwise equal on znver4's OpenBLAS; znver3's Haswell kernels
    # block K = 96 otherwise: up to 8e-6 apart on values of ~1-20, within float32's
    # rounding of 96-term sums of unit-sized products)
    np.testing.assert_allclose(out.numpy(), np.matmul(x, w.T), rtol=1e-5, atol=1e-4)
    assert out.stride() == theirs.stride() and out.is_contiguous()
    assert tuple(out.view(-1).shape) == (rows * 512,)
