"""Complex elementwise math inside tracecomp.compile (ops/complex_math_parts.py), against
torch on complex64 and complex128.

One table of unary cases and one of binary cases drive every check: the compiled values
(fullgraph=True, so a graph break fails) on random points of many scales and on a grid of
special values (signed zeros, infinities and NaN in each part: the branch cuts of sqrt,
log and the inverse functions along the axes included), the eager values on the random
points, and the gradients of a real loss, compiled and eager, against torch's (its
conjugate Wirtinger convention). Comparisons and predicates (eq, ne, isnan, logical
ops) must give torch's booleans exactly. An op still without a compiled form on complex
values keeps its clear error.
"""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

DTYPES = ("complex64", "complex128")

# name -> f(lib, z): one complex operand
UNARY = {
    "sin": lambda lib, z: lib.sin(z),
    "cos": lambda lib, z: lib.cos(z),
    "tan": lambda lib, z: lib.tan(z),
    "sinh": lambda lib, z: lib.sinh(z),
    "cosh": lambda lib, z: lib.cosh(z),
    "tanh": lambda lib, z: lib.tanh(z),
    "asin": lambda lib, z: lib.asin(z),
    "acos": lambda lib, z: lib.acos(z),
    "atan": lambda lib, z: lib.atan(z),
    "asinh": lambda lib, z: lib.asinh(z),
    "acosh": lambda lib, z: lib.acosh(z),
    "atanh": lambda lib, z: lib.atanh(z),
    "sqrt": lambda lib, z: lib.sqrt(z),
    "rsqrt": lambda lib, z: lib.rsqrt(z),
    "reciprocal": lambda lib, z: lib.reciprocal(z),
    "exp": lambda lib, z: lib.exp(z),
    "expm1": lambda lib, z: lib.expm1(z),
    "exp2": lambda lib, z: lib.exp2(z),
    "log": lambda lib, z: lib.log(z),
    "log1p": lambda lib, z: lib.log1p(z),
    "log2": lambda lib, z: lib.log2(z),
    "log10": lambda lib, z: lib.log10(z),
    "sigmoid": lambda lib, z: lib.sigmoid(z),
    "sinc": lambda lib, z: lib.sinc(z),
    "pow_0": lambda lib, z: z ** 0,
    "pow_1": lambda lib, z: z ** 1,
    "pow_2": lambda lib, z: z ** 2,
    "pow_3": lambda lib, z: z ** 3.0,
    "pow_minus_2": lambda lib, z: z ** -2,
    "pow_half": lambda lib, z: z ** 0.5,
    "pow_minus_half": lambda lib, z: lib.pow(z, -0.5),
    "pow_minus_1": lambda lib, z: z ** -1,
    "pow_2.5": lambda lib, z: z ** 2.5,
    "pow_complex_number": lambda lib, z: z ** (0.5 - 1j),
    "number_pow": lambda lib, z: 2 ** z,
    "negative_number_pow": lambda lib, z: (-1.5) ** z,
}

# name -> f(lib, a, b): two complex operands (some use only a part of one)
BINARY = {
    "pow_tensors": lambda lib, a, b: a ** b,
    "real_tensor_pow": lambda lib, a, b: a.real ** b,
    "pow_real_tensor": lambda lib, a, b: a ** b.imag,
    "sin_times_sqrt": lambda lib, a, b: lib.sin(a) * lib.sqrt(b) + lib.tanh(a / b),
}


def _points(dtype, n=400, seed=0):
    """Random complex values whose parts span 1e-6 .. 30 in size, each sign."""
    rng = np.random.default_rng(seed)
    size = 10.0 ** rng.uniform(-6, 1.5, (n, 2))
    parts = rng.standard_normal((n, 2)) * size
    return (parts[:, 0] + 1j * parts[:, 1]).astype(dtype)


def _specials(dtype):
    """Every pair of parts from signed zeros, +-0.5, +-1, 2, -3, +-30, 100, +-inf and NaN,
    and float32's pi/2, 95 and 711 (where sinh overflows but sinh(y) cos(pi/2) need not)."""
    s = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, 30.0, -30.0, 100.0, np.inf, -np.inf,
         np.nan, float(np.float32(np.pi / 2)), 95.0, 711.0]
    return np.array([complex(a, b) for a in s for b in s], dtype)


def _eps(dtype):
    return np.finfo(np.dtype(dtype)).eps


