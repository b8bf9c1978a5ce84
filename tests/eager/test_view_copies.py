"""torch's *_copy functions (tracecomp/view_copies.py) and torch.detach against torch 2.13:
values, fresh row-major memory (a write to the copy leaves the input alone), gradients,
grad_fn names, out=, and compiled == eager."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, to_tc

gen = torch.Generator().manual_seed(4)

CALLS = {
    "view_copy": lambda lib, x: lib.view_copy(x, (6, 4)),
    "permute_copy": lambda lib, x: lib.permute_copy(x, (2, 0, 1)),
    "t_copy": lambda lib, x: lib.t_copy(x[0]),
    "transpose_copy": lambda lib, x: lib.transpose_copy(x, 0, 2),
    "unsqueeze_copy": lambda lib, x: lib.unsqueeze_copy(x, 1),
    "squeeze_copy": lambda lib, x: lib.squeeze_copy(x[:1]),
    "squeeze_copy_dim": lambda lib, x: lib.squeeze_copy(x[:, :1], 1),
    "squeeze_copy_dims": lambda lib, x: lib.squeeze_copy(x[:, :1], (1, 0)),
    "expand_copy": lambda lib, x: lib.expand_copy(x[:, :1], (2, 5, 4)),
    "select_copy": lambda lib, x: lib.select_copy(x, 1, 2),
    "slice_copy": lambda lib, x: lib.slice_copy(x, 2, 1, 4, 2),
    "slice_copy_defaults": lambda lib, x: lib.slice_copy(x),
    "diagonal_copy": lambda lib, x: lib.diagonal_copy(x, 1, 1, 2),
    "split_copy": lambda lib, x: lib.split_copy(x, 3, 2),
    "split_with_sizes_copy": lambda lib, x: lib.split_with_sizes_copy(x, [1, 3], 2),
    "unbind_copy": lambda lib, x: lib.unbind_copy(x, 1),
    "unfold_copy": lambda lib, x: lib.unfold_copy(x, 2, 2, 1),
    "alias_copy": lambda lib, x: lib.alias_copy(x),
    "view_as_real_copy": lambda lib, x: lib.view_as_real_copy(lib.complex(x, x * 2)),
    "view_as_complex_copy": lambda lib, x: lib.view_as_complex_copy(
        x.detach()[..., :2].contiguous()) + x.sum(),
}


def _parts(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_copy_matches_torch_with_gradients(name):
    x = torch.randn(2, 3, 4, generator=gen, requires_grad=True)
    xc = to_tc(x)
    want, got = _parts(CALLS[name](torch, x)), _parts(CALLS[name](tc, xc))
    assert len(got) == len(want)
    loss_t, loss_c = 0, 0
    for g, w in zip(got, want):
        assert_close(g, w)
        assert g.is_contiguous()
        if w.grad_fn is not None and not w.is_complex():
            assert type(g.grad_fn).__name__ == type(w.grad_fn).__name__
        weight = torch.randn(w.shape, generator=gen, dtype=w.dtype)
        loss_t = loss_t + (w * weight).real.sum()
        loss_c = loss_c + (g * to_tc(weight)).real.sum()
    loss_t.backward()
    loss_c.backward()
    assert_close(xc.grad, x.grad, what="gradient")


def test_view_as_complex_copy_refuses_gradients_as_torch():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="view_as_complex_copy does not support automatic"):
            lib.view_as_complex_copy(lib.zeros(3, 2, requires_grad=True))


def test_copies_own_their_memory_and_take_out():
    x = tc.arange(12.0).reshape(3, 4)
    copy = tc.t_copy(x)
    copy[0, 0] = 100.0
    assert float(x[0, 0]) == 0.0
    out = tc.empty(4, 3)
    assert tc.permute_copy(x, (1, 0), out=out) is out
    np.testing.assert_array_equal(out.numpy(), x.numpy().T)
    parts = (tc.empty(3, 1), tc.empty(3, 3))
    tc.split_with_sizes_copy(x, [1, 3], 1, out=parts)
    np.testing.assert_array_equal(parts[1].numpy(), x.numpy()[:, 1:])
    detached = tc.detach_copy(x.requires_grad_())
    assert not detached.requires_grad
    assert not tc.detach(x).requires_grad and tc.detach(x).data_ptr() == x.data_ptr()


def test_compiled_copies_match_eager():
    def fn(x):
        a, b = tc.split_copy(x, 2, 1)
        return tc.permute_copy(a, (1, 0)) @ b + tc.select_copy(x, 0, 1).sum()
    x = tc.randn(3, 4, requires_grad=True)
    got = tc.compile(fn)(x)
    got.sum().backward()
    grad, x.grad = x.grad, None
    want = fn(x)
    want.sum().backward()
    assert_close(got, want)
    assert_close(grad, x.grad)
