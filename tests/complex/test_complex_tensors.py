"""Complex tensors against torch 2.13, apart from gradients (test_complex_ops.py): the dtype
table and promotion, creation, printing, views of the parts, casts, saving, and torch's
errors for ops that have no complex kernel."""
import itertools
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

DTYPES = ["float16", "float32", "float64", "int64", "int32", "uint8", "bool", "complex64",
          "complex128"]


def _name(d):
    return str(d).split(".")[-1]


@pytest.mark.parametrize("a,b", list(itertools.product(DTYPES, ["complex64", "complex128"])))
def test_promotion_of_tensors_and_zero_dim_tensors(a, b):
    for shape_a, shape_b in [((2,), (2,)), ((2,), ()), ((), (2,))]:
        want = (torch.ones(shape_a, dtype=getattr(torch, a)) +
                torch.ones(shape_b, dtype=getattr(torch, b)))
        if want.dtype == torch.complex32:       # a dtype tracecomp does not hold
            with pytest.raises(TypeError, match="no complex32 tensors"):
                tc.ones(shape_a, dtype=getattr(tc, a)) + tc.ones(shape_b, dtype=getattr(tc, b))
            continue
        got = (tc.ones(shape_a, dtype=getattr(tc, a)) + tc.ones(shape_b, dtype=getattr(tc, b)))
        assert _name(got.dtype) == _name(want.dtype), (a, b, shape_a, shape_b)
    assert _name(tc.promote_types(getattr(tc, a), getattr(tc, b))) == \
        _name(torch.promote_types(getattr(torch, a), getattr(torch, b)))
    assert tc.can_cast(getattr(tc, b), getattr(tc, a)) == \
        torch.can_cast(getattr(torch, b), getattr(torch, a))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_python_complex_scalars_promote_as_torch(dtype):
    for lib_value in [1j, 2 + 0.5j]:
        got = tc.ones(2, dtype=getattr(tc, dtype)) * lib_value
        want = torch.ones(2, dtype=getattr(torch, dtype)) * lib_value
        assert_close(got, want)
    assert _name(tc.tensor([1, 2j]).dtype) == _name(torch.tensor([1, 2j]).dtype)
    assert _name(tc.full((2,), 1 + 1j).dtype) == _name(torch.full((2,), 1 + 1j).dtype)


def test_default_complex_follows_the_default_dtype():
    try:
        tc.set_default_dtype(tc.float64)
        torch.set_default_dtype(torch.float64)
        assert _name(tc.tensor([1j]).dtype) == _name(torch.tensor([1j]).dtype) == "complex128"
        assert _name((tc.tensor([1]) * 1j).dtype) == _name((torch.tensor([1]) * 1j).dtype)
        assert repr(tc.tensor([1j])).replace("tracecomp", "torch") == repr(torch.tensor([1j]))
    finally:
        tc.set_default_dtype(tc.float32)
        torch.set_default_dtype(torch.float32)


def test_dtype_attributes_and_aliases():
    for name in ["complex64", "complex128", "cfloat", "cdouble"]:
        got, want = getattr(tc, name), getattr(torch, name)
        assert _name(got) == _name(want)
        for attr in ("is_complex", "is_floating_point", "is_signed", "itemsize"):
            assert getattr(got, attr) == getattr(want, attr), (name, attr)
        assert _name(got.to_real()) == _name(want.to_real())
    x = tc.zeros(2, dtype=tc.cfloat)
    assert x.is_complex() and tc.is_complex(x) and not x.is_floating_point()
    for name in ["complex64", "complex128"]:
        got, want = tc.finfo(getattr(tc, name)), torch.finfo(getattr(torch, name))
        assert (got.eps, got.max, got.tiny, got.dtype) == (want.eps, want.max, want.tiny,
                                                           want.dtype)


@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1 + 2j, -0.5j, 3.25 + 0j]),
    lambda lib: lib.tensor([[1 + 1j, 2], [3j, 4]], dtype=lib.complex128),
    lambda lib: lib.tensor(1 + 1j),
    lambda lib: lib.tensor([1e10 + 1j, 1]),
    lambda lib: lib.zeros(2, 3, dtype=lib.cdouble),
    lambda lib: lib.ones(2, dtype=lib.cfloat) * (0.001 - 3j),
    lambda lib: lib.tensor([[1.5 + 2j] * 7] * 3, dtype=lib.complex64),
    lambda lib: lib.arange(2000.0).reshape(2, 1000) * (1 + 1j),
    lambda lib: lib.tensor([1 + 2j], requires_grad=True),
    lambda lib: lib.tensor([], dtype=lib.complex64),
])
def test_printing_matches_torch(make):
    assert repr(make(tc)).replace("tracecomp", "torch") == repr(make(torch))


