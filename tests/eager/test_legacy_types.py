"""torch's legacy tensor types vs torch: torch.FloatTensor(...) constructors, isinstance,
x.type() strings and conversions, torch.Tensor(...), is_nonzero; and the deprecated
number-first overloads torch still takes (p.data.add_(-lr, grad))."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

TYPES = ["FloatTensor", "DoubleTensor", "HalfTensor", "ByteTensor", "CharTensor",
         "ShortTensor", "IntTensor", "LongTensor", "BoolTensor"]


def _dtype_name(t):
    return str(t.dtype).split(".")[-1]


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("args", [([1.7, -2.2, 0.0],), ((1, 2),), ([[1, 0], [3, 4]],), (),
                                  (np.array([1.5, 2.0]),), (np.array(3.0),), (0,)],
                         ids=["floats", "tuple", "nested", "empty", "ndarray", "ndarray0d",
                              "size0"])
def test_legacy_constructor_from_data(name, args):
    try:
        want = getattr(torch, name)(*args)
    except RuntimeError as exc:             # -2.2 into uint8: torch's overflow check
        with pytest.raises(RuntimeError, match=str(exc)):
            getattr(tc, name)(*args)
        return
    got = getattr(tc, name)(*args)
    assert _dtype_name(got) == _dtype_name(want) and type(got) is tc.Tensor
    assert_close(got, want)


@pytest.mark.parametrize("name", TYPES)
def test_legacy_constructor_from_a_size(name):
    for args in [(2, 3), (torch.Size([2, 3]),), (np.int64(4),)]:
        tc_args = [tc.Size(a) if isinstance(a, torch.Size) else a for a in args]
        got, want = getattr(tc, name)(*tc_args), getattr(torch, name)(*args)
        assert tuple(got.shape) == tuple(want.shape) and _dtype_name(got) == _dtype_name(want)


@pytest.mark.parametrize("args", [(2.5,), (True,), ("ab",), (2, -1), (2, 3.0)], ids=str)
def test_legacy_constructor_errors(args):
    with pytest.raises(Exception) as want:
        torch.FloatTensor(*args)
    with pytest.raises(want.type):
        tc.FloatTensor(*args)
    if want.type is RuntimeError:           # negative dimension: torch's own text
        with pytest.raises(RuntimeError, match=str(want.value).replace("[", r"\[")):
            tc.FloatTensor(*args)


def test_legacy_constructor_aliases_a_tensor():
    x = tc.tensor([1.0, 2.0], requires_grad=True)
    y = tc.FloatTensor(x)
    assert y is not x and y.data_ptr() == x.data_ptr()
    (y * 3).sum().backward()                # torch: AliasBackward, gradients reach x
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(TypeError):
        torch.FloatTensor(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="expected a tensor of dtype tracecomp.float32"):
        tc.FloatTensor(tc.tensor([1, 2]))
    # torch.Tensor(t) aliases whatever the dtype
    assert_close(tc.Tensor(tc.tensor([1, 2])), torch.Tensor(torch.tensor([1, 2])))


def test_legacy_constructor_devices():
    assert tc.FloatTensor([1.0], device="cpu").tolist() == [1.0]
    with pytest.raises(RuntimeError) as want:
        torch.FloatTensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match=str(want.value)):
        tc.FloatTensor([1.0], device="cuda")
    assert tc.Tensor(2, device="cpu").shape == (2,)


def test_tensor_legacy_constructor():
    for args in [([1, 2],), (2, 3), (), ([[1.5]],)]:
        got, want = tc.Tensor(*args), torch.Tensor(*args)
        assert _dtype_name(got) == _dtype_name(want) and tuple(got.shape) == tuple(want.shape)
        if not isinstance(args[0] if args else None, int):     # a size: uninitialised
            assert_close(got, want)


@pytest.mark.parametrize("name,value", [("ByteTensor", -1), ("ByteTensor", -129),
                                        ("ByteTensor", 256), ("ByteTensor", -0.5),
                                        ("ByteTensor", 255.9), ("CharTensor", 128),
                                        ("CharTensor", -128), ("IntTensor", 2 ** 31),
                                        ("LongTensor", float("nan")), ("HalfTensor", 1e5),
                                        ("BoolTensor", -2.5)], ids=str)
def test_legacy_constructor_range_checks(name, value):
    try:
        want = getattr(torch, name)([value])
    except RuntimeError as exc:
        with pytest.raises(RuntimeError, match=str(exc)):
            getattr(tc, name)([value])
    else:
        assert_close(getattr(tc, name)([value]), want)


def test_isinstance_tests_the_dtype():
    for name in TYPES:
        for dtype in ("float32", "float64", "int64", "bool", "uint8"):
            x, t = tc.zeros(2, dtype=getattr(tc, dtype)), torch.zeros(2, dtype=getattr(torch,
                                                                                       dtype))
            assert isinstance(x, getattr(tc, name)) == isinstance(t, getattr(torch, name))
    assert isinstance(tc.nn.Parameter(tc.zeros(1)), tc.FloatTensor)
    assert not isinstance(1.0, tc.FloatTensor) and not isinstance(tc.zeros(1), tc.cuda.FloatTensor)
    assert not issubclass(tc.FloatTensor, tc.Tensor)
    assert tc.FloatTensor.dtype is tc.float32 and tc.FloatTensor.is_cuda is False
    assert repr(tc.LongTensor) == "<class 'tracecomp.LongTensor'>"


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int8", "int16",
                                   "int32", "int64", "bool"])
def test_type_string_is_torchs(dtype):
    x, t = tc.zeros(2, dtype=getattr(tc, dtype)), torch.zeros(2, dtype=getattr(torch, dtype))
    assert x.type() == t.type()


@pytest.mark.parametrize("dst", ["DoubleTensor", "torch.LongTensor", "torch.Tensor", "Tensor",
                                 "int32", "IntTensor", "torch.BoolTensor"])
def test_type_converts_like_torch(dst):
    def resolve(lib):
        if dst.startswith("torch."):
            return dst
        return getattr(lib, dst)
    x, t = tc.tensor([1.5, -2.0, 0.0]), torch.tensor([1.5, -2.0, 0.0])
    got, want = x.type(resolve(tc)), t.type(resolve(torch))
    assert _dtype_name(got) == _dtype_name(want)
    assert_close(got, want)
    assert x.type(tc.FloatTensor) is x and x.type("torch.FloatTensor") is x
    assert x.type(dtype=tc.float64).dtype == tc.float64


@pytest.mark.parametrize("dst", ["foo", "torch.FooTensor", "float64", "FloatTensor", float],
                         ids=str)
def test_type_refuses_what_torch_refuses(dst):
    with pytest.raises(ValueError) as want:
        torch.zeros(1).type(dst)
    with pytest.raises(ValueError, match=str(want.value).replace("torch", "(torch|tracecomp)")):
        tc.zeros(1).type(dst)


def test_type_to_a_cuda_type_raises():
    for dst in (tc.cuda.FloatTensor, "torch.cuda.FloatTensor"):
        with pytest.raises(RuntimeError, match="Cannot initialize CUDA"):
            tc.zeros(1).type(dst)
    with pytest.raises(TypeError, match="not available. Torch not compiled with CUDA"):
        tc.cuda.LongTensor([1])


def test_type_keeps_the_gradient_path():
    x = tc.tensor([1.0, 2.0], requires_grad=True)
    (x.type(tc.DoubleTensor) * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_is_nonzero():
    for v in ([1], [0.0], [True], 3, 0.0):
        assert tc.is_nonzero(tc.tensor(v)) == torch.is_nonzero(torch.tensor(v))
    for v in ([1, 2], []):
        with pytest.raises(RuntimeError) as want:
            torch.is_nonzero(torch.tensor(v))
        with pytest.raises(RuntimeError, match=str(want.value)):
            tc.is_nonzero(tc.tensor(v))


@pytest.mark.parametrize("t", ["DoubleTensor", "torch.DoubleTensor", "HalfTensor", "LongTensor",
                               "torch.cuda.FloatTensor", "float64"])
def test_set_default_tensor_type(t):
    def run(lib):
        arg = getattr(lib, t) if not t.startswith("torch") else t
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            lib.set_default_tensor_type(arg)
        # torch warns once per process; tracecomp as Python warnings do (once per place)
        assert lib is torch or "set_default_tensor_type() is deprecated" in \
            str(record[0].message)
        return (str(lib.get_default_dtype()).split(".")[-1], _dtype_name(lib.Tensor([1.0])),
                _dtype_name(lib.zeros(1)), lib.zeros(1).type(lib.Tensor).dtype)
    try:
        try:
            want = run(torch)
        except TypeError as exc:
            with pytest.raises(TypeError, match=str(exc).split(":")[0].replace(".", r"\.")):
                run(tc)
            return
        got = run(tc)
        assert got[:3] == want[:3] and str(got[3]).split(".")[-1] == str(want[3]).split(".")[-1]
    finally:
        tc.set_default_dtype(tc.float32)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int8", "int16",
                                   "int32", "int64", "bool"])
def test_type_facts_and_casts(dtype):
    x = tc.tensor([[1.5, -2.0, 0.0]]).to(getattr(tc, dtype))
    t = torch.tensor([[1.5, -2.0, 0.0]]).to(getattr(torch, dtype))
    assert (x.itemsize, x.nbytes, x.ndimension(), x.is_signed(), x.is_complex()) == \
        (t.itemsize, t.nbytes, t.ndimension(), t.is_signed(), t.is_complex())
    for cast in ("byte", "char", "short"):
        got, want = getattr(x, cast)(), getattr(t, cast)()
        assert got.type() == want.type()
        assert_close(got, want)
    assert x[0, 0].is_nonzero() == t[0, 0].is_nonzero()


@pytest.mark.parametrize("expr", [
    "a.clone().add_(-0.5, b)", "a.add(-0.5, b)", "L.add(a, 2, b)", "a.clone().sub_(2, b)",
    "a.sub(2, b)", "a.clone().addcmul_(2.0, b, b)", "a.addcmul(2.0, b, b)",
    "a.clone().addcdiv_(2, b, b)", "L.addcmul(a, 2.0, b, b)", "L.addcdiv(a, 2, b, b)"])
def test_deprecated_number_first_overloads_as_torch(expr):
    """the char-RNN tutorial's update p.data.add_(-lr, p.grad.data): the number first is
    the alpha (value) of torch's deprecated overload, taken with a UserWarning"""
    def run(lib):
        a = lib.tensor([1.0, -2.0])
        b = lib.tensor([3.0, 0.5])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return eval(expr, {"L": lib, "a": a, "b": b}), caught
    got, caught = run(tc)
    assert_close(got, run(torch)[0])
    assert any("deprecated" in str(w.message) for w in caught)


def test_number_first_needs_the_tensors_it_names():
    """x.add(b, 2) is no overload of torch's (alpha is keyword-only), nor of ours"""
    with pytest.raises(TypeError):
        tc.ones(2).add(tc.ones(2), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_close(tc.ones(2).add(2), torch.full((2,), 3.0))
