"""torch names tracecomp lacked, against torch 2.13: asarray's sharing rules, the layouts
and Tensor.layout, storage_offset and empty_strided, select/slice/diagonal_scatter (values,
gradients, errors, compiled), and the process-wide switches programs query."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, to_tc


def test_asarray_shares_copies_and_refuses_as_torch():
    for lib in (torch, tc):
        t = lib.ones(3)
        assert lib.asarray(t) is t
        n = np.ones(3)
        shared, copied = lib.asarray(n), lib.asarray(n, copy=True)
        n[0] = 5
        assert shared.tolist() == [5.0, 1.0, 1.0] and copied.tolist() == [1.0, 1.0, 1.0]
        assert str(shared.dtype).endswith("float64")
        assert lib.asarray([1, 2]).dtype == lib.int64
        assert lib.asarray([1.0, 2]).dtype == lib.float32
        assert lib.asarray(3.0).shape == ()
        assert lib.asarray(n, dtype=lib.float32).dtype == lib.float32
        assert lib.asarray([1.0, 2], requires_grad=True).requires_grad
        with pytest.raises(ValueError, match="can't alias"):
            lib.asarray(n, dtype=lib.float32, copy=False)


def test_layouts_are_torchs():
    x = tc.randn(2, 3)
    assert x.layout is tc.strided and repr(tc.strided) == repr(torch.strided)
    for name in ("sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc",
                 "jagged"):
        assert repr(getattr(tc, name)) == repr(getattr(torch, name))
        assert isinstance(getattr(tc, name), tc.layout)
    import pickle
    assert pickle.loads(pickle.dumps(tc.strided)) is tc.strided


@pytest.mark.parametrize("view", [lambda x: x[:, 1:], lambda x: x.t(), lambda x: x[1],
                                  lambda x: x.view(-1)[2:], lambda x: x[1:, ::2],
                                  lambda x: x])
def test_storage_offset_is_torchs(view):
    x = torch.randn(3, 4)
    assert view(to_tc(x)).storage_offset() == view(x).storage_offset()


@pytest.mark.parametrize("size,stride", [((2, 3), (1, 2)), ((2, 3), (3, 1)), ((4,), (2,)),
                                         ((0, 3), (3, 1)), ((2, 3), (1,))])
def test_empty_strided_is_torchs(size, stride):
    def made(lib):
        try:
            t = lib.empty_strided(size, stride, dtype=lib.float64)
        except RuntimeError as e:
            return str(e)
        return t.shape, t.stride(), str(t.dtype).rsplit(".", 1)[1]
    assert made(tc) == made(torch)
    if len(size) == len(stride):
        assert tc.randn(2).new_empty_strided(size, stride).stride() == \
            torch.randn(2).new_empty_strided(size, stride).stride()


SCATTERS = [
    ("select_scatter", (3, 4), (4,), (0, 1)),
    ("select_scatter", (3, 4, 2), (3, 2), (1, -1)),
    ("slice_scatter", (4, 4), (2, 4), (0, 0, 4, 2)),
    ("slice_scatter", (4, 5), (4, 2), (1, 1, 3)),
    ("slice_scatter", (4, 5), (4, 4), (1, 1)),
    ("diagonal_scatter", (3, 4), (3,), (1,)),
    ("diagonal_scatter", (4, 3), (2,), (-2,)),
    ("diagonal_scatter", (2, 3, 3), (2, 3), (0, 1, 2)),
    ("select_scatter", (3, 4), (3,), (0, 1)),           # wrong size: both refuse
]


@pytest.mark.parametrize("op,shape,src_shape,args", SCATTERS,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SCATTERS)])
def test_scatter_into_a_view_is_torchs(op, shape, src_shape, args):
    x = torch.randn(*shape, requires_grad=True)
    src = torch.randn(*src_shape, requires_grad=True)
    y, s = to_tc(x), to_tc(src)
    try:
        want = getattr(torch, op)(x, src, *args)
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match="expected src to have a size equal to the "
                                               "slice of self"):
            getattr(tc, op)(y, s, *args)
        assert "expected src to have a size equal" in str(e)
        return
    got = getattr(tc, op)(y, s, *args)
    assert_close(got, want)
    assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__
    w = torch.randn(*shape)
    (want * w).sum().backward()
    (got * to_tc(w)).sum().backward()
    assert_close(y.grad, x.grad)
    assert_close(s.grad, src.grad)
    assert_close(getattr(y.detach(), op)(s.detach(), *args), want)      # the method

    def f(a, b):
        return getattr(tc, op)(a * 2, b, *args)
    assert_close(tc.compile(f, fullgraph=True)(y.detach(), s.detach()),
                 f(y.detach(), s.detach()))


def test_process_switches_answer_as_torchs():
    assert tc.is_inference_mode_enabled() is torch.is_inference_mode_enabled() is False
    for lib in (torch, tc):
        with lib.inference_mode():
            assert lib.is_inference_mode_enabled()
            with lib.inference_mode(False):
                assert not lib.is_inference_mode_enabled()
            assert not lib.ones(1, requires_grad=True).mul(2).requires_grad

        def inside(lib=lib):
            return lib.is_inference_mode_enabled()
        assert lib.inference_mode()(inside)() and not lib.is_inference_mode_enabled()
    assert tc.is_anomaly_enabled() is False
    tc.set_anomaly_enabled(True)
    try:
        assert tc.is_anomaly_enabled() and tc.autograd.anomaly_mode.is_anomaly_enabled()
    finally:
        tc.set_anomaly_enabled(False)
    assert tc.get_deterministic_debug_mode() == 0
    tc.set_deterministic_debug_mode("warn")
    try:
        assert tc.get_deterministic_debug_mode() == 1
        assert tc.are_deterministic_algorithms_enabled()
    finally:
        tc.set_deterministic_debug_mode(0)
    assert not tc.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="invalid value of debug_mode"):
        tc.set_deterministic_debug_mode(5)
    assert tc.get_num_interop_threads() >= 1
    assert tc.set_flush_denormal(True) is False
    assert tc.is_warn_always_enabled() is False