def test_creation_and_numpy_round_trip():
    for dtype in ("complex64", "complex128"):
        for make in (lambda lib, dtype=dtype: lib.zeros(2, 3, dtype=getattr(lib, dtype)),
                     lambda lib, dtype=dtype: lib.ones(4, dtype=getattr(lib, dtype)),
                     lambda lib, dtype=dtype: lib.full((2,), 1 - 2j, dtype=getattr(lib, dtype)),
                     lambda lib, dtype=dtype: lib.eye(2, dtype=getattr(lib, dtype))):
            assert_close(make(tc), make(torch))
    a = np.array([1 + 2j, 3j], dtype=np.complex64)
    t = tc.from_numpy(a)
    a[0] = 5
    assert t.numpy() is not None and complex(t[0]) == 5 and t.dtype == tc.complex64
    assert tc.tensor([1 + 2j]).numpy().dtype == np.complex64
    assert tc.isreal(tc.tensor([1 + 0j, 1j, 0])).tolist() == [True, False, True]
    assert tc.tensor([1 + 2j, 3]).tolist() == [1 + 2j, 3 + 0j] and tc.tensor(2j).item() == 2j


def test_randn_draws_real_and_imaginary_parts_with_variance_one_half():
    tc.manual_seed(0)
    z = tc.randn(200_000, dtype=tc.cfloat)
    assert z.dtype == tc.complex64
    for part in (z.real, z.imag):   # 5 standard errors of a variance estimate of 1/2
        assert abs(float(part.var()) - 0.5) < 5 * 0.5 * np.sqrt(2 / 200_000)
        assert abs(float(part.mean())) < 5 * np.sqrt(0.5 / 200_000)
    assert tc.rand(3, dtype=tc.complex128).dtype == tc.complex128
    assert float(tc.rand(1000, dtype=tc.cfloat).real.min()) >= 0


def test_real_and_imag_are_views_written_through():
    for lib in (tc, torch):
        x = lib.tensor([1 + 2j, 3 - 4j])
        x.real.mul_(2)
        x.imag[1] = 7
        assert x.tolist() == [2 + 2j, 6 + 7j]
        r = lib.view_as_real(x)
        r[0, 1] = -1
        assert x.tolist() == [2 - 1j, 6 + 7j]
        c = lib.view_as_complex(r)
        c[1] = 0
        assert x.tolist() == [2 - 1j, 0j]
        x.real = lib.tensor([5.0, 6.0])
        x.imag = 1.5
        assert x.tolist() == [5 + 1.5j, 6 + 1.5j]


def test_conj_bits_and_resolve():
    for lib in (tc, torch):
        x = lib.tensor([1 + 2j])
        y = x.conj()
        assert y.is_conj() and not x.is_conj() and not y.resolve_conj().is_conj()
        assert y.resolve_conj().tolist() == [1 - 2j] and lib.conj_physical(x).tolist() == [1 - 2j]
        assert not lib.conj_physical(x).is_conj()
        r = lib.tensor([1.0])
        assert r.conj() is r and r.real is r
    with pytest.raises(RuntimeError, match="unresolved conjugated"):
        tc.view_as_real(tc.tensor([1j]).conj())


def test_casts_to_and_from_complex():
    x_np = np.array([1 + 2j, -3.5 + 0.25j], dtype=np.complex64)
    for lib in (tc, torch):
        x = lib.tensor(x_np)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = x.to(lib.float32)
        assert caught and all(str(w.message).startswith(
            "Casting complex values to real discards the imaginary part") for w in caught)
        assert caught[0].category is UserWarning and r.tolist() == [1.0, -3.5]
        assert x.to(lib.complex128).dtype == lib.complex128
        assert lib.tensor([1.0, 2.0]).to(lib.cfloat).tolist() == [1 + 0j, 2 + 0j]
        assert x.abs().dtype == lib.float32 and x.angle().dtype == lib.float32
        assert x.to(lib.complex128).abs().dtype == lib.float64
        assert lib.ones(1).cfloat().dtype == lib.complex64
        assert lib.ones(1).cdouble().dtype == lib.complex128


