"""torch.gradient (tracecomp/numeric_gradient.py) and torch.frombuffer / from_dlpack /
to_dlpack (tracecomp/interchange.py) against torch 2.13: values, gradients, shared memory,
torch's errors, and compiled torch.gradient."""
import array
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(6)
COORDS = (torch.tensor([0.0, 0.5, 2.0, 2.5], dtype=torch.float64),
          torch.tensor([0.0, 1.0, 3.0, 4.0, 7.0], dtype=torch.float64))


def _ours(value):
    if isinstance(value, torch.Tensor):
        return to_tc(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_ours(v) for v in value)
    if isinstance(value, dict):
        return {k: _ours(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("kw", [
    {}, {"spacing": 2.0}, {"spacing": (2.0, 3.0)}, {"spacing": list(COORDS)},
    {"spacing": [COORDS[1]], "dim": 1, "edge_order": 2}, {"edge_order": 2},
    {"spacing": list(COORDS), "edge_order": 2}, {"dim": -1},
], ids=["default", "scalar", "per_dim", "coords", "coords_dim_o2", "order2", "coords_o2",
        "last_dim"])
def test_gradient_matches_torch_values_and_gradients(kw):
    x = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    xc = to_tc(x)
    want, got = torch.gradient(x, **kw), tc.gradient(xc, **_ours(kw))
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-12, atol=1e-12)
    sum(w.sum() * (k + 1) for k, w in enumerate(want)).backward()
    sum(g.sum() * (k + 1) for k, g in enumerate(got)).backward()
    assert_close(xc.grad, x.grad, rtol=1e-10, atol=1e-12)


def test_gradient_of_integers_and_compiled():
    ints = torch.tensor([[1, 2, 4, 8], [10, 20, 40, 80]])
    for g, w in zip(tc.gradient(to_tc(ints)), torch.gradient(ints)):
        assert g.dtype == tc.float32
        assert_close(g, w)
    x = tc.randn(3, 6, requires_grad=True)
    fn = lambda v: sum(g.sum() for g in tc.gradient(v, spacing=0.5, edge_order=2))  # noqa: E731
    got = tc.compile(fn)(x)
    got.backward()
    grad, x.grad = x.grad, None
    want = fn(x)
    want.backward()
    assert_close(got, want)
    assert_close(grad, x.grad)


@pytest.mark.parametrize("call", [
    lambda lib: lib.gradient(lib.zeros(2, 4), edge_order=3),
    lambda lib: lib.gradient(lib.zeros(2, 4), dim=0, edge_order=2),
    lambda lib: lib.gradient(lib.zeros(2, 4), spacing=[1.0, 2.0, 3.0]),
    lambda lib: lib.gradient(lib.zeros(2, 4), dim=(0, 0)),
    lambda lib: lib.frombuffer(bytearray(5), dtype=lib.int32),
    lambda lib: lib.frombuffer(bytearray(5), dtype=lib.uint8, offset=5),
    lambda lib: lib.frombuffer(bytearray(5), dtype=lib.uint8, count=10),
    lambda lib: lib.frombuffer(bytearray(), dtype=lib.uint8),
    lambda lib: lib.zeros(2, requires_grad=True).__dlpack__(),
])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)) and str(ours) == str(theirs), \
        f"tracecomp={ours!r} | torch={theirs!r}"


def test_frombuffer_shares_memory():
    for lib in (torch, tc):
        data = array.array("i", [1, 2, 3, 4])
        t = lib.frombuffer(data, dtype=lib.int32)
        t[0] = 9
        assert list(data) == [9, 2, 3, 4]
        part = lib.frombuffer(data, dtype=lib.int16, count=3, offset=2)
        assert part.tolist() == [0, 2, 0]
        grad = lib.frombuffer(bytearray(8), dtype=lib.float32, count=1, offset=4,
                              requires_grad=True)
        assert grad.requires_grad and grad.shape == (1,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tc.frombuffer(b"abcd", dtype=tc.uint8).tolist() == [97, 98, 99, 100]
    assert "The given buffer is not writable" in str(caught[0].message)


def test_dlpack_round_trips_share_memory():
    x = tc.randn(3)
    y = tc.from_dlpack(tc.to_dlpack(x))
    y[0] = 7.0
    ref = torch.from_dlpack(x)              # torch reads ours
    ref[1] = 8.0
    assert x.tolist()[:2] == [7.0, 8.0]
    source = torch.arange(4.0)
    ours = tc.from_dlpack(source)           # ours reads torch's, and a capsule of torch's
    ours[2] = 5.0
    assert source.tolist() == [0.0, 1.0, 5.0, 3.0]
    assert tc.from_dlpack(torch.to_dlpack(source)).tolist() == source.tolist()
    np.testing.assert_array_equal(np.from_dlpack(x), x.numpy())
    assert tc.utils.dlpack.to_dlpack is tc.to_dlpack
    capsule = tc.to_dlpack(x)
    tc.from_dlpack(capsule)
    with pytest.raises(RuntimeError, match="consumed only once"):
        tc.from_dlpack(capsule)
