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