def _assert_like_torch(got, want, dtype, what, ulps=64, scale=1.0, signed_zeros=True):
    """got equals torch's want to `ulps` units (times `scale`, per element) of the size of
    the result's finite parts, and exactly where a part is NaN, infinite or (unless
    signed_zeros is False) a signed zero."""
    g = tc.view_as_real(got).numpy().astype(np.float64)
    w = torch.view_as_real(want).numpy().astype(np.float64)
    special = ~np.isfinite(w) | (w == 0)
    same = g == w
    if signed_zeros:
        same &= (w != 0) | (np.signbit(g) == np.signbit(w))
    same |= np.isnan(g) & np.isnan(w)
    size = np.hypot(*np.moveaxis(np.where(np.isfinite(w), w, 0), -1, 0))[..., None]
    tol = ulps * _eps(dtype) * size * np.asarray(scale)[..., None]
    with np.errstate(invalid="ignore"):
        near = np.abs(g - w) <= tol + np.finfo(np.dtype(dtype)).tiny
    ok = np.where(special, same, near).all(-1)
    if not ok.all():
        k = np.argwhere(~ok)[0][0]
        raise AssertionError(f"{what}: element {k}: tracecomp={tuple(g[k])} | "
                             f"torch={tuple(w[k])} ({(~ok).sum()} of {ok.size} off)")


def _exponent_scale(power):
    """1 + |w| for a result exp(w): its rounding error grows with |w| (power: w as
    computed from the operands in float64; infinities and NaN count as 1)."""
    with np.errstate(all="ignore"):
        size = np.abs(power)
    return 1 + np.where(np.isfinite(size), size, 0)


# name -> the w of a unary case whose result is exp(w), for its tolerance
EXPONENTS = {
    "exp": lambda z: z, "exp2": lambda z: z * np.log(2), "sigmoid": lambda z: -z,
    "pow_2.5": lambda z: 2.5 * np.log(z), "pow_complex_number": lambda z: (0.5 - 1j) * np.log(z),
    "number_pow": lambda z: z * np.log(2), "negative_number_pow": lambda z: z * np.log(-1.5 + 0j),
}
EXPONENTS.update({k: (lambda z: z) for k in ("sinh", "cosh", "sin", "cos", "tan", "tanh")})


