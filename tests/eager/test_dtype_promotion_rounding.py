"""An integer tensor with a float (uint8 * 1.3, int64 / 3) is worked out in the result's
float32 with its operands cast first, as torch does, eagerly and compiled: numpy works it
out in float64, and rounding that lands one float32 step away, and a truncating cast back
to integers one step more (1.5% of a uint8 image's pixels after a brightness change)."""
import numpy as np
import pytest
import torch

import tracecomp as tc

IMAGE = (np.arange(100_000) % 256).astype(np.uint8)
LONGS = np.arange(-50_000, 50_000).astype(np.int64)
CASES = {
    "uint8 image brightened, back to uint8": (IMAGE, lambda lib, x: (x * 1.3).to(lib.uint8)),
    "int64 / 3": (LONGS, lambda lib, x: x / 3),
    "int64 * 0.7": (LONGS, lambda lib, x: x * 0.7),
    "int64 + 0.1": (LONGS, lambda lib, x: x + 0.1),
    "int32 * a 0-d float32": (LONGS.astype(np.int32),
                              lambda lib, x: x * lib.tensor(0.37, dtype=lib.float32)),
}


@pytest.mark.parametrize("values, f", CASES.values(), ids=list(CASES))
def test_integers_with_floats_round_as_torchs(values, f):
    want = f(torch, torch.from_numpy(values)).numpy()
    eager = f(tc, tc.from_numpy(values)).numpy()
    compiled = tc.compile(lambda x: f(tc, x))(tc.from_numpy(values)).numpy()
    for got in (eager, compiled):
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


def test_a_zero_dim_integer_divided_stays_a_tensor():
    """The ufunc run again gives a numpy scalar for 0-d operands: still a 0-d tensor."""
    got, want = 100 * tc.tensor(25) / 256, 100 * torch.tensor(25) / 256
    assert isinstance(got, tc.Tensor) and got.shape == () and f"{got:.3f}" == f"{want:.3f}"
