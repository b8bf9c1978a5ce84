"""Complex values as pairs of reals, for compiled code: per primitive, how its complex form
is computed with real primitives on view_as_real's layout.

No backend has complex kernels. passes/complex_parts.py rewrites a graph's complex values
into real tensors with a trailing dim of 2 (`[..., 0]` the real part, `[..., 1]` the
imaginary part: the memory of a complex array, so a complex input is a free view and
view_as_real / view_as_complex cost nothing), calling the rule of each node that touches a
complex value. A rule runs on tensors standing for graph values (as VJP rules do), so the
real primitives it calls are recorded with their own shape and dtype rules.

A primitive with a rule here may take complex values inside tracecomp.compile; the tracer
refuses one without (a graph break naming the op), so a missing rule never computes a
wrong number. Rules are written once per primitive, from the algebra of the parts:

    mul:   (a + bi)(c + di) = (ac - bd) + (ad + bc)i
    div:   (a + bi)/(c + di) = ((ac + bd) + (bc - ad)i) / (c^2 + d^2)
    exp:   e^(a + bi) = e^a cos b + i e^a sin b
    abs:   hypot(a, b);  angle: atan2(b, a);  conj: a - bi
    fft:   numpy's FFT on views of the parts, a host step (fft_parts)

A real operand of a complex op is promoted as torch promotes it (its imaginary part 0, so
inf * 0 gives torch's NaN too). Autodiff runs on the complex graph first, with the
primitives' own VJP rules (torch's conjugate Wirtinger convention), and its backward nodes
are rewritten the same way.
"""
import numpy as np

from ..creation import full_p
from ..dispatch import bind
from ..tensor import Tensor
from . import elementwise as ew
from . import movement
from .complex import _last_part, complex_p, view_as_complex_p, view_as_real_p
from .fft import fft_parts_p
from .linalg import matmul
from .reduce import reduce_sum_p
from .registry import PRIMITIVES

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


# --- elementwise, from the parts -------------------------------------------------------------
def _add(out, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ar + br, ai + bi, out.shape, out.real)


def _sub(out, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ar - br, ai - bi, out.shape, out.real)


def _mul(out, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ar * br - ai * bi, ar * bi + ai * br, out.shape, out.real)


def _div(out, a, b):
    """Smith's division, as torch's complex kernels divide: scaled by the larger part of the
    divisor, so that |b|^2 does not overflow (float32 from |b| ~ 1e19); a zero divisor gives
    (re a / 0, im a / 0)."""
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    br, bi = (_tensor(v, out.real) for v in (br, bi))
    wide = ew.abs(br) >= ew.abs(bi)
    rat = ew.where(wide, bi / br, br / bi)
    scl = 1.0 / ew.where(wide, br + bi * rat, bi + br * rat)
    re = ew.where(wide, ar + ai * rat, ar * rat + ai) * scl
    im = ew.where(wide, ai - ar * rat, ai * rat - ar) * scl
    zero = ew.logical_and(br == 0, bi == 0)
    return pack(ew.where(zero, ar / ew.abs(br), re), ew.where(zero, ai / ew.abs(bi), im),
                out.shape, out.real)


def _tensor(v, dtype):
    return v if isinstance(v, Tensor) else bind(full_p, shape=(), value=v, dtype=dtype)


def _neg(out, x):
    return Pair(-x.p)


def _conj(out, x):
    re, im = parts(x, out.real)
    return pack(re, -im, out.shape, out.real)


def _exp(out, x):
    re, im = parts(x, out.real)
    size = ew.exp(re)
    return pack(size * ew.cos(im), size * ew.sin(im), out.shape, out.real)


def _log(out, x):
    re, im = parts(x, out.real)
    return pack(ew.log(ew.hypot(re, im)), ew.atan2(im, re), out.shape, out.real)


def _sign(out, x):
    """torch's sgn: z / |z|, 0 at 0."""
    re, im = parts(x, out.real)
    size = ew.hypot(re, im)
    zero = size == 0
    safe = ew.where(zero, 1.0, size)
    return pack(ew.where(zero, 0.0, re / safe), ew.where(zero, 0.0, im / safe), out.shape,
                out.real)


def _where(out, cond, a, b):
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(ew.where(cond, ar, br), ew.where(cond, ai, bi), out.shape, out.real)


def _cast(out, x, dtype):
    if out.dtype.kind == "b":       # a complex value is true where either part is nonzero
        re, im = parts(x, x.p._data.dtype)
        return ew.logical_or(re != 0, im != 0)
    if out.dtype.kind != "c":       # complex -> real keeps the real part (eager warned)
        return ew.cast(parts(x, x.p._data.dtype)[0], dtype)
    re, im = parts(x, out.real)
    return pack(re, im, out.shape, out.real)


