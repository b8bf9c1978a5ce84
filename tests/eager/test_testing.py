"""tracecomp.testing.assert_close against torch.testing.assert_close 2.13: the same pass or
fail on the same pairs, with the same message (library names aside)."""
import numpy as np
import pytest
import torch

import tracecomp as tc

PAIRS = [
    ("close", lambda L: (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0000001])), {}),
    ("far", lambda L: (L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 2.1, 3.0])), {}),
    ("dtype", lambda L: (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0], dtype=L.float64)), {}),
    ("no dtype check", lambda L: (L.tensor([1.0]), L.tensor([1.0], dtype=L.float64)),
     {"check_dtype": False}),
    ("shape", lambda L: (L.ones(2), L.ones(3)), {}),
    ("numbers", lambda L: (1.0, 1.1), {}),
    ("nested", lambda L: ([L.ones(2), 2], [L.ones(2), 3]), {}),
    ("mapping", lambda L: ({"a": L.ones(2)}, {"a": L.zeros(2)}), {}),
    ("ints", lambda L: (L.tensor([1, 2]), L.tensor([1, 3])), {}),
    ("nan", lambda L: (L.tensor([float("nan")]), L.tensor([float("nan")])), {}),
    ("nan equal", lambda L: (L.tensor([float("nan")]), L.tensor([float("nan")])),
     {"equal_nan": True}),
    ("tolerances", lambda L: (L.tensor([1.0]), L.tensor([1.5])), {"rtol": 0.5, "atol": 0.0}),
    ("float64", lambda L: (L.tensor([1.0], dtype=L.float64), L.tensor([1.0 + 1e-6],
                                                                      dtype=L.float64)), {}),
    ("msg", lambda L: (L.ones(2), L.zeros(2)), {"msg": "custom"}),
]


def _outcome(lib, make, kwargs):
    try:
        lib.testing.assert_close(*make(lib), **kwargs)
        return "passed"
    except AssertionError as exc:
        return str(exc).replace(lib.__name__ + ".", "LIB.")


@pytest.mark.parametrize("name, make, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_assert_close_as_torch(name, make, kwargs):
    assert _outcome(tc, make, kwargs) == _outcome(torch, make, kwargs)


def test_only_both_tolerances_or_neither():
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol'"):
        tc.testing.assert_close(tc.ones(1), tc.ones(1), rtol=1e-3)
    tc.testing.assert_close(tc.ones(2), np.ones(2, np.float32))
