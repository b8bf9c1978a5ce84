"""Scan primitives: running sum, product and log-sum-exp along one dim, and the running
argmax/argmin that cummax/cummin take their values from (by gather, so the gradient goes to
the index torch picks, as torch's own backward does). Also complex logaddexp, the step of
complex logcumsumexp (torch's _log_add_exp_helper; real logaddexp is a composite).

`reverse=True` scans from the end of the dim: it is the VJP of the forward scan, so no
flip is needed in backward graphs. None of these has an llvm lowering: in compiled code
for the CPU each runs as one numpy step (the CUDA backend has kernels for them).
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind, needs
from ..dtypes import np_kind
from ..errors import ShapeError, fmt_shape
from ..memory_format import row_major
from . import numpy_impls
from .registry import defprim
from .rules import broadcast_rule, promote


def _scan_rule(op):
    def rule(x, dim, **_):
        if not 0 <= dim < max(len(x), 1):
            raise ShapeError(f"{op}: dim {dim} out of range for an input of shape {fmt_shape(x)}")
        return tuple(x)
    return rule


def _accumulate(ufunc, x, dim, reverse, dtype=None):
    x = np.asarray(x)
    if x.ndim == 0:
        return np.asarray(x, dtype=dtype or x.dtype)
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)       # bools and small ints: numpy's add on bools is an `or`
    if reverse:
        return np.flip(ufunc.accumulate(np.flip(x, dim), axis=dim), dim).copy()
    return row_major(ufunc.accumulate(x, axis=dim))     # torch's is, whatever x's order


def _widen(x, **_):
    """torch: integer and bool scans accumulate in int64."""
    return x.dtype if np_kind(np.dtype(x.dtype)) in "fc" else dtypes.I64


# --- cumsum ------------------------------------------------------------------------------
def _cumsum_impl(x, dim, reverse):
    return _accumulate(np.add, x, dim, reverse, _widen(x))


cumsum_p = defprim("cumsum", _cumsum_impl, _scan_rule("cumsum"), _widen,
                   lambda g, out, x, dim, reverse: (cumsum(g, dim, not reverse),), ("scan",),
                   saves=())


def cumsum(x, dim, reverse=False):
    return bind(cumsum_p, x, dim=dim, reverse=bool(reverse))


# --- cumprod -----------------------------------------------------------------------------
def _cumprod_vjp(g, out, x, dim):
    """d out_j / d x_k = prod_{i <= j, i != k} x_i. Before the first zero of a row that is
    out_j / x_k; at the first zero it is the running product with that zero taken as 1;
    after it every term holds the zero, so it is 0 (torch's zero-safe rule)."""
    from .elementwise import cast, conj, where
    x, out = conj(x), conj(out)         # complex: g times the conjugate derivative
    zero = x == 0
    zeros_before = cumsum(cast(zero, dtypes.I64), dim)
    clean = zeros_before == 0
    first = zero & (zeros_before == 1)
    before = cumsum(g * out, dim, reverse=True) / where(clean, x, 1.0)
    at_first = cumsum(g * cumprod(where(first, 1.0, x), dim), dim, reverse=True)
    return (where(clean, before, where(first, at_first, 0.0)),)


cumprod_p = defprim("cumprod", lambda x, dim: _accumulate(np.multiply, x, dim, False, _widen(x)),
                    _scan_rule("cumprod"), _widen, _cumprod_vjp, ("scan",), saves=(0, "out"))


def cumprod(x, dim):
    return bind(cumprod_p, x, dim=dim)


# --- logcumsumexp ------------------------------------------------------------------------
def _logcumsumexp_impl(x, dim, reverse):
    x = np.asarray(x)
    if x.dtype.kind != "c" or x.ndim == 0:      # (torch gives a 0-d input back as it is)
        return _accumulate(np.logaddexp, x, dim, reverse)
    # torch's running value is complex128 for complex64 too (its CPU accumulate type):
    # only the results are rounded
    steps = np.moveaxis(x.astype(np.complex128), dim, 0)
    steps = steps[::-1] if reverse else steps
    out = np.empty_like(steps)
    running = np.full(steps.shape[1:], complex(-np.inf, 0.0))
    for i, step in enumerate(steps):
        running = out[i] = numpy_impls.log_add_exp(step, running)
    out = out[::-1] if reverse else out
    return np.ascontiguousarray(np.moveaxis(out, 0, dim), dtype=x.dtype)


def _logcumsumexp_vjp(g, out, x, dim, reverse):
    """torch's rule (after TensorFlow's): g is carried in log space, so nothing overflows
    where exp(x) would; a real g split into its positive and negative parts, a complex one
    whole (its log, conjugated, and the result conjugated back)."""
    from .elementwise import abs, conj, exp, log, where
    if g.dtype.is_complex:
        return (conj(exp(logcumsumexp(log(conj(g)) - out, dim, not reverse) + x)),)
    log_g = log(where(g == 0, 1.0, abs(g)))
    grads = []
    for part in (g > 0, g < 0):
        lg = where(part, log_g, float("-inf")) - out
        grads.append(exp(logcumsumexp(lg, dim, not reverse) + x))
    return (grads[0] - grads[1],)


logcumsumexp_p = defprim("logcumsumexp", _logcumsumexp_impl, _scan_rule("logcumsumexp"),
                         lambda x, **_: x.dtype, _logcumsumexp_vjp, ("scan",),
                         saves=(0, "out"))


def logcumsumexp(x, dim, reverse=False):
    return bind(logcumsumexp_p, x, dim=dim, reverse=bool(reverse))


# --- logaddexp of complex values -----------------------------------------------------------
def _logaddexp_complex_vjp(g, out, a, b):
    """torch's: g / conj(1 + exp(b - a)) for a, the same with a and b swapped for b"""
    from .elementwise import conj, exp
    return (g / conj(1 + exp(b - a)) if needs(a) else None,
            g / conj(1 + exp(a - b)) if needs(b) else None)


logaddexp_complex_p = defprim("logaddexp_complex", numpy_impls.log_add_exp,
                              broadcast_rule("logaddexp"), promote, _logaddexp_complex_vjp,
                              saves=(0, 1))


def logaddexp_complex(a, b):
    """log(exp(a) + exp(b)) of complex tensors of one dtype"""
    return bind(logaddexp_complex_p, a, b)


# --- running argmax / argmin -------------------------------------------------------------
def _cum_arg_impl(ufunc):
    def impl(x, dim):
        x = np.asarray(x)
        if x.ndim == 0:
            return np.zeros((), dtypes.I64)
        run = ufunc.accumulate(x, axis=dim)
        pos = np.arange(x.shape[dim]).reshape((-1,) + (1,) * (x.ndim - dim - 1))
        # where the running extremum is (re)attained: ties take the later index; the first
        # NaN is sticky (it and everything after it is NaN, as in torch)
        hit = x == run
        if np_kind(x.dtype) == "f":
            nan = np.isnan(x)
            hit |= nan & (np.cumsum(nan, axis=dim) == 1)
        return np.maximum.accumulate(np.where(hit, pos, -1), axis=dim).astype(dtypes.I64)
    return impl


def _i64(*_, **__):
    return dtypes.I64


cumargmax_p = defprim("cumargmax", _cum_arg_impl(np.maximum), _scan_rule("cummax"), _i64,
                      None, ("scan",))
cumargmin_p = defprim("cumargmin", _cum_arg_impl(np.minimum), _scan_rule("cummin"), _i64,
                      None, ("scan",))


def cumargmax(x, dim):
    return bind(cumargmax_p, x, dim=dim)


def cumargmin(x, dim):
    return bind(cumargmin_p, x, dim=dim)

