"""softmax and log_softmax as primitives, each along one dim and computed stably:
exp(x) / sum(exp(x)) and x - log(sum(exp(x))).

Why primitives and not composites: cross_entropy, the loss of nearly every classifier,
runs eagerly after a `compile(model)` forward, and so does attention's softmax in eager
models. As composites they recorded five or six tape nodes each (max, sub, exp, sum, div or
log, sub) and ran as many VJPs; as primitives each is one numpy step and one tape node,
whose VJP is torch's: out * (g - sum(g * out)) for softmax, g - exp(out) * sum(g) for
log_softmax (itself one primitive, log_softmax_backward).

Traced, each is one node, differentiated by that same VJP. The native backends compute it
as the primitives it is made of (`softmax_parts`, `log_softmax_parts`, applied by
passes/decompose.py after autodiff), which fuse into the kernels the composites' did; the
eager impls are those parts on numpy arrays, op for op, so eager and reference results are
the composites' to the bit.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind, needs
from ..dtypes import np_kind
from ..errors import DTypeNotImplemented
from ..memory_format import fresh_row_major
from .registry import defprim
from .rules import norm_dims, same_dtype, same_shape


def _axis(x, dim):
    return dim if x.ndim else ()      # a 0-d tensor's dim 0 reduces nothing


def _shifted(x, axis):
    """x less its maximum along axis, so that exp cannot overflow (the maximum cancels out
    of both results)."""
    return x - _maximum(x, axis)


SHORT_ROW = 32      # _maximum's widest short row


def _maximum(x, axis):
    """The maximum along axis, kept as a dim. numpy reduces a short contiguous last axis
    one row at a time; a transposed copy's columns reduce in long vector loops: a (64, 10)
    batch of logits 4.0 -> 2.2 us, (512, 10) 24.5 -> 4.0 us, (4096, 10) 211 -> 45 us
    (znver4; slower from rows of ~64 and for fewer than 16 rows). A maximum is exact, so
    the numbers are the same either way."""
    if type(x) is np.ndarray and x.ndim == 2 and axis == 1 and x.shape[0] >= 16 \
            and x.shape[1] <= SHORT_ROW:
        return np.maximum.reduce(np.ascontiguousarray(x.T), axis=0).reshape(-1, 1)
    return np.maximum.reduce(x, axis=axis, keepdims=True)


def _softmax(x, dim):
    if not x.size:
        return x - 0.0              # nothing to reduce (a sum over an empty dim is 0)
    e = np.exp(_shifted(x, _axis(x, dim)))
    return e / np.add.reduce(e, axis=_axis(x, dim), keepdims=True)


def _log_softmax(x, dim):
    if not x.size:
        return x - 0.0
    axis = _axis(x, dim)
    shifted = _shifted(x, axis)
    logsum = np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))
    if type(shifted) is np.ndarray:     # in shifted's buffer, which nothing else holds
        return np.subtract(shifted, logsum, out=shifted)
    return shifted - logsum             # a 0-d x: numpy made scalars


def _log_softmax_bf16(x, dim):
    """torch's CPU kernel on a bfloat16 or float16 x: along the last dim (no inner dim
    larger than 1), the row sums of exp and their logs are held in x's dtype, the rest is
    float32; along another, all of it is float32, rounded once (torch's bits). Tensor ops,
    each rounding a cast pair: eager bind runs it, a compiled graph traces it
    (passes/widen_bf16.py)."""
    from .elementwise import cast, exp, log
    from .reduce import reduce_sum
    low = x._data.dtype

    def rounded(t):
        return cast(cast(t, low), np.float32)
    dims = norm_dims("log_softmax", dim, x.ndim)
    if any(size != 1 for size in tuple(x.shape)[dims[0] + 1:]):
        return cast(log_softmax(cast(x, np.float32), dim), low)
    shifted = _shifted_parts(cast(x, np.float32), dims)
    total = reduce_sum(exp(shifted), dims, keepdim=True)
    return cast(shifted - rounded(log(rounded(total))), low)


def _softmax_vjp(g, out, x, dim):
    from .elementwise import cast
    from .reduce import reduce_sum
    if out._data.dtype in dtypes.REDUCED:   # torch's kernel: in float32, rounded once
        wide = _softmax_vjp(cast(g, np.float32), cast(out, np.float32), x, dim)[0]
        return (cast(wide, out._data.dtype),)
    return (out * (g - reduce_sum(g * out, norm_dims("softmax", dim, out.ndim), True)),)


def _log_softmax_vjp(g, out, x, dim):
    return (bind(log_softmax_backward_p, g, out, dim=dim),)


# log_softmax's VJP, g - exp(out) * sum(g), as one primitive too: the backward of an eager
# cross_entropy is then two numpy steps (this and nll_loss_backward), not five tensor ops.
# Its own VJP (a second derivative) is in primitives; natively it is its parts.
def _log_softmax_backward(g, out, dim):
    total = np.add.reduce(g, axis=_axis(g, dim), keepdims=True)
    e = np.exp(out)
    if type(e) is not np.ndarray or e.dtype != g.dtype or total.dtype != g.dtype:
        return g - e * total        # a 0-d (a scalar), or a wider g: the result takes its dtype
    # in e's buffer: one array of the logits' size, where `g - e * total` makes three
    # (numpy reuses temporaries only from 256 KB); it is the peak of an eager
    # cross_entropy's backward, a compiled model's training step included
    np.multiply(e, total, out=e)
    return np.subtract(g, e, out=e)


def _log_softmax_backward_vjp(c, h, g, out, dim):
    # h = g - e * S with e = exp(out), S = sum(g): dh_i/dg_j = [i == j] - e_i and
    # dh_i/dout_i = -e_i * S
    from .elementwise import exp
    from .reduce import reduce_sum
    dims = norm_dims("log_softmax", dim, out.ndim)
    e = exp(out)
    dg = c - reduce_sum(c * e, dims, True) if needs(g) else None
    dout = -(c * e * reduce_sum(g, dims, True)) if needs(out) else None
    return dg, dout


# torch's results are row-major whatever the input's layout (numpy's follow it)
softmax_p = defprim("softmax", fresh_row_major(_softmax), same_shape, same_dtype, _softmax_vjp,
                    saves=("out",))
log_softmax_p = defprim("log_softmax", fresh_row_major(_log_softmax), same_shape, same_dtype,
                        _log_softmax_vjp, saves=("out",), bf16=_log_softmax_bf16)
log_softmax_backward_p = defprim("log_softmax_backward", _log_softmax_backward,
                                 lambda g, out, dim: tuple(g), same_dtype,
                                 _log_softmax_backward_vjp, saves=(0, 1))


def softmax(x, dim):
    """softmax of a floating tensor along dim (an int, negative counts from the end)."""
    return bind(softmax_p, x, dim=_checked_dim("softmax", x, dim))


def log_softmax(x, dim):
    """log_softmax of a floating tensor along dim (an int, negative counts from the end)."""
    return bind(log_softmax_p, x, dim=_checked_dim("log_softmax", x, dim))


def _checked_dim(op, x, dim):
    dtype = x._data.dtype
    if np_kind(dtype) != "f":           # as torch: no integer kernel (a dtype= casts first)
        raise DTypeNotImplemented(f"{op}: not implemented for "
                                  f"'{dtypes.TORCH_NAMES.get(dtype, dtype.name)}' input; it "
                                  f"takes floating tensors: convert with .float(), or pass "
                                  f"dtype=tracecomp.float32")
    (dim,) = norm_dims(op, dim, x.ndim) or (0,)
    return dim


# --- the parts: what the native backends compute (passes/decompose.py) -------------------
def _shifted_parts(x, dims):
    """An empty tensor has no maximum (amax refuses an empty dim) and nothing to overflow."""
    from .reduce import reduce_max
    return x - (reduce_max(x, dims, keepdim=True) if x.numel() else 0.0)


def softmax_parts(x, dim):
    """softmax(x, dim) in simpler primitives, on tensors (eager or traced)."""
    from .elementwise import exp
    from .reduce import reduce_sum
    dims = norm_dims("softmax", dim, x.ndim)
    e = exp(_shifted_parts(x, dims))
    return e / reduce_sum(e, dims, keepdim=True)


def log_softmax_backward_parts(g, out, dim):
    """log_softmax_backward(g, out, dim) in simpler primitives, on tensors."""
    from .elementwise import exp
    from .reduce import reduce_sum
    return g - exp(out) * reduce_sum(g, norm_dims("log_softmax", dim, out.ndim), True)


def log_softmax_parts(x, dim):
    """log_softmax(x, dim) in simpler primitives, on tensors (eager or traced)."""
    from .elementwise import exp, log
    from .reduce import reduce_sum
    dims = norm_dims("log_softmax", dim, x.ndim)
    shifted = _shifted_parts(x, dims)
    return shifted - log(reduce_sum(exp(shifted), dims, keepdim=True))