def _complex(out, real, imag):
    return pack(real, imag, out.shape, out.real)


def _real_part(k):
    def rule(out, x):
        return parts(x, out.dtype)[k]
    return rule


def _abs(out, x):
    return ew.hypot(*parts(x, out.dtype))


def _angle(out, x):
    re, im = parts(x, out.dtype)
    return ew.atan2(im, re)


def _matmul(out, a, b):
    """(A + iB)(C + iD) = (AC - BD) + i(AD + BC) (torch's matmul takes no real operand
    beside a complex one)."""
    (ar, ai), (br, bi) = parts(a, out.real), parts(b, out.real)
    return pack(matmul(ar, br) - matmul(ai, bi), matmul(ar, bi) + matmul(ai, br), out.shape,
                out.real)


def _full(out, shape, value, dtype):
    return pack(complex(value).real, complex(value).imag, out.shape, out.real)


# --- movement and reductions: the same primitive on the pairs, the parts dim left alone ------
def _pair_of(a, out):
    """An operand of a movement op as a (..., 2) tensor (a real one or a number: imaginary
    part 0)."""
    if isinstance(a, Pair):
        return a.p
    return pack(*parts(a, out.real), tuple(a.shape) if isinstance(a, Tensor) else (),
                out.real).p


def _on_pairs(params_for):
    """A rule that applies the node's own primitive to its operands' pairs, its params
    extended to the parts dim by params_for(params, ndim)."""
    def rule(out, *args, **params):
        pairs = [_pair_of(a, out) for a in args]
        return Pair(bind(PRIMITIVES[out.op], *pairs, **params_for(params, len(out.shape))))
    return rule


def _index(out, x, *idxs, key):
    """x[key]: the key indexes the leading dims, so the parts dim, a trailing full slice,
    stays last whether the index tensors' dims go first or in place (numpy's rule)."""
    return Pair(bind(PRIMITIVES["index"], x.p, *idxs, key=key))


def _index_put(out, base, values, *idxs, key, accumulate):
    return Pair(bind(PRIMITIVES["index_put"], _pair_of(base, out), _pair_of(values, out),
                     *idxs, key=key, accumulate=accumulate))


def _pad(out, x, config, value):
    value = complex(value)
    if value == 0:
        return Pair(movement.pad(x.p, tuple(config) + ((0, 0, 0),), 0.0))
    re, im = parts(x, out.real)
    return pack(movement.pad(re, config, value.real), movement.pad(im, config, value.imag),
                out.shape, out.real)


def _fft(out, x, **params):
    """A transform of parts, by numpy's FFT as a host step (ops/fft.py: fft_parts)."""
    y = bind(fft_parts_p, x.p if isinstance(x, Pair) else x, transform=out.op, **params)
    return Pair(y) if out.dtype.kind == "c" else y


def _same(params, ndim):
    return params


RULES = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "neg": _neg, "conj": _conj,
    "exp": _exp, "log": _log, "sign": _sign, "where": _where, "cast": _cast,
    "complex": _complex, "real": _real_part(0), "imag": _real_part(1), "abs": _abs,
    "angle": _angle, "matmul": _matmul, "full": _full, "pad": _pad,
    "view_as_real": lambda out, x: x.p,
    "view_as_complex": lambda out, x: Pair(x),
    "index": _index, "index_put": _index_put,
    "fft_c2c": _fft, "fft_r2c": _fft, "fft_c2r": _fft,
    "copy": _on_pairs(_same),
    "detach": _on_pairs(_same),
    "reduce_sum": _on_pairs(_same),         # dims are non-negative: the parts dim is not one
    "flip": _on_pairs(_same),
    "concat": _on_pairs(_same),
    "reshape": _on_pairs(lambda p, n: {"shape": tuple(p["shape"]) + (2,)}),
    "expand": _on_pairs(lambda p, n: {"shape": tuple(p["shape"]) + (2,)}),
    "permute": _on_pairs(lambda p, n: {"dims": tuple(p["dims"]) + (n,)}),
    "slice": _on_pairs(lambda p, n: {"starts": tuple(p["starts"]) + (0,),
                                     "stops": tuple(p["stops"]) + (2,),
                                     "steps": tuple(p["steps"]) + (1,)}),
}
for _name, _rule in RULES.items():
    PRIMITIVES[_name].complex_rule = _rule
# (view_as_real/view_as_complex/complex are this module's reason to exist: keep them named)
assert {complex_p.name, view_as_real_p.name, view_as_complex_p.name,
        reduce_sum_p.name} <= RULES.keys()