def test_state_dict_save_and_load(tmp_path):
    m = tc.nn.Linear(2, 2)
    m.register_buffer("spectrum", tc.randn(3, 2, dtype=tc.cdouble))
    tc.save(m.state_dict(), tmp_path / "m.pt")
    back = tc.load(tmp_path / "m.pt")
    assert back["spectrum"].dtype == tc.complex128
    assert np.array_equal(back["spectrum"].numpy(), m.spectrum.numpy())
    torch.save({"w": torch.tensor([1 + 2j, 3j], dtype=torch.complex64)}, tmp_path / "t.pt")
    w = tc.load(tmp_path / "t.pt")["w"]
    assert w.dtype == tc.complex64 and w.tolist() == [1 + 2j, 3j]


def test_module_to_complex_and_back():
    for lib in (tc, torch):
        m = lib.nn.Linear(2, 2)
        m.register_buffer("steps", lib.tensor(3))
        with pytest.warns(UserWarning, match="Complex modules"):
            m.to(lib.complex64)
        assert (m.weight.dtype, m.steps.dtype) == (lib.complex64, lib.int64)
        with warnings.catch_warnings(record=True) as caught:     # (torch's: once a process)
            warnings.simplefilter("always")
            m.to(lib.float64)
        assert m.weight.dtype == lib.float64
        assert lib is torch or any("discards the imaginary" in str(w.message) for w in caught)


def test_complex_and_polar_match_torch():
    a, b = np.float32([1, -2]), np.float32([0.5, 3])
    for fn in (lambda lib: lib.complex(lib.tensor(a), lib.tensor(b)),
               lambda lib: lib.polar(lib.tensor(np.abs(a)), lib.tensor(b)),
               lambda lib: lib.complex(lib.tensor(a, dtype=lib.float64),
                                       lib.tensor(b, dtype=lib.float64))):
        assert_close(fn(tc), fn(torch))
    inf = tc.complex(tc.tensor([1.0]), tc.tensor([float("inf")]))
    assert inf.tolist() == [complex(1, float("inf"))]


def _x(lib):
    return lib.tensor([1 + 2j, 3 - 1j])


ERRORS = {
    "lt": lambda lib: _x(lib) < _x(lib),
    "ge_scalar": lambda lib: _x(lib) >= 1,
    "maximum": lambda lib: lib.maximum(_x(lib), _x(lib)),
    "amax": lambda lib: _x(lib).amax(),
    "clamp": lambda lib: _x(lib).clamp(0, 1),
    "relu": lambda lib: lib.relu(_x(lib)),
    "floor": lambda lib: _x(lib).floor(),
    "ceil": lambda lib: _x(lib).ceil(),
    "trunc": lambda lib: _x(lib).trunc(),
    "round": lambda lib: _x(lib).round(),
    "sign": lambda lib: _x(lib).sign(),
    "remainder": lambda lib: _x(lib) % 2,
    "fmod": lambda lib: lib.fmod(_x(lib), 2),
    "floor_divide": lambda lib: _x(lib) // 2,
    "atan2": lambda lib: lib.atan2(_x(lib), _x(lib)),
    "hypot": lambda lib: lib.hypot(_x(lib), _x(lib)),
    "erf": lambda lib: lib.erf(_x(lib)),
    "complex_of_ints": lambda lib: lib.complex(lib.tensor([1]), lib.tensor([2])),
    "complex_mixed": lambda lib: lib.complex(lib.tensor([1.0]),
                                             lib.tensor([2.0], dtype=lib.float64)),
    "view_as_real_of_real": lambda lib: lib.view_as_real(lib.ones(2)),
    "view_as_complex_size": lambda lib: lib.view_as_complex(lib.ones(2, 3)),
    "view_as_complex_stride": lambda lib: lib.view_as_complex(lib.ones(2, 4)[:, ::2]),
    "view_as_complex_long": lambda lib: lib.view_as_complex(lib.ones(2, 2, dtype=lib.long)),
    "int_requires_grad": lambda lib: lib.tensor([1]).requires_grad_(),
    "backward_of_complex": lambda lib: lib.ones(2, dtype=lib.cfloat,
                                                requires_grad=True).sum().backward(),
    "inplace_into_real": lambda lib: lib.ones(2).mul_(1j),
    "inplace_complex_into_real": lambda lib: lib.ones(2).add_(lib.ones(2, dtype=lib.cfloat)),
    "nansum": lambda lib: _x(lib).nansum(),
    "sort": lambda lib: _x(lib).sort(),
    "topk": lambda lib: _x(lib).topk(1),
    "argmax": lambda lib: _x(lib).argmax(),
    "max_dim": lambda lib: _x(lib).max(0),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_have_torchs_exception_type(name):
    with pytest.raises(Exception) as want:
        ERRORS[name](torch)
    with pytest.raises(type(want.value)):
        ERRORS[name](tc)
