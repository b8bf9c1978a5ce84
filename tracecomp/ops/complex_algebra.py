"""Complex values as pairs of reals: the pair itself (`Pair`), reading an operand's parts
(`parts`) and packing parts back into a pair (`pack`), and the rules of the arithmetic that
the other complex rules are written with (add, sub, mul, div, neg, conj, exp, log, sgn).

A rule takes `out` (what it knows of the node it replaces: op, shape, dtype and `real`, the
real dtype of its parts) and the node's operands: a Pair for a complex value, a real tensor,
or a Python number; it returns a Pair for a complex result, else a real tensor. The rules
are registered on their primitives by ops/complex_parts.py, which says how the parts are
laid out and why.
"""
import numpy as np

from ..creation import full_p
from ..dispatch import bind
from ..tensor import Tensor
from . import elementwise as ew
from . import movement
from .complex import _last_part

_FIRST = np.array([True, False])      # along the parts dim: is this the real part?
_FIRST.flags.writeable = False


class Pair:
    """A complex value held as its parts: `p`, a real tensor of shape (..., 2), and, when a
    rule built it from them, `halves`: those parts, so that the next rule reads them
    directly (conj then mul: no round trip through the (..., 2) layout)."""

    __slots__ = ("halves", "p")

    def __init__(self, p, halves=None):
        self.p, self.halves = p, halves


def parts(x, real_dtype):
    """(real part, imaginary part) of an operand: tensors, or Python floats for a number
    (and the 0.0 imaginary part of a real operand)."""
    if isinstance(x, Pair):
        halves = x.halves or tuple(_last_part(x.p, k) for k in (0, 1))
        return tuple(_as(h, real_dtype) for h in halves)
    if isinstance(x, Tensor):
        return _as(x, real_dtype), 0.0
    return float(x.real), float(x.imag)


def _as(t, dtype):
    return t if t._data.dtype == dtype else ew.cast(t, dtype)


def pack(re, im, shape, real_dtype):
    """The Pair of parts re and im (tensors or numbers), broadcast to `shape`: one
    elementwise where(parts dim is 0, re, im), which fuses with what computes the parts (a
    concat would not: it has no llvm kernel), and keeps each part's bits (-0.0 too)."""
    halves = []
    for part in (re, im):
        if not isinstance(part, Tensor):
            part = bind(full_p, shape=(), value=part, dtype=real_dtype)
        halves.append(movement.expand(_as(part, real_dtype), tuple(shape)))
    p = ew.where(Tensor._make(_FIRST), *(_unsqueezed(h) for h in halves))
    return Pair(p, tuple(halves))


def _unsqueezed(x):
    """x with a trailing dim of 1, to broadcast against a pair's parts dim."""
    return movement.reshape(x, tuple(x.shape) + (1,)) if isinstance(x, Tensor) else x


# --- arithmetic, from the parts -------------------------------------------------------------
def add(out, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ar + br, ai + bi, out.shape, out.real)


def sub(out, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ar - br, ai - bi, out.shape, out.real)


def mul(out, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ar * br - ai * bi, ar * bi + ai * br, out.shape, out.real)


def div(out, a, b):
    """Smith's division, as torch's complex kernels divide: scaled by the larger part of the
    divisor, so that |b|^2 does not overflow (float32 from |b| ~ 1e19); a zero divisor gives
    (re a / 0, im a / 0)."""
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    br, bi = (scalar(v, out.real) for v in (br, bi))
    wide = ew.abs(br) >= ew.abs(bi)
    rat = ew.where(wide, bi / br, br / bi)
    scl = 1.0 / ew.where(wide, br + bi * rat, bi + br * rat)
    re = ew.where(wide, ar + ai * rat, _plus(ar * rat, ai)) * scl
    im = ew.where(wide, ai - ar * rat, ai * rat - ar) * scl
    zero = ew.logical_and(br == 0, bi == 0)
    return pack(ew.where(zero, ar / ew.abs(br), re), ew.where(zero, ai / ew.abs(bi), im),
                out.shape, out.real)


