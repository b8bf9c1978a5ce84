"""dtype utilities against torch 2.13: finfo/iinfo, promote_types/can_cast/result_type over
every pair of dtypes we hold, get/set_default_dtype and what follows it, torch.dtype as a
type, torch's dtype aliases, the dtypes we do not hold (complex32), and
get/set_num_threads."""
import itertools

import numpy as np
import pytest
import torch

import tracecomp as tc

NAMES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def _name(d):
    return str(d).split(".")[-1]


@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16"])
def test_finfo(name):
    got, want = tc.finfo(getattr(tc, name)), torch.finfo(getattr(torch, name))
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(got, field) == getattr(want, field), f"finfo({name}).{field}"
    assert got.dtype == want.dtype
    assert tc.finfo().eps == torch.finfo().eps


@pytest.mark.parametrize("name", ["int64", "int32", "int16", "int8", "uint8"])
def test_iinfo(name):
    got, want = tc.iinfo(getattr(tc, name)), torch.iinfo(getattr(torch, name))
    assert (got.bits, got.max, got.min, got.dtype) == (want.bits, want.max, want.min, want.dtype)


def test_finfo_iinfo_errors():
    with pytest.raises(TypeError, match="requires a floating point input type"):
        tc.finfo(tc.int32)
    with pytest.raises(TypeError, match="requires an integer input type"):
        tc.iinfo(tc.float32)
    with pytest.raises(TypeError, match="bool is not supported by tracecomp.iinfo"):
        tc.iinfo(tc.bool)


@pytest.mark.parametrize("a, b", list(itertools.combinations_with_replacement(NAMES, 2)))
def test_promote_types_can_cast_result_type(a, b):
    ta, tb, ca, cb = getattr(torch, a), getattr(torch, b), getattr(tc, a), getattr(tc, b)
    assert _name(tc.promote_types(ca, cb)) == _name(torch.promote_types(ta, tb))
    assert tc.can_cast(ca, cb) == torch.can_cast(ta, tb)
    assert tc.can_cast(cb, ca) == torch.can_cast(tb, ta)
    x, y = tc.zeros(2, dtype=ca), tc.zeros((), dtype=cb)
    xt, yt = torch.zeros(2, dtype=ta), torch.zeros((), dtype=tb)
    assert _name(tc.result_type(x, y)) == _name(torch.result_type(xt, yt))
    for scalar in (True, 2, 2.5):
        assert _name(tc.result_type(x, scalar)) == _name(torch.result_type(xt, scalar))


def test_result_type_of_numbers_and_bad_arguments():
    assert _name(tc.result_type(2, 3.0)) == _name(torch.result_type(2, 3.0)) == "float32"
    assert _name(tc.result_type(True, 2)) == "int64"
    with pytest.raises(TypeError, match="result_type"):
        tc.result_type(1, "a")


def test_dtype_is_a_type_with_torchs_attributes():
    x = tc.zeros(2)
    assert isinstance(x.dtype, tc.dtype) and isinstance(tc.float64, tc.dtype)
    for name in NAMES:
        got, want = getattr(tc, name), getattr(torch, name)
        for attr in ("is_floating_point", "is_complex", "is_signed", "itemsize"):
            assert getattr(got, attr) == getattr(want, attr), f"{name}.{attr}"
    aliases = ["float", "double", "half", "long", "int", "short", "bool", "cfloat", "cdouble"]
    for alias in aliases:
        assert _name(getattr(tc, alias)) == _name(getattr(torch, alias)), alias
    assert tc.float32.to_complex() is tc.complex64 and tc.complex64.to_real() is tc.float32
    assert not tc.is_complex(x) and tc.is_floating_point(x) and tc.is_tensor(x)
    assert tc.zeros(2, dtype=float).dtype == tc.float64         # dtype=float is float64
    assert tc.ones(2).to(float).dtype == tc.float64


@pytest.mark.parametrize("name", ["complex32"])
def test_dtypes_we_do_not_hold_exist_and_fail_clearly(name):
    d = getattr(tc, name)
    assert isinstance(d, tc.dtype) and d.itemsize == getattr(torch, name).itemsize
    assert d.is_complex == getattr(torch, name).is_complex
    with pytest.raises(TypeError, match=f"tracecomp has no {name} tensors"):
        tc.zeros(2, dtype=d)
    with pytest.raises(TypeError, match=f"tracecomp has no {name} tensors"):
        tc.ones(2).to(d)


def _defaults(lib):
    """dtypes that follow the default dtype, in one list."""
    return [lib.tensor([1.0]), lib.tensor(3.5), lib.zeros(2), lib.ones(1), lib.empty(1),
            lib.rand(2), lib.randn(2), lib.arange(0.0, 3), lib.linspace(0, 1, 3), lib.eye(2),
            lib.full((1,), 1.5), lib.normal(0.0, 1.0, (2,)), lib.logspace(0, 1, 2),
            lib.tensor([1]) / 2, lib.exp(lib.tensor([1])), lib.tensor([1]) * 1.5,
            lib.nn.Linear(2, 2).weight, lib.tensor([1, 2], dtype=lib.float32) * 2.5,
            lib.arange(3), lib.sinh(lib.tensor([1])), lib.tensor(np.float32(1.5))]


def test_set_default_dtype_is_followed_like_torch():
    assert tc.get_default_dtype() == tc.float32
    try:
        for lib in (tc, torch):
            lib.set_default_dtype(lib.float64)
        got, want = _defaults(tc), _defaults(torch)
        for k, (g, w) in enumerate(zip(got, want)):
            assert _name(g.dtype) == _name(w.dtype), f"value {k}: {g.dtype} | torch {w.dtype}"
        assert tc.get_default_dtype() == tc.float64
        assert tc.finfo().bits == 64
        for lib in (tc, torch):
            with pytest.raises(TypeError, match="only floating-point types are supported"):
                lib.set_default_dtype(lib.int64)
    finally:
        tc.set_default_dtype(tc.float32)
        torch.set_default_dtype(torch.float32)
    assert _name(tc.tensor([1.0]).dtype) == "float32"


def test_num_threads_round_trip():
    before = tc.get_num_threads()
    assert before >= 1
    try:
        tc.set_num_threads(1)
        assert tc.get_num_threads() == 1
    finally:
        tc.set_num_threads(before)
    assert tc.get_num_threads() == before
    with pytest.raises(RuntimeError, match="positive integer"):
        tc.set_num_threads(0)
