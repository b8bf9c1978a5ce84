"""log_softmax as one primitive: x - log(sum(exp(x))) along one dim, computed stably.

Why a primitive and not a composite: cross_entropy, the loss of nearly every classifier,
runs eagerly after a `compile(model)` forward, and as a composite it recorded six tape
nodes (max, sub, exp, sum, log, sub) and ran six VJPs. As one primitive it is one numpy
step and one tape node, whose VJP is torch's: g - exp(out) * sum(g).

Traced, it is one node, differentiated by that same VJP. The native backends compute it as
the primitives it is made of (`parts`, applied by passes/decompose.py after autodiff), which
fuse into the same kernels the composite's did; the eager impl below is `parts` on numpy
arrays, op for op, so eager and reference results are the composite's to the bit.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..errors import DTypeNotImplemented
from .registry import defprim
from .rules import norm_dims, same_shape


def _axis(x, dim):
    return dim if x.ndim else ()      # a 0-d tensor's dim 0 reduces nothing


def _impl(x, dim):
    if not x.size:
        return x - 0.0                  # nothing to reduce, nothing to overflow
    axis = _axis(x, dim)
    shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


def _vjp(g, out, x, dim):
    from .elementwise import exp
    from .reduce import reduce_sum
    return (g - exp(out) * reduce_sum(g, norm_dims("log_softmax", dim, out.ndim), True),)


log_softmax_p = defprim("log_softmax", _impl, same_shape, lambda x, **_: x.dtype, _vjp)


def log_softmax(x, dim):
    """log_softmax of a floating tensor along dim (an int, negative counts from the end)."""
    dtype = x._data.dtype
    if dtype.kind != "f":           # as torch: no integer kernel (a dtype= casts first)
        raise DTypeNotImplemented(f"log_softmax: not implemented for "
                                  f"'{dtypes.TORCH_NAMES.get(dtype, dtype.name)}' input; it "
                                  f"takes floating tensors: convert with .float(), or pass "
                                  f"dtype=tracecomp.float32")
    (dim,) = norm_dims("log_softmax", dim, x.ndim) or (0,)
    return bind(log_softmax_p, x, dim=dim)


def parts(x, dim):
    """log_softmax(x, dim) in simpler primitives, on tensors (eager or traced): what the
    native backends compute. The maximum is subtracted first so that exp cannot overflow;
    it cancels out of the result. An empty tensor has no maximum (amax refuses an empty
    dim) and nothing to overflow."""
    from .elementwise import exp, log
    from .reduce import reduce_max, reduce_sum
    dims = norm_dims("log_softmax", dim, x.ndim)
    shifted = x - (reduce_max(x, dims, keepdim=True) if x.numel() else 0.0)
    return shifted - log(reduce_sum(exp(shifted), dims, keepdim=True))
