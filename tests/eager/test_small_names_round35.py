"""Small torch names, against torch 2.13: Tensor.is_set_to, const_data_ptr, is_distributed,
is_maia, torch.nonzero_static, and torch.autograd's engine queries and switches."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc


@pytest.mark.parametrize("size,fill", [(4, -1), (0, -1), (1, 7), (2, 0), (3, -5)])
@pytest.mark.parametrize("data", [[[0, 1], [2, 0]], [0.0, 1.5, 0.0, 2.0], 3.0, [[0, 0]]])
def test_nonzero_static_is_torchs(data, size, fill):
    want = torch.nonzero_static(torch.tensor(data), size=size, fill_value=fill)
    got = tc.nonzero_static(tc.tensor(data), size=size, fill_value=fill)
    assert got.dtype == tc.int64 and tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(tc.tensor(data).nonzero_static(size=size,
                                                                 fill_value=fill).numpy(),
                                  want.numpy())


def test_nonzero_static_refuses_a_negative_size():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="'size' must be an non-negative integer"):
            lib.nonzero_static(lib.tensor([1, 0]), size=-1)


def _pairs(lib):
    a = lib.arange(12.0)
    b = a.view(3, 4)
    return {"self": (a, a), "full_slice": (a, a[:]), "view": (a, a.view(12)),
            "reshaped": (a, b), "part": (a[2:], a[2:]), "offset": (a[2:], a[3:]),
            "transposed": (b, b.t()), "clone": (a, a.clone()), "strided": (a[::2], a[::2]),
            "other_stride": (a[::2], a[::3][:6] if False else a[::2].clone())}


@pytest.mark.parametrize("name", list(_pairs(torch)))
def test_is_set_to_is_torchs(name):
    want = _pairs(torch)[name]
    got = _pairs(tc)[name]
    assert got[0].is_set_to(got[1]) == want[0].is_set_to(want[1])


@pytest.mark.parametrize("value", [3.0, 0.0])
@pytest.mark.parametrize("as_tuple", [False, True])
def test_nonzero_of_a_0d_tensor_is_torchs(value, as_tuple):
    want = torch.nonzero(torch.tensor(value), as_tuple=as_tuple)
    got = tc.nonzero(tc.tensor(value), as_tuple=as_tuple)
    want, got = (want, got) if as_tuple else ((want,), (got,))
    assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
    assert [g.tolist() for g in got] == [w.tolist() for w in want]


def test_storage_queries():
    x = tc.arange(6.0)
    assert x.const_data_ptr() == x.data_ptr() and x[2:].const_data_ptr() == x[2:].data_ptr()
    assert x.is_distributed() is False == torch.ones(1).is_distributed()
    assert x.is_maia is False == torch.ones(1).is_maia


def test_autograd_engine_queries():
    for lib in (torch, tc):
        A = lib.autograd
        assert A.is_multithreading_enabled() is True
        with A.set_multithreading_enabled(False):
            assert A.is_multithreading_enabled() is False
        assert A.is_multithreading_enabled() is True

        @A.set_multithreading_enabled(False)
        def inside(A=A):
            return A.is_multithreading_enabled()
        A.set_multithreading_enabled(True)  # (torch's decorator leaves its mode switched on)
        assert inside() is False and A.is_multithreading_enabled() is True
        A.set_multithreading_enabled(False)       # as a call: switches at once
        assert A.is_multithreading_enabled() is False
        A.set_multithreading_enabled(True)
        assert A.is_view_replay_enabled() is False
        assert A.is_tensor_like(lib.ones(1)) and not A.is_tensor_like(1)
        assert A.grad_mode.set_multithreading_enabled is A.set_multithreading_enabled
    assert tc.autograd.kineto_available() is False      # our own profiler, not kineto


def test_as_subclass_is_torchs():
    got = []
    for lib in (torch, tc):
        class My(lib.Tensor):
            pass
        x = lib.ones(2, requires_grad=True)
        y = x * 2
        z = y.as_subclass(My)
        facts = (type(z).__name__, type(z.grad_fn).__name__, z.requires_grad, z.is_leaf)
        y.add_(1)
        z.sum().backward()
        with pytest.raises(TypeError) as error:
            x.as_subclass(int)
        p = lib.nn.Parameter(lib.ones(2)).as_subclass(lib.Tensor)
        got.append((facts, z.tolist(), x.grad.tolist(), str(error.value), type(p).__name__,
                    p.requires_grad))
    assert got[1] == got[0]


@pytest.mark.parametrize("call", ["resize", "resize_as", "resize_bad"])
def test_deprecated_resize_is_torchs(call):
    got = []
    for lib in (torch, tc):
        x = lib.arange(6.0, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if call == "resize":
                    y = x.resize(2, 3)
                elif call == "resize_as":
                    y = x.resize_as(lib.zeros(3, 2))
                else:
                    y = x.resize(3, 3)
            except RuntimeError as error:
                got.append(str(error))
                continue
        (y * lib.arange(6.0).reshape(y.shape)).sum().backward()
        got.append((tuple(y.shape), type(y.grad_fn).__name__, x.grad.tolist(),
                    [str(w.message) for w in caught]))
    assert got[1] == got[0]


def test_removed_volatile_flag_is_torchs():
    got = []
    for lib in (torch, tc):
        x = lib.ones(2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = x.volatile
            x.volatile = True
            second = x.volatile
        got.append((first, second, [str(w.message) for w in caught]))
    assert got[1] == got[0]


@pytest.mark.parametrize("case", ["broadcast", "bad_shape", "requires_grad"])
def test_map2_is_torchs(case):
    got = []
    for lib in (torch, tc):
        a = lib.zeros(2, 3, requires_grad=case == "requires_grad")
        x = lib.arange(3.0) if case != "bad_shape" else lib.ones(4)
        y = lib.ones(2, 1) * 10
        try:
            got.append(a.map2_(x, y, lambda s, p, q: s + p * q).tolist())
        except Exception as error:      # noqa: BLE001 - (our expand's is a ShapeError)
            got.append(case if case != "requires_grad" else str(error))
    assert got[1] == got[0]
