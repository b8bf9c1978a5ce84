"""Tensor.unfold is a view, as torch's: the same strides, storage offset and contiguity, a
write into the input shows through it (and one into it shows in the input), and its
gradient (UnfoldBackward0, overlapping windows adding up) is torch's."""
import numpy as np
import pytest
import torch

import tracecomp as tc

# (input shape, how the input is made from a fresh tensor, unfold's arguments)
CASES = [
    ((10,), lambda t: t, (0, 3, 2)),
    ((10,), lambda t: t, (0, 3, 3)),
    ((10,), lambda t: t, (-1, 4, 1)),
    ((3, 7), lambda t: t, (1, 2, 3)),
    ((3, 7), lambda t: t, (0, 2, 1)),
    ((4, 6), lambda t: t[1:, 2:], (1, 2, 1)),           # a view: its offset kept
    ((4, 6), lambda t: t.t(), (0, 3, 2)),               # a transposed input
    ((2, 3, 8), lambda t: t, (2, 4, 4)),
    ((5,), lambda t: t, (0, 0, 1)),                     # empty windows
    ((), lambda t: t, (0, 1, 1)),                       # a 0-d input
]


def _pair(shape, make):
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    return make(torch.tensor(data)), make(tc.tensor(data))


@pytest.mark.parametrize("shape,make,args", CASES)
def test_unfold_layout_is_torchs(shape, make, args):
    want_x, got_x = _pair(shape, make)
    want, got = want_x.unfold(*args), got_x.unfold(*args)
    assert tuple(got.shape) == tuple(want.shape)
    assert got.stride() == want.stride(), f"tracecomp={got.stride()} | torch={want.stride()}"
    assert got.storage_offset() == want.storage_offset()
    assert got.is_contiguous() == want.is_contiguous()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("shape,make,args", [c for c in CASES if c[0] and c[2][1]])
def test_write_into_input_shows_through(shape, make, args):
    want_x, got_x = _pair(shape, make)
    want, got = want_x.unfold(*args), got_x.unfold(*args)
    want_x.mul_(-2)
    got_x.mul_(-2)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_write_into_view_shows_in_input():
    want_x, got_x = _pair((3, 8), lambda t: t)
    want, got = want_x.unfold(1, 2, 3), got_x.unfold(1, 2, 3)   # windows do not overlap
    want[:, 1].fill_(-1)
    got[:, 1].fill_(-1)
    np.testing.assert_array_equal(got_x.numpy(), want_x.numpy())
    assert got_x._version == want_x._version


@pytest.mark.parametrize("shape,make,args", CASES)
def test_unfold_gradient_is_torchs(shape, make, args):
    rng = np.random.default_rng(0)
    data = rng.standard_normal(shape)
    leaves = (torch.tensor(data, requires_grad=True), tc.tensor(data, requires_grad=True))
    outs = [make(leaf).unfold(*args) for leaf in leaves]
    weight = rng.standard_normal(tuple(outs[0].shape))
    assert type(outs[1].grad_fn).__name__ == type(outs[0].grad_fn).__name__
    for out, lib in zip(outs, (torch, tc)):
        (out * lib.tensor(weight)).sum().backward()
    np.testing.assert_allclose(leaves[1].grad.numpy(), leaves[0].grad.numpy(), rtol=1e-12)


def test_unfold_while_compiled_matches_eager():
    """Traced values have no strides: the windows are copied there, with the same values."""
    x = tc.randn(3, 9)

    @tc.compile(backend="interp")
    def f(t):
        return t.unfold(1, 3, 2) * 2

    np.testing.assert_allclose(f(x).numpy(), (x.unfold(1, 3, 2) * 2).numpy())


@pytest.mark.parametrize("args,message", [
    ((1, 8, 1), "maximum size for tensor at dimension 1 is 7 but size is 8"),
    ((1, -1, 1), "size is -1 but must be >= 0"),
    ((1, 2, 0), "step is 0 but must be > 0"),
])
def test_unfold_errors_are_torchs(args, message):
    with pytest.raises(RuntimeError, match=message):
        torch.zeros(3, 7).unfold(*args)
    with pytest.raises(RuntimeError, match=message):
        tc.zeros(3, 7).unfold(*args)
