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
    prod, cumprod, scatter_reduce, matrix_exp, logcumsumexp, logaddexp: the primitive's
                   numpy impl on the parts viewed as complex, a host step (on_complex)
    gather, scatter_add, cumsum: the same primitive on the pairs, the index given a parts dim

The pair and the arithmetic rules are in ops/complex_algebra.py, the elementwise math (sin,
sqrt, pow, eq, ...) in ops/complex_math_parts.py; this module holds the rest (movement,
reductions, casts, matmul, fft) and the one table that registers them all.

A real operand of a complex op is promoted as torch promotes it (its imaginary part 0, so
inf * 0 gives torch's NaN too). Autodiff runs on the complex graph first, with the
primitives' own VJP rules (torch's conjugate Wirtinger convention), and its backward nodes
are rewritten the same way.
"""
import numpy as np

from ..dispatch import bind
from ..tensor import Tensor
from . import complex_algebra as ca
from . import elementwise as ew
from . import movement
from .complex import _as_complex, _as_real, complex_p, view_as_complex_p, view_as_real_p
from .complex_algebra import Pair, pack, parts
from .complex_math_parts import MATH_RULES
from .fft import fft_parts_p
from .linalg import matmul
from .reduce import reduce_sum_p
from .registry import PRIMITIVES, defprim


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


def _with_parts_dim(index):
    """An index of gather/scatter_add for the pairs: the same index for both parts."""
    shape = tuple(index.shape)
    return movement.expand(movement.reshape(index, shape + (1,)), shape + (2,))


def _cumsum(out, x, dim, reverse):
    """Each part's running sum; a 0-d value is its own (on its pair, dim 0 is the parts)."""
    if not out.shape:
        return Pair(bind(PRIMITIVES["copy"], x.p))
    return Pair(bind(PRIMITIVES["cumsum"], x.p, dim=dim, reverse=reverse))


def _gather(out, x, index, dim):
    return Pair(bind(PRIMITIVES["gather"], x.p, _with_parts_dim(index), dim=dim))


def _scatter_add(out, base, index, src, dim):
    return Pair(bind(PRIMITIVES["scatter_add"], _pair_of(base, out), _with_parts_dim(index),
                     _pair_of(src, out), dim=dim))


# --- products: a host step on the complex values -------------------------------------------
# A complex product is a chain of complex multiplications, each needing both parts of the
# running value: no per-part form. An LLVM tree of them made compile time explode (a
# 256x1024 prod did not compile in 120 s), so the compiled form runs the primitive's own
# numpy impl between native kernels, on the parts viewed as complex (free views both ways):
# the same numbers as eager. Operands that are not pairs (scatter_reduce's index) go as
# they are; `pairs` says which are. After autodiff only (the backward comes from the
# primitive's own VJP, on complex values): no VJP of its own.
def _on_complex_impl(*args, primitive, pairs, **params):
    # (asarray order="C", not ascontiguousarray: that makes a 0-d array 1-d)
    values = [_as_complex(np.asarray(a, order="C")) if pair else a
              for a, pair in zip(args, pairs)]
    return _as_real(np.asarray(PRIMITIVES[primitive].impl(*values, **params), order="C"))


def _on_complex_shape(*shapes, primitive, pairs, **params):
    inner = [tuple(s[:-1]) if pair else tuple(s) for s, pair in zip(shapes, pairs)]
    return tuple(PRIMITIVES[primitive].shape(*inner, **params)) + (2,)


def _on_complex_dtype(*args, pairs, **_):
    """the parts' float dtype: the first pair's"""
    return np.dtype(args[pairs.index(True)].dtype)


on_complex_p = defprim("on_complex", _on_complex_impl, _on_complex_shape, _on_complex_dtype,
                       None, (), saves=())


def _host_step(out, *args, **params):
    """The node's primitive on its operands viewed as complex (an index stays as it is)."""
    pairs = tuple(isinstance(a, Pair) for a in args)
    return Pair(bind(on_complex_p, *[a.p if isinstance(a, Pair) else a for a in args],
                     primitive=out.op, pairs=pairs, **params))


def _same(params, ndim):
    return params


RULES = {
    "add": ca.add, "sub": ca.sub, "mul": ca.mul, "div": ca.div, "neg": ca.neg,
    "conj": ca.conj, "exp": ca.exp, "log": ca.log, "sign": ca.sign, "where": _where,
    "cast": _cast,
    "complex": _complex, "real": _real_part(0), "imag": _real_part(1), "abs": _abs,
    "angle": _angle, "matmul": _matmul, "full": _full, "pad": _pad,
    "view_as_real": lambda out, x: x.p,
    "view_as_complex": lambda out, x: Pair(x),
    "index": _index, "index_put": _index_put,
    "fft_c2c": _fft, "fft_r2c": _fft, "fft_c2r": _fft,
    "copy": _on_pairs(_same),
    "detach": _on_pairs(_same),
    "reduce_sum": _on_pairs(_same),         # dims are non-negative: the parts dim is not one
    "cumsum": _cumsum, "gather": _gather, "scatter_add": _scatter_add,
    "reduce_prod": _host_step, "cumprod": _host_step, "scatter_reduce": _host_step,
    "linalg_matrix_exp": _host_step, "logcumsumexp": _host_step, "logaddexp_complex": _host_step,
    "flip": _on_pairs(_same),
    "concat": _on_pairs(_same),
    "reshape": _on_pairs(lambda p, n: {"shape": tuple(p["shape"]) + (2,)}),
    "expand": _on_pairs(lambda p, n: {"shape": tuple(p["shape"]) + (2,)}),
    "permute": _on_pairs(lambda p, n: {"dims": tuple(p["dims"]) + (n,)}),
    "slice": _on_pairs(lambda p, n: {"starts": tuple(p["starts"]) + (0,),
                                     "stops": tuple(p["stops"]) + (2,),
                                     "steps": tuple(p["steps"]) + (1,)}),
    **MATH_RULES,       # sin, sqrt, pow, eq, ... (ops/complex_math_parts.py)
}
for _name, _rule in RULES.items():
    PRIMITIVES[_name].complex_rule = _rule
# (view_as_real/view_as_complex/complex are this module's reason to exist: keep them named)
assert {complex_p.name, view_as_real_p.name, view_as_complex_p.name,
        reduce_sum_p.name} <= RULES.keys()