def _compiled(fn):
    return tc.compile(lambda *args: fn(tc, *args), fullgraph=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_are_torchs(name, dtype):
    fn = UNARY[name]
    for what, z in (("random", _points(dtype)), ("specials", _specials(dtype))):
        want = fn(torch, torch.tensor(z))
        got = _compiled(fn)(tc.tensor(z))
        assert got.dtype == getattr(tc, dtype)
        with np.errstate(all="ignore"):
            power = EXPONENTS.get(name, lambda z: 0 * z)(z.astype(np.complex128))
        scale = _exponent_scale(power)
        _assert_like_torch(got, want, dtype, f"{name} {dtype} compiled, {what}", scale=scale)
        if what == "random":        # (numpy's special values differ in places)
            _assert_like_torch(fn(tc, tc.tensor(z)), want, dtype, f"{name} {dtype} eager",
                               scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_values_are_torchs(name, dtype):
    fn = BINARY[name]
    a, b = _points(dtype, seed=1), _points(dtype, seed=2)
    grid = _specials(dtype)
    pairs = (("random", a, b), ("specials", np.repeat(grid, 3), np.tile(a[:3], grid.size)),
             ("specials as exponent", np.tile(a[:3], grid.size), np.repeat(grid, 3)))
    for what, x, y in pairs:
        want = fn(torch, torch.tensor(x), torch.tensor(y))
        got = _compiled(fn)(tc.tensor(x), tc.tensor(y))
        with np.errstate(all="ignore"):
            scale = _exponent_scale(y.astype(np.complex128) * np.log(x.astype(np.complex128)))
        _assert_like_torch(got, want, dtype, f"{name} {dtype} compiled, {what}", scale=scale)


def _moderate(dtype, n, seed):
    """Points with parts of size 0.3 .. 2, away from the ops' poles and branch points."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.3, 2.0, (n, 2)) * rng.choice([-1, 1], (n, 2))
    return (size[:, 0] + 1j * size[:, 1]).astype(dtype)


def _gradients(lib, fn, arrays, weights, compiled):
    leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
    f = _compiled(fn) if compiled else (lambda *args: fn(lib, *args))
    out = f(*leaves)
    # a real loss through both the parts (times complex weights) and the modulus
    ((out * lib.tensor(weights)).real.sum() + out.abs().sum()).backward()
    return [x.grad for x in leaves]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY) + sorted(BINARY))
def test_gradients_are_torchs(name, dtype):
    fn = UNARY.get(name) or BINARY[name]
    count = 1 if name in UNARY else 2
    arrays = [_moderate(dtype, 64, seed) for seed in range(count)]
    weights = _moderate(dtype, 64, 7)
    want = _gradients(torch, fn, arrays, weights, compiled=False)
    for how in ("compiled", "eager"):
        got = _gradients(tc, fn, arrays, weights, compiled=how == "compiled")
        for k, (g, w) in enumerate(zip(got, want)):
            _assert_like_torch(g, w, dtype, f"{name} {dtype} {how} gradient of operand {k}",
                               ulps=256, signed_zeros=False)


# name -> f(lib, a, b) giving booleans
PREDICATES = {
    "eq": lambda lib, a, b: a == b,
    "ne": lambda lib, a, b: lib.ne(a, b),
    "eq_real_tensor": lambda lib, a, b: a == b.real,
    "ne_number": lambda lib, a, b: a != (1 - 2j),
    "eq_real_number": lambda lib, a, b: lib.eq(a, 0.5),
    "isnan": lambda lib, a, b: lib.isnan(a),
    "isinf": lambda lib, a, b: lib.isinf(b),
    "isfinite": lambda lib, a, b: lib.isfinite(a),
    "logical_not": lambda lib, a, b: lib.logical_not(a),
    "logical_and": lambda lib, a, b: lib.logical_and(a, b),
    "logical_or_real": lambda lib, a, b: lib.logical_or(a, b.real),
    "logical_xor": lambda lib, a, b: lib.logical_xor(a, b),
    "isclose": lambda lib, a, b: lib.isclose(a, b * (1 + 1e-7), equal_nan=True),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_comparisons_and_predicates_are_torchs(name, dtype):
    grid = _specials(dtype)
    a = np.concatenate([grid, grid, [1 - 2j, 0.5, 0.5j]]).astype(dtype)
    b = np.concatenate([grid, grid[::-1], [1 - 2j, 0.5 + 0j, 0.5]]).astype(dtype)
    fn = PREDICATES[name]
    want = fn(torch, torch.tensor(a), torch.tensor(b))
    got = _compiled(fn)(tc.tensor(a), tc.tensor(b))
    assert_close(got, want, what=f"{name} {dtype}")


def test_complex_and_real_dtypes_promote_as_torchs():
    """complex64 ** a float64 tensor is complex128; eq compares in the promoted dtype (a
    complex64 value and its complex128 neighbour differ), an integer tensor with a complex
    number in the default complex dtype."""
    z = _points("complex64", 16, seed=3)
    r = np.random.default_rng(4).uniform(0.5, 2.0, 16)
    want = torch.tensor(z) ** torch.tensor(r)
    got = _compiled(lambda lib, a, b: a ** b)(tc.tensor(z), tc.tensor(r))
    assert got.dtype == tc.complex128
    _assert_like_torch(got, want, "complex128", "complex64 ** float64")
    near = z.astype(np.complex128)
    near[::2] += 1e-12
    want = torch.tensor(z) == torch.tensor(near)
    got = _compiled(lambda lib, a, b: a == b)(tc.tensor(z), tc.tensor(near))
    assert want.any() and not want.all()
    assert_close(got, want, what="complex64 == complex128")
    # an integer tensor against a complex number, in a graph that holds complex values
    def mixed(lib, n, a):
        return n == 2 + 0j, lib.logical_or(n, a), a * 2
    n = np.arange(16)
    want = mixed(torch, torch.tensor(n), torch.tensor(z))
    got = _compiled(mixed)(tc.tensor(n), tc.tensor(z))
    for what, g, w in zip(("int == 2+0j", "logical_or(int, complex)"), got, want):
        assert_close(g, w, what=what)


def test_an_op_still_without_a_compiled_form_names_itself():
    z = tc.tensor(np.array([1 + 2j, 3 - 1j, 2, -1j], np.complex64)).reshape(1, 1, 2, 2)
    unfold = tc.nn.functional.unfold
    with pytest.raises(tc.TraceError, match=r"unfold: .*complex64.*no compiled form for "
                                            r"complex values; run this part eagerly"):
        tc.compile(lambda z: unfold(tc.sin(z), 1), fullgraph=True)(z)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = tc.compile(lambda z: unfold(tc.sin(z), 1))(z)
    assert any("graph break" in str(w.message) for w in caught)
    assert got.tolist() == unfold(tc.sin(z), 1).tolist()
