"""max_pool3d's indices and max_unpool1d/2d/3d against torch: values, indices, gradients,
output sizes, errors, and a pool/unpool autoencoder eager and compiled."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close, assert_trains_like_torch, to_tc

POOL3D = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
          dict(kernel_size=(2, 3, 2), stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 1)),
          dict(kernel_size=2, stride=2, ceil_mode=True),
          dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]


@pytest.mark.parametrize("shape", [(2, 3, 5, 6, 7), (3, 4, 5, 5)], ids=["batched", "unbatched"])
@pytest.mark.parametrize("kw", POOL3D, ids=[str(i) for i in range(len(POOL3D))])
def test_max_pool3d_indices_and_gradients_are_torchs(kw, shape):
    x = torch.randn(*shape, requires_grad=True)
    y = to_tc(x)
    v_t, i_t = TF.max_pool3d(x, return_indices=True, **kw)
    v_c, i_c = F.max_pool3d(y, return_indices=True, **kw)
    assert i_c.dtype == tc.int64
    np.testing.assert_array_equal(i_c.numpy(), i_t.numpy())
    w = torch.randn(v_t.shape)
    (v_t * w).sum().backward()
    (v_c * to_tc(w)).sum().backward()
    assert_close(v_c, v_t)
    assert_close(y.grad, x.grad)


def test_max_pool3d_ties_and_nans_pick_torchs_index():
    x = torch.randint(0, 3, (2, 2, 4, 4, 4)).float()
    x[0, 0, 1, 2, 3] = float("nan")
    for kw in (dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=2)):
        _, i_t = TF.max_pool3d(x, return_indices=True, **kw)
        _, i_c = F.max_pool3d(to_tc(x), return_indices=True, **kw)
        np.testing.assert_array_equal(i_c.numpy(), i_t.numpy())
    pool_t, pool_c = torch.nn.MaxPool3d(2, return_indices=True), tc.nn.MaxPool3d(
        2, return_indices=True)
    np.testing.assert_array_equal(pool_c(to_tc(x))[1].numpy(), pool_t(x)[1].numpy())


def _outcome(fn):
    """The result's shape, or the exception; which bad index a message names is its scan's
    first, and torch scans the planes in parallel: the index is left out. tracecomp's
    errors are compared by the builtin they derive from (ShapeError is a RuntimeError)."""
    try:
        return tuple(fn().shape)
    except Exception as e:      # noqa: BLE001 - the exception is what is compared
        builtin = next(c for c in type(e).__mro__ if c.__module__ == "builtins")
        return builtin.__name__, re.sub(r"index: -?\d+", "index: N", str(e))


UNPOOL = [(1, (2, 3, 8), dict(kernel_size=2)), (1, (3, 9), dict(kernel_size=3, stride=2,
                                                               padding=1)),
          (2, (2, 3, 6, 7), dict(kernel_size=2)),
          (2, (3, 6, 6), dict(kernel_size=3, stride=2, padding=1)),
          (2, (2, 2, 5, 7), dict(kernel_size=(2, 3), stride=(2, 1))),
          (3, (2, 2, 4, 5, 6), dict(kernel_size=2)),
          (3, (2, 5, 5, 5), dict(kernel_size=3, stride=2, padding=1))]


@pytest.mark.parametrize("dims,shape,kw", UNPOOL, ids=[str(i) for i in range(len(UNPOOL))])
def test_max_unpool_inverts_max_pool_as_torch(dims, shape, kw):
    x = torch.randn(*shape)
    pooled, idx = getattr(TF, f"max_pool{dims}d")(x, return_indices=True, **kw)
    pooled.requires_grad_()
    p_c = to_tc(pooled)
    unpool_kw = {k: v for k, v in kw.items() if k in ("kernel_size", "stride", "padding")}
    size = list(x.shape[-dims:])
    out_t = getattr(TF, f"max_unpool{dims}d")(pooled, idx, output_size=size, **unpool_kw)
    out_c = getattr(F, f"max_unpool{dims}d")(p_c, to_tc(idx), output_size=size, **unpool_kw)
    assert out_c.shape == out_t.shape
    assert_close(out_c, out_t)
    w = torch.randn(out_t.shape)
    (out_t * w).sum().backward()
    (out_c * to_tc(w)).sum().backward()
    assert_close(p_c.grad, pooled.grad)
    # the module, at its default output size (where the input's size was not the default,
    # an index lies outside it: both raise)
    module_t = getattr(torch.nn, f"MaxUnpool{dims}d")(**unpool_kw)
    module_c = getattr(tc.nn, f"MaxUnpool{dims}d")(**unpool_kw)
    assert repr(module_c) == repr(module_t)
    got = _outcome(lambda: module_c(p_c, to_tc(idx)))
    want = _outcome(lambda: module_t(pooled, idx))
    assert got == want
    if not isinstance(want[0], str):
        assert_close(module_c(p_c, to_tc(idx)), module_t(pooled, idx))


@pytest.mark.parametrize("call", [
    lambda m, f, v, i: f.max_unpool2d(v, i, 2, output_size=(5, 5)),
    lambda m, f, v, i: f.max_unpool2d(v, i, 2, output_size=(1, 2, 5, 5)),
    lambda m, f, v, i: f.max_unpool2d(v, i, 2, output_size=(7, 7)),
    lambda m, f, v, i: f.max_unpool2d(v, i, 2, output_size=(5,)),
    lambda m, f, v, i: f.max_unpool2d(v, i + 100, 2),
    lambda m, f, v, i: f.max_unpool2d(v, i - 100, 2),
    lambda m, f, v, i: f.max_unpool2d(v, i[:, :1], 2),
    lambda m, f, v, i: f.max_unpool2d(v[0, 0], i[0, 0], 2),
    lambda m, f, v, i: f.max_unpool2d(v, i.int(), 2),
    lambda m, f, v, i: f.max_unpool2d(v, i.float(), 2),
    lambda m, f, v, i: f.max_unpool1d(v[0], i[0] + 9, 2),
    lambda m, f, v, i: f.max_unpool1d(v[0, 0, 0], i[0, 0, 0], 2),
    lambda m, f, v, i: f.max_unpool3d(v[..., None], i[..., None] + 99, 2),
])
def test_max_unpool_sizes_and_errors_are_torchs(call):
    x = torch.randn(1, 2, 4, 4)
    v, i = TF.max_pool2d(x, 2, return_indices=True)
    assert _outcome(lambda: call(tc, F, to_tc(v), to_tc(i))) == \
        _outcome(lambda: call(torch, TF, v, i))


class _AutoEncoder:
    """conv -> max pool (indices) -> conv -> unpool -> conv, SegNet's shape."""

    @staticmethod
    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = lib.nn.Conv2d(2, 4, 3, padding=1)
                self.pool = lib.nn.MaxPool2d(2, return_indices=True)
                self.mid = lib.nn.Conv2d(4, 4, 3, padding=1)
                self.unpool = lib.nn.MaxUnpool2d(2)
                self.dec = lib.nn.Conv2d(4, 2, 3, padding=1)

            def forward(self, x):
                y, idx = self.pool(lib.relu(self.enc(x)))
                return self.dec(self.unpool(self.mid(y), idx, output_size=x.shape))
        return Net()


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_pool_unpool_autoencoder_trains_as_torchs(compiled):
    torch.manual_seed(0)
    ref = _AutoEncoder.build(torch)
    ours = _AutoEncoder.build(tc)
    ours.load_state_dict({k: to_tc(v) for k, v in ref.state_dict().items()})
    run = tc.compile(ours, fullgraph=True) if compiled else ours
    opts = (torch.optim.Adam(ref.parameters(), lr=0.01),
            tc.optim.Adam(ours.parameters(), lr=0.01))
    batches = [(torch.randn(2, 2, 8, 6),) for _ in range(3)]

    def loss_of(lib, model, batch):
        return ((model(batch[0]) - batch[0]) ** 2).mean()
    assert_trains_like_torch(ref, run, ours, opts, batches, loss_of, atol=1e-5)


def test_compiled_unpool_checks_its_indices_on_every_call():
    def f(v, i):
        return F.max_unpool2d(v, i, 2)

    run = tc.compile(f, fullgraph=True)
    v, i = F.max_pool2d(tc.randn(1, 2, 4, 4), 2, return_indices=True)
    assert_close(run(v, i), f(v, i))
    with pytest.raises(RuntimeError, match=r"invalid max index: 1\d\d \(output volumes are "
                                           r"of size 4x4\)"):
        run(v, i + 100)