def _plus(v, w):
    """v + w, where w may be the number 0 (a real operand's imaginary part): then spelled
    out as the sum's -0.0 -> +0.0, which the simplifier's `x + 0 -> x` would drop (1 / -2i
    is +0 + 0.5i, as torch divides)."""
    if isinstance(w, Tensor) or w != 0:
        return v + w
    return ew.where(v == 0, 0.0, v)


def scalar(v, dtype):
    return v if isinstance(v, Tensor) else bind(full_p, shape=(), value=v, dtype=dtype)


def neg(out, x):
    return Pair(-x.p)


def conj(out, x):
    re, im = parts(x, out.real)
    return pack(re, -im, out.shape, out.real)


def exp(out, x):
    """cexp: e^a cos b + i e^a sin b, with the C library's answers where that product
    would be NaN: a zero b stays (e^a may be inf), and for b inf or NaN, e^(+inf + ib) is
    inf + i NaN and e^(-inf + ib) is +0 +- 0i (b's sign). Where e^a overflows (a above
    log of the largest float) but e^a sin b need not, e^(a/2) scales twice."""
    re, im = parts(x, out.real)
    cos, sin = ew.cos(im), ew.sin(im)
    size, half = ew.exp(re), ew.exp(re * 0.5)
    high = re > (88.0 if out.real.itemsize < 8 else 709.0)
    cos = ew.where(high, half * cos * half, size * cos)
    sin = ew.where(high, half * sin * half, size * sin)
    odd = ew.logical_or(ew.isnan(im), ew.isinf(im))
    up, down = ew.logical_and(odd, re == float("inf")), ew.logical_and(odd, re == -float("inf"))
    cos = ew.where(up, float("inf"), ew.where(down, 0.0, cos))
    sin = ew.where(down, ew.copysign(scalar(0.0, out.real), im), sin)
    return pack(cos, ew.where(im == 0, im, sin), out.shape, out.real)


def log(out, x):
    re, im = parts(x, out.real)
    return pack(_log_size(re, im), ew.atan2(im, re), out.shape, out.real)


def _log_size(x, y):
    """log|z|. Near |z| = 1 the result is near 0 and log(hypot(x, y)) would keep only the
    digits of |z| - 1 that hypot rounded (hundreds of ulp; the C library's clog does not
    lose them, and log1p(z) = log(1 + z) * ... needs them), so there it is
    log1p(x^2 + y^2 - 1) / 2."""
    size = ew.hypot(x, y)
    near = ew.logical_and(size > 0.5, size < 2.0)
    half = ew.log1p(unit_gap(x, y)) * 0.5
    return ew.where(near, ew.cast(half, x._data.dtype), ew.log(size))


def unit_gap(x, y):
    """x^2 + y^2 - 1 without losing its digits near the unit circle: for float32 parts in
    float64 (the squares exact, one rounding; the result is float64), for float64 parts as
    (a - 1)(a + 1) + b^2, a = max(|x|, |y|) (a - 1 exact for a in [1/2, 2]), which still
    cancels where a^2 - 1 is near -b^2."""
    a, b = ew.maximum(ew.abs(x), ew.abs(y)), ew.minimum(ew.abs(x), ew.abs(y))
    if x._data.dtype.itemsize < 8:
        a, b = ew.cast(a, np.float64), ew.cast(b, np.float64)
        return (a * a - 1.0) + b * b
    return (a - 1.0) * (a + 1.0) + b * b


def sign(out, x):
    """torch's sgn: z / |z|, 0 at 0."""
    re, im = parts(x, out.real)
    size = ew.hypot(re, im)
    zero = size == 0
    safe = ew.where(zero, 1.0, size)
    return pack(ew.where(zero, 0.0, re / safe), ew.where(zero, 0.0, im / safe), out.shape,
                out.real)
