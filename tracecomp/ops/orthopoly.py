"""The orthogonal polynomials of torch.special: chebyshev_polynomial_t/u/v/w, their shifted
forms, hermite_polynomial_h/he, laguerre_polynomial_l and legendre_polynomial_p, each p(x, n).

Binary primitives without a gradient (torch's outputs do not require grad). Each follows
torch's kernel step for step, so the values agree in float32 as in float64: n is truncated to
an integer (NaN and +-inf count as negative), n < 0 gives 0, the ends of the interval have
exact values, the Chebyshev kinds switch to their trigonometric form for large n inside
(-1, 1), and the rest is the three-term recurrence, which stops at the first NaN. One
difference: at x = NaN torch returns whatever its loop left uninitialized, NaN here.
"""
import numpy as np

from ..dispatch import bind
from .elementwise import binary
from .public import public
from .rules import no_kernel, promote_float, real_only


def _select(x, n, cases, q1, step, stop_at_nan=True):
    """The first of `cases` ([(condition, value)]) that holds, else p_n from p_0 = 1,
    p_1 = q1 and p_{j+1} = step(j, x, p_{j-1}, p_j): torch's loop, vectorized over the
    elements no case covers (each runs its own n - 1 steps; NaN where it runs none)."""
    conds = [c for c, _ in cases]
    todo = ~np.logical_or.reduce(conds)
    p, q = np.ones_like(x), q1.copy()
    r = np.full_like(x, np.nan)
    j = 1
    active = todo & (j < n) & ~(stop_at_nan & np.isnan(q))
    while active.any():
        new = step(j, x, p, q)
        r = np.where(active, new, r)
        p, q = np.where(active, q, p), np.where(active, new, q)
        j += 1
        active &= (j < n) & ~(stop_at_nan & np.isnan(q))
    return np.select(conds, [v for _, v in cases], r)


def _odd(n):
    return n % 2 == 1


def _sign_by_parity(n, value):
    return np.where(_odd(n), -value, value)


def _chebyshev_kind(kind, shifted, t, n, dtype):
    """The values of the Chebyshev kind `kind` in t = x (or 2x - 1, shifted) at t = +-1 and
    in the trigonometric form inside (-1, 1), as torch's kernel computes them."""
    one = np.ones_like(t)
    m = n.astype(dtype)
    acos = np.arccos(t)
    if kind == "t":
        ends = np.where((t > 0) | ~_odd(n), one, -one)
        return ends, np.cos(m * acos)
    if kind == "u":
        ends = np.where((t > 0) | ~_odd(n), m + 1, -(m + 1))
        sin = np.sin(acos)
        return ends, np.where(sin != 0, np.sin((m + 1) * acos) / sin,
                              (m + 1) * np.cos((m + 1) * acos) / t)
    if kind == "v":
        ends = np.where(t > 0, one, _sign_by_parity(n, m + m + 1))
        return ends, np.where(np.sin(acos / 2) != 1,
                              np.cos((m + 0.5) * acos) / np.cos(acos / 2),
                              _sign_by_parity(n, m + m + 1))
    ends = np.where(t > 0, m + m + 1, _sign_by_parity(n, one))
    # where cos(acos(t) / 2) rounds to 1 (t just below 1), shifted w takes the value at t = -1
    near_one = _sign_by_parity(n, one) if shifted else ends
    return ends, np.where(np.cos(acos / 2) != 1, np.sin((m + 0.5) * acos) / np.sin(acos / 2),
                          near_one)


# kind -> p_1(t); kind -> the n above which the trigonometric form is used inside (-1, 1),
# plain and shifted (torch's thresholds differ between the two)
_FIRST = {"t": lambda t: t, "u": lambda t: t + t, "v": lambda t: t + t - 1,
          "w": lambda t: t + t + 1}
_TRIG_FROM = {"t": 6, "u": 8, "v": 8, "w": 8}
_SHIFTED_TRIG_FROM = {"t": 6, "u": 6, "v": 6, "w": 4}


def _chebyshev(kind, shifted):
    def impl(x, n):
        t = x + x - 1 if shifted else x
        at_end = (x == 1) | (x == 0) if shifted else np.abs(x) == 1
        ends, trig = _chebyshev_kind(kind, shifted, t, n, x.dtype)
        inside = (n > (_SHIFTED_TRIG_FROM if shifted else _TRIG_FROM)[kind]) & (np.abs(t) < 1)
        q1 = _FIRST[kind](t)
        return _select(x, n, [(n < 0, 0), (at_end, ends), (inside, trig), (n == 0, 1),
                              (n == 1, q1)], q1, lambda j, x, p, q: (t + t) * q - p)
    return impl


def _hermite_h(x, n):
    limit = 128 if x.dtype == np.float32 else 512
    return _select(x, n, [(n < 0, 0), (n == 0, 1), (n == 1, x + x), (n > limit, np.nan)],
                   x + x, lambda j, x, p, q: (x + x) * q - (j + j) * p, stop_at_nan=False)


def _hermite_he(x, n):
    limit = 128 if x.dtype == np.float32 else 512
    return _select(x, n, [(n < 0, 0), (n == 0, 1), (n == 1, x), (n > limit, np.nan)],
                   x, lambda j, x, p, q: x * q - j * p, stop_at_nan=False)


def _laguerre(x, n):
    return _select(x, n, [(n < 0, 0), (x == 0, 1), (n == 0, 1), (n == 1, 1 - x)], 1 - x,
                   lambda j, x, p, q: (((j + j) + (1 - x)) * q - j * p) / (j + 1))


def _legendre(x, n):
    ends = np.where((x > 0) | ~_odd(n), 1, -1)
    return _select(x, n, [(n < 0, 0), (np.abs(x) == 1, ends), (n == 0, 1), (n == 1, x)], x,
                   lambda j, x, p, q: ((j + j + 1) * x * q - j * p) / (j + 1))


def _degree(x, n, dtype):
    """x in the result dtype, n as torch's kernel casts it: truncated to int64, and NaN,
    +-inf or past int64 (undefined in C; -2^63 on x86) negative."""
    x = np.asarray(x, dtype=dtype)
    n = np.asarray(n)
    if n.dtype.kind == "f":
        fits = np.isfinite(n) & (np.abs(n) < 2.0 ** 63)
        n = np.where(fits, np.trunc(np.where(fits, n, -1)), -1)
    return np.broadcast_arrays(x, n.astype(np.int64))


def _polynomial(name, fn):
    def impl(x, n):
        dtype = promote_float(x, n)
        x, n = _degree(x, n, dtype)
        with np.errstate(all="ignore"):
            return np.asarray(fn(x, n), dtype=dtype)
    impl.__name__ = name
    return binary(name, impl, None, real_only(promote_float, no_kernel(f"{name}_cpu")))


_IMPLS = {
    "hermite_polynomial_h": _hermite_h, "hermite_polynomial_he": _hermite_he,
    "laguerre_polynomial_l": _laguerre, "legendre_polynomial_p": _legendre,
}
for _kind in "tuvw":
    _IMPLS[f"chebyshev_polynomial_{_kind}"] = _chebyshev(_kind, False)
    _IMPLS[f"shifted_chebyshev_polynomial_{_kind}"] = _chebyshev(_kind, True)
PRIMS = {name: _polynomial(name, fn) for name, fn in _IMPLS.items()}


def _public(name):
    prim = PRIMS[name]

    def fn(input, n):
        return bind(prim, input, n)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.special.{name}(input, n) (no gradient, as torch's)."
    return public("torch.special")(fn)


for _name in _IMPLS:
    globals()[_name] = _public(_name)
