"""torch names tracecomp lacked, against torch 2.13: asarray's sharing rules, the layouts
and Tensor.layout, storage_offset and empty_strided, select/slice/diagonal_scatter (values,
gradients, errors, compiled), and the process-wide switches programs query."""
import warnings

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


@pytest.mark.parametrize("accumulate", [False, True])
def test_put_writes_flat_indices_as_torch(accumulate):
    x = torch.randn(3, 4, requires_grad=True)
    src = torch.randn(2, 2, requires_grad=True)
    index = torch.tensor([[0, -1], [5, 11]])
    y, s = to_tc(x), to_tc(src)
    want = torch.put(x, index, src, accumulate=accumulate)
    got = tc.put(y, to_tc(index), s, accumulate=accumulate)
    assert_close(got, want)
    (want * torch.arange(12.0).reshape(3, 4)).sum().backward()
    (got * tc.arange(12.0).reshape(3, 4)).sum().backward()
    assert_close(y.grad, x.grad)
    assert_close(s.grad, src.grad)
    inplace = y.detach().clone()
    inplace.put_(to_tc(index), s.detach(), accumulate=accumulate)
    assert_close(inplace, want)
    with pytest.raises(IndexError, match="out of range: tried to access index 12 on a tensor "
                                         "of 12 elements"):
        tc.put(y.detach(), tc.tensor([12]), tc.tensor([1.0]))


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_is_torchs(reduce, include_self):
    x = torch.rand(3, 4) + 0.5
    src = torch.rand(3, 5) + 0.5
    x.requires_grad_()
    src.requires_grad_()
    index = torch.tensor([0, 3, 0, 1, 3])
    y, s = to_tc(x), to_tc(src)
    with warnings.catch_warnings():     # "index_reduce() is in beta", once a process
        warnings.simplefilter("ignore")
        want = x.index_reduce(1, index, src, reduce, include_self=include_self)
        got = y.index_reduce(1, to_tc(index), s, reduce, include_self=include_self)
        assert_close(got, want, atol=1e-6)
        want.sum().backward()
        got.sum().backward()
        assert_close(y.grad, x.grad, atol=1e-6)
        assert_close(s.grad, src.grad, atol=1e-6)
        written = y.detach().clone()
        written.index_reduce_(1, to_tc(index), s.detach(), reduce, include_self=include_self)
        assert_close(written, want, atol=1e-6)
        with pytest.raises(RuntimeError, match="Expected reduce to be one of prod, mean"):
            y.index_reduce(1, to_tc(index), s, "sum")


def test_apply_and_map_call_python_on_each_element_as_torch():
    for lib in (torch, tc):
        x = lib.arange(6.0).reshape(2, 3)
        assert x.apply_(lambda v: v * 2 + 1) is x
        assert x.tolist() == [[1.0, 3.0, 5.0], [7.0, 9.0, 11.0]]
        assert x.map_(lib.tensor([1.0, 2, 3]), lambda a, b: a * b).tolist() == \
            [[1.0, 6.0, 15.0], [7.0, 18.0, 33.0]]
        assert lib.ones(2, dtype=lib.int64).apply_(lambda v: v * 2.7).tolist() == [2, 2]
        with pytest.raises(RuntimeError, match=r"Can't call map_\(\) on Variable that requires"):
            lib.ones(2, requires_grad=True).map_(lib.ones(2), lambda a, b: a)
        with pytest.raises(RuntimeError):
            lib.ones(2, 3).map_(lib.ones(3, 3), lambda a, b: a)

    def f(x):
        return x.clone().apply_(lambda v: v + 1)
    with pytest.raises(tc.TraceError, match="calls a Python function on each element"):
        tc.compile(f, fullgraph=True)(tc.ones(3))
