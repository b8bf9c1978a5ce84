"""The small methods of tensor_methods_more.py (in-place comparisons, tril_, fill_diagonal_,
quantile, sum_to_size, renorm, gcd/lcm, ldexp, the complex accessors) and the in-place
aliases against torch 2.13: one expression written once for both libraries, compared by
value, dtype and shape; in-place cases also by identity and version; a few by gradient."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

rng = np.random.default_rng(0)
F = rng.standard_normal((3, 4)).astype(np.float32)
G = rng.standard_normal((3, 4)).astype(np.float32)
NAN = F.copy()
NAN[1, 2] = NAN[2, 0] = NAN[2, 3] = np.nan
NAN[0, :] = np.nan
INTS = rng.integers(-20, 30, (3, 4))
EXPS = rng.integers(-12, 12, (3, 4))
Q = np.array([0.0, 0.25, 0.5, 0.6, 1.0], dtype=np.float32)

# (id, expression over (lib, *tensors), inputs)
CASES = [
    ("tril_", lambda L, x: x.tril_(-1), (F,)),
    ("triu_", lambda L, x: x.triu_(diagonal=1), (F,)),
    ("fill_diagonal_", lambda L, x: x.fill_diagonal_(7.0), (F,)),
    ("fill_diagonal_wrap", lambda L, x: L.zeros(7, 3).fill_diagonal_(2, wrap=True), (F,)),
    ("fill_diagonal_3d", lambda L, x: L.zeros(3, 3, 3).fill_diagonal_(2), (F,)),
    ("fill_diagonal_int", lambda L, x: x.fill_diagonal_(2.7), (INTS,)),
    ("sum_to_size", lambda L, x: x.sum_to_size(1, 4), (F,)),
    ("sum_to_size_tuple", lambda L, x: x.sum_to_size((3, 1)), (F,)),
    ("sum_to_size_lead", lambda L, x: x.sum_to_size(4), (INTS,)),
    ("sum_to_size_0d", lambda L, x: x.sum_to_size(()), (F,)),
    ("renorm", lambda L, x: x.renorm(2, 0, 1.5), (F,)),
    ("renorm_p1", lambda L, x: L.renorm(x, p=1, dim=1, maxnorm=1.0), (F,)),
    ("renorm_inf", lambda L, x: x.renorm(float("inf"), -1, 0.5), (F,)),
    ("renorm_", lambda L, x: x.renorm_(2, 0, 1.5), (F,)),
    ("gcd", lambda L, a, b: a.gcd(b), (INTS, EXPS)),
    ("gcd_int32", lambda L, a, b: L.gcd(a.int(), b), (INTS, EXPS)),
    ("gcd_", lambda L, a, b: a.int().gcd_(b), (INTS, EXPS)),
    ("lcm", lambda L, a, b: L.lcm(a, b), (INTS, EXPS)),
    ("lcm_", lambda L, a, b: a.lcm_(b), (INTS, EXPS)),
    ("ldexp", lambda L, x, e: x.ldexp(e), (F, EXPS)),
    ("ldexp_int", lambda L, a, e: L.ldexp(a, e), (INTS, EXPS)),
    ("ldexp_half", lambda L, x, e: x.half().ldexp(e), (F, EXPS)),
    ("ldexp_", lambda L, x, e: x.ldexp_(e), (F, EXPS)),
    ("real", lambda L, x: x.real + L.real(x), (F,)),
    ("conj_physical", lambda L, x: L.conj_physical(x) + x.resolve_neg(), (F,)),
    ("multiply_", lambda L, x: x.multiply_(2), (INTS,)),
    ("subtract_", lambda L, x, y: x.subtract_(y, alpha=2), (F, G)),
    ("true_divide_", lambda L, x, y: x.true_divide_(y), (F, G)),
    ("negative_", lambda L, x: x.negative_(), (INTS,)),
    ("logical_not_", lambda L, x: x.logical_not_(), (INTS,)),
    ("logical_not_float", lambda L, x: x.logical_not_(), (F,)),
] + [(f"{name}_", lambda L, x, y, name=name: getattr(x, name + "_")(y), (F, G))
     for name in ("eq", "ne", "ge", "gt", "le", "lt", "greater", "greater_equal", "less",
                  "less_equal", "not_equal")] + [
    ("lt_int_float", lambda L, a, x: a.lt_(x), (INTS, F)),
    ("eq_scalar", lambda L, a: a.eq_(3), (INTS,)),
    ("ge_broadcast", lambda L, x, y: x.ge_(y[0]), (F, G)),
    ("logical_and_", lambda L, x, a: x.logical_and_(a), (F, INTS)),
    ("logical_or_", lambda L, a, x: a.logical_or_(x), (INTS, F)),
    ("logical_xor_", lambda L, x, y: x.logical_xor_(y > 0), (F, G)),
] + [(f"quantile_{mode}", lambda L, x, q, mode=mode: L.quantile(x, q, dim=0, interpolation=mode),
      (F, Q)) for mode in ("linear", "lower", "higher", "midpoint", "nearest")] + [
    ("quantile_all", lambda L, x: x.quantile(0.3), (F,)),
    ("quantile_keepdim", lambda L, x, q: x.quantile(q, 1, True), (F, Q)),
    ("quantile_keepdim_all", lambda L, x, q: x.quantile(q, keepdim=True), (F, Q)),
    ("quantile_0d_q", lambda L, x, q: x.quantile(q[2], dim=-1), (F, Q)),
    ("quantile_double", lambda L, x: x.double().quantile(0.7, dim=1), (F,)),
    ("quantile_nan", lambda L, x, q: x.quantile(q, dim=1), (NAN, Q)),
    ("nanquantile", lambda L, x, q: x.nanquantile(q, dim=1), (NAN, Q)),
    ("nanquantile_nearest", lambda L, x, q: L.nanquantile(x, q, 0, interpolation="nearest"),
     (NAN, Q)),
    ("nanquantile_all", lambda L, x: x.nanquantile(0.5), (NAN,)),
]


def _run(L, fn, args):
    tensors = [L.tensor(a) for a in args]
    firsts = tensors[0]
    version = firsts._version
    out = fn(L, *tensors)
    return out, out is firsts, firsts._version - version


@pytest.mark.parametrize("name,fn,args", CASES, ids=[c[0] for c in CASES])
def test_against_torch(name, fn, args):
    got, got_self, got_bump = _run(tc, fn, args)
    want, want_self, want_bump = _run(torch, fn, args)
    assert_close(got, want, what=name)
    assert got_self == want_self, f"{name}: returns self tracecomp={got_self} | torch={want_self}"
    if want_self:
        assert (got_bump > 0) == (want_bump > 0), f"{name}: version not bumped"


GRAD_CASES = [
    ("quantile", lambda L, x: L.quantile(x, L.tensor([0.3, 0.7]), dim=1)),
    ("nanquantile_midpoint", lambda L, x: x.nanquantile(0.5, interpolation="midpoint")),
    ("renorm", lambda L, x: x.renorm(2, 0, 1.5)),
    ("sum_to_size", lambda L, x: x.sum_to_size(3, 1) * 2),
    ("ldexp", lambda L, x: x.ldexp(L.tensor([1.0, -2.0, 0.0, 3.0]))),
    ("eq_", lambda L, x: (x * 3).eq_(x) + x),
    ("tril_", lambda L, x: (x * 3).tril_()),
    ("fill_diagonal_", lambda L, x: (x * 3).fill_diagonal_(1.0)),
]


@pytest.mark.parametrize("name,fn", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients(name, fn):
    def grad(L):
        x = L.tensor(F, requires_grad=True)
        out = fn(L, x)
        seed = np.linspace(-1, 2, int(np.prod(out.shape)), dtype=np.float32)
        out.backward(L.tensor(seed.reshape(tuple(out.shape))))
        return x.grad
    assert_close(grad(tc), grad(torch), what=f"{name} gradient")


ERRORS = [
    lambda L: L.ones(3).tril_(),
    lambda L: L.zeros(3).fill_diagonal_(1),
    lambda L: L.zeros(3, 3, 2).fill_diagonal_(1),
    lambda L: L.ones(2, 2).quantile(1.3),
    lambda L: L.ones(2, 2).quantile(L.tensor([0.3, 1.2])),
    lambda L: L.ones(2, 2).quantile(0.3, interpolation="foo"),
    lambda L: L.ones(2, 2, dtype=L.int64).quantile(0.3),
    lambda L: L.ones(2, 2).quantile(L.tensor([[0.3]])),
    lambda L: L.ones(2, 2).quantile(L.tensor([0.3], dtype=L.float64)),
    lambda L: L.ones(2, 0).nanquantile(0.3),
    lambda L: L.ones(2, 3).sum_to_size(2, 2),
    lambda L: L.ones(2, 3).renorm(0, 0, 1),
    lambda L: L.ones(2, 3).renorm(2, 0, -5),
    lambda L: L.ones(3).renorm(2, 0, 1),
    lambda L: L.tensor([1.0]).gcd(L.tensor([2.0])),
    lambda L: L.tensor([True]).lcm(L.tensor([True])),
    lambda L: L.tensor([1]).gcd(2),
    lambda L: L.tensor([1]).ldexp_(L.tensor([2])),
    lambda L: L.tensor([1.0]).ldexp(L.tensor([True])),
    lambda L: L.tensor([1.0]).imag,
    lambda L: L.tensor([1.0]).logical_and_(True),
    lambda L: L.tensor([1, 2]).multiply_(1.5),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_torch(i):
    with pytest.raises(Exception) as want:
        ERRORS[i](torch)
    with pytest.raises(Exception) as got:
        ERRORS[i](tc)
    assert str(want.value).split("\n")[0] in str(got.value), \
        f"tracecomp={got.value!r} | torch={want.value!r}"
    assert isinstance(got.value, type(want.value)) or type(want.value) is RuntimeError


def test_real_accessors():
    x = tc.tensor(F)
    assert x.real is x and x.conj() is x and x.resolve_conj() is x and tc.conj_physical(x) is x
    assert x.conj_physical_() is x and not x.is_conj() and not tc.is_neg(x)
