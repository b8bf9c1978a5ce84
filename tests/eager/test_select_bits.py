"""Eager relu and where on large float arrays (ops/select_bits.py: a branch-free select of
bit patterns, ~7x quicker than numpy's on a random mask) give torch's bits exactly: NaN,
infinities, signed zeros and subnormals included, for every float dtype and each way of
giving the two values (arrays, Python numbers, either side)."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.ops import select_bits

SPECIAL = np.array([-1.0, -0.0, 0.0, np.nan, np.inf, -np.inf, 2.0, 1e-40, -3e-39])
N = 2 * select_bits.SMALLEST + 3        # over the size where the bit select starts


def _both(values):
    return tc.from_numpy(values), torch.from_numpy(values)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_and_its_gradient_bits_are_torchs(dtype):
    rng = np.random.default_rng(0)
    x = rng.choice(SPECIAL, N).astype(dtype)
    g = rng.choice(SPECIAL, N).astype(dtype)
    ours, theirs = _both(x)
    assert tc.relu(ours).numpy().tobytes() == torch.relu(theirs).numpy().tobytes()
    xs = [lib.tensor(x, requires_grad=True) for lib in (tc, torch)]
    for t, lib in zip(xs, (tc, torch)):
        lib.relu(t).backward(lib.from_numpy(g))
    assert xs[0].grad.numpy().tobytes() == xs[1].grad.numpy().tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("how", ["arrays", "number second", "number first", "zero second"])
def test_where_bits_are_torchs(dtype, how):
    rng = np.random.default_rng(1)
    cond = rng.random(N) > 0.5
    a, b = (rng.choice(SPECIAL, N).astype(dtype) for _ in range(2))
    results = []
    for lib in (tc, torch):
        c, x, y = lib.from_numpy(cond), lib.from_numpy(a), lib.from_numpy(b)
        args = {"arrays": (x, y), "number second": (x, 2.5), "number first": (-1.5, y),
                "zero second": (x, 0.0)}[how]
        out = lib.where(c, *args).numpy()
        results.append((out.dtype, out.tobytes()))
    assert results[0] == results[1]


def test_odd_operands_take_numpys_select():
    """Broadcast operands, other dtypes, small arrays: numpy's where, same values."""
    cond = np.arange(N) % 3 == 0
    x = np.arange(N, dtype=np.float32)
    assert select_bits.select(cond, x, np.float64(1.0)) is None     # a 0-d of another dtype
    assert select_bits.select(cond[:10], x[:10], 0.0) is None       # small
    assert select_bits.select(cond, x.astype(np.int32), 0) is None  # not floats
    assert select_bits.select(cond.reshape(1, -1), x, 0.0) is None  # broadcast
