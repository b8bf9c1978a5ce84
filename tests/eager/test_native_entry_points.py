"""torch.constant_pad_nd, convolution, conv_tbc and the native_* norms and dropout
(tracecomp/native_ops.py) against torch 2.13: values, the statistics they return, running
statistics, gradients and grad_fn names, torch's errors, and compiled == eager."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(5)


def _randn(*shape, grad=False):
    return torch.randn(*shape, generator=gen, requires_grad=grad)


def _compare(fn, *args, first_only_grad=True):
    """fn(lib, *args) under both libraries: every result, the grad_fn of the first, and
    the gradients of the float arguments that require grad."""
    ours_args = [to_tc(a) if isinstance(a, torch.Tensor) else a for a in args]
    want, got = fn(torch, *args), fn(tc, *ours_args)
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        assert g.requires_grad == w.requires_grad
        assert_close(g, w, rtol=1e-5, atol=1e-5)
    assert type(got[0].grad_fn).__name__ == type(want[0].grad_fn).__name__
    weight = torch.randn(want[0].shape, generator=gen)
    (want[0] * weight).sum().backward()
    (got[0] * to_tc(weight)).sum().backward()
    for a, b in zip(args, ours_args):
        if isinstance(a, torch.Tensor) and a.requires_grad:
            assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, what="gradient")


def test_constant_pad_nd():
    _compare(lambda lib, x: lib.constant_pad_nd(x, [1, 2, -1, 1], 3.5), _randn(2, 3, 4, grad=True))
    got = tc.constant_pad_nd(tc.tensor([[1, 2]]), [1, 1, 1, 0], 9)
    assert got.tolist() == torch.constant_pad_nd(torch.tensor([[1, 2]]), [1, 1, 1, 0], 9).tolist()


@pytest.mark.parametrize("case", [
    ((1, 2, 5, 5), (4, 2, 3, 3), True, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
    ((2, 4, 7), (4, 2, 3), False, [2], [1], [2], False, [0], 2),
    ((1, 2, 4, 4), (2, 3, 3, 3), True, [2, 2], [1, 1], [1, 1], True, [1, 1], 1),
    ((1, 2, 3, 4, 4), (3, 2, 2, 2, 2), True, [1, 2, 1], [0, 1, 1], [1, 1, 1], False, [0, 0, 0],
     1),
], ids=["conv2d", "conv1d_groups", "transposed2d", "conv3d"])
def test_convolution(case):
    x_shape, w_shape, with_bias, stride, padding, dilation, transposed, out_pad, groups = case
    bias_size = w_shape[1] * groups if transposed else w_shape[0]
    bias = _randn(bias_size, grad=True) if with_bias else None
    _compare(lambda lib, x, w, b: lib.convolution(x, w, b, stride, padding, dilation, transposed,
                                                  out_pad, groups),
             _randn(*x_shape, grad=True), _randn(*w_shape, grad=True), bias)


def test_conv_tbc():
    _compare(lambda lib, x, w, b: lib.conv_tbc(x, w, b, 1),
             _randn(6, 2, 3, grad=True), _randn(3, 3, 4, grad=True), _randn(4, grad=True))


def test_native_layer_norm():
    _compare(lambda lib, x, w, b: lib.native_layer_norm(x, (3, 4), w, b, 1e-5),
             _randn(2, 3, 4, grad=True), _randn(3, 4, grad=True), _randn(3, 4, grad=True))
    _compare(lambda lib, x: lib.native_layer_norm(x, [4], None, None, 1e-3),
             _randn(5, 4, grad=True))


@pytest.mark.parametrize("training", [True, False])
def test_native_batch_norm_and_running_statistics(training):
    stats = {lib: (lib.zeros(3) + 0.5, lib.ones(3) * 2) for lib in (torch, tc)}
    _compare(lambda lib, x, w, b: lib.native_batch_norm(x, w, b, *stats[lib], training, 0.2,
                                                        1e-5),
             _randn(4, 3, 5, grad=True), _randn(3, grad=True), _randn(3, grad=True))
    for ours, want in zip(stats[tc], stats[torch]):
        assert_close(ours, want)
    _compare(lambda lib, x: lib.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5),
             _randn(4, 3, 2, 2, grad=True))


def test_native_group_norm():
    _compare(lambda lib, x, w, b: lib.native_group_norm(x, w, b, 2, 6, 5, 3, 1e-5),
             _randn(2, 6, 5, grad=True), _randn(6, grad=True), _randn(6, grad=True))
    _compare(lambda lib, x: lib.native_group_norm(x, None, None, 2, 4, 6, 2, 1e-5),
             _randn(2, 4, 2, 3, grad=True))


def test_native_channel_shuffle():
    x = torch.randn(2, 6, 3, generator=gen)
    for lib_fn in (tc.native_channel_shuffle, tc.nn.functional.native_channel_shuffle):
        assert_close(lib_fn(to_tc(x), 3), torch.native_channel_shuffle(x, 3))
    call = lambda lib: lib.native_channel_shuffle(lib.zeros(1, 4, 2), 3)  # noqa: E731
    ours, theirs = raised(tc, call), raised(torch, call)
    assert type(ours) is type(theirs) and str(ours) == str(theirs)


def test_native_dropout():
    x = tc.randn(200, 50, requires_grad=True)
    out, mask = tc.native_dropout(x, 0.3, True)
    assert mask.dtype == tc.bool and not mask.requires_grad
    assert type(out.grad_fn).__name__ == "NativeDropoutBackward0"
    assert abs(float(mask.float().mean()) - 0.7) < 0.02
    np.testing.assert_allclose(out.detach().numpy(),
                               np.where(mask.numpy(), x.detach().numpy() / 0.7, 0), rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), mask.numpy() / 0.7, rtol=1e-6)
    for train in (False,):
        for lib, y in ((torch, torch.randn(3)), (tc, tc.randn(3))):
            kept, everywhere = lib.native_dropout(y, 0.5, train)
            assert bool(everywhere.all()) and kept is not y
            assert kept.tolist() == y.tolist()
    for lib, y in ((torch, torch.randn(3)), (tc, tc.randn(3))):
        dropped, none = lib.native_dropout(y, 1.0, True)
        assert not bool(none.any()) and float(dropped.abs().sum()) == 0.0


@pytest.mark.parametrize("call", [
    lambda lib: lib.conv_tbc(lib.zeros(2, 3), lib.zeros(3, 3, 4), lib.zeros(4)),
    lambda lib: lib.conv_tbc(lib.zeros(5, 2, 3), lib.zeros(3, 4), lib.zeros(4)),
    lambda lib: lib.conv_tbc(lib.zeros(5, 2, 3), lib.zeros(3, 3, 4), lib.zeros(2)),
    lambda lib: lib.conv_tbc(lib.zeros(5, 2, 3), lib.zeros(3, 2, 4), lib.zeros(4)),
])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)) and str(ours) == str(theirs), \
        f"tracecomp={ours!r} | torch={theirs!r}"


def test_compiled_matches_eager():
    w = tc.randn(4, 2, 3, 3, requires_grad=True)

    def fn(x):
        y = tc.convolution(x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
        y = tc.native_layer_norm(y, (5,), None, None, 1e-5)[0]
        return tc.constant_pad_nd(y, [1, 1], 0.5).relu().sum()
    x = tc.randn(2, 2, 5, 5, requires_grad=True)
    got = tc.compile(fn)(x)
    got.backward()
    grads = x.grad, w.grad
    x.grad = w.grad = None
    want = fn(x)
    want.backward()
    assert_close(got, want, rtol=1e-5, atol=1e-4)
    assert_close(grads[0], x.grad, rtol=1e-4, atol=1e-5)
    assert_close(grads[1], w.grad, rtol=1e-4, atol=1e-5)
