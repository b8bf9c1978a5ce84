"""Sorting primitives: the permutation that sorts along a dim, and binary search.

Both give integer results and so have no VJP: sort/topk/kthvalue/median take their values
with `gather` on the indices, whose VJP (scatter_add) carries the gradient to the positions
torch picks. Neither has an llvm lowering: in compiled code each runs as one numpy step.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..errors import AutogradError, DTypeError, ShapeError, fmt_shape
from .registry import defprim


# --- argsort -----------------------------------------------------------------------------
def _argsort_impl(x, dim, descending):
    """Stable, as torch's CPU sort: ties keep their order, NaN sorts as the largest value."""
    x = np.asarray(x)
    if x.ndim == 0:
        return np.zeros((), dtypes.I64)
    if not descending:
        return np.argsort(x, axis=dim, kind="stable").astype(dtypes.I64)
    # sorting the reversed dim ascending puts ties in reverse order; reading the result
    # backwards gives descending values with ties in their original order
    n = x.shape[dim]
    rev = np.argsort(np.flip(x, dim), axis=dim, kind="stable")
    return (n - 1 - np.flip(rev, dim)).astype(dtypes.I64)


def _argsort_rule(x, dim, descending):
    if not 0 <= dim < max(len(x), 1):
        raise ShapeError(f"sort: dim {dim} out of range for an input of shape {fmt_shape(x)}")
    return tuple(x)


def _argsort_dtype(x, **_):
    if np.dtype(x.dtype).kind == "c":
        raise DTypeError("Sort does not support complex dtypes on CPU (complex numbers have no "
                         "order; sort .abs() or .real)")
    return dtypes.I64


argsort_p = defprim("argsort", _argsort_impl, _argsort_rule, _argsort_dtype, None, ("sort",))


def argsort(x, dim, descending=False):
    return bind(argsort_p, x, dim=dim, descending=bool(descending))


# --- searchsorted ------------------------------------------------------------------------
def _searchsorted_impl(seq, values, right, out_int32):
    side = "right" if right else "left"
    dtype = np.int32 if out_int32 else dtypes.I64
    seq, values = np.asarray(seq), np.asarray(values)
    if seq.ndim == 1:
        return np.searchsorted(seq, values, side=side).astype(dtype)
    out = np.empty(values.shape, dtype)
    for row in np.ndindex(*seq.shape[:-1]):
        out[row] = np.searchsorted(seq[row], values[row], side=side)
    return out


def _searchsorted_rule(seq, values, right, out_int32):
    if len(seq) == 0:
        raise ShapeError("searchsorted(): boundaries tensor should have positive dimension, "
                         "but got 0 dimension")
    if len(seq) > 1 and (len(values) != len(seq) or tuple(values[:-1]) != tuple(seq[:-1])):
        raise ShapeError(f"searchsorted(): boundaries tensor should be 1 dimension or the first "
                         f"N-1 dimensions of boundaries tensor and input value tensor must "
                         f"match, but we got boundaries tensor {fmt_shape(seq)} and input value "
                         f"tensor {fmt_shape(values)}")
    return tuple(values)


searchsorted_p = defprim(
    "searchsorted", _searchsorted_impl, _searchsorted_rule,
    lambda seq, values, right, out_int32: np.dtype(np.int32) if out_int32 else dtypes.I64,
    None, ("sort",))


def searchsorted(seq, values, right=False, out_int32=False):
    return bind(searchsorted_p, seq, values, right=bool(right), out_int32=bool(out_int32))


# --- a marker for ops whose derivative torch does not define ------------------------------
def _no_derivative_vjp(g, out, values, source, op):
    if op.startswith("aten::"):     # an op torch gives no derivative formula at all
        raise AutogradError(f"derivative for {op} is not implemented")
    raise NotImplementedError(f"the derivative for '{op}' is not implemented.")


# values (computed from `source` outside the tape) put on the tape as depending on source:
# backward through them raises, as torch's does, instead of silently giving no gradient
no_derivative_p = defprim("no_derivative", lambda values, source, op: np.array(values),
                          lambda values, source, op: tuple(values),
                          lambda values, source, op: values.dtype, _no_derivative_vjp, (), saves=())


def no_derivative(values, source, op):
    return bind(no_derivative_p, values, source, op=op)
