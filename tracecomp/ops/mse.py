"""mse_loss of an input and a target of one shape and dtype as one primitive: the squares of
their differences, kept ("none"), summed or averaged.

As a composite (sub, mul, mean) an eager mse_loss held its difference, its square and, in
the backward, the mean's spread gradient, both halves of the product's gradient and their
sum: a transformer block's loss over a 1 MB prediction took 4 MB of temporaries, which is
what an eager loss after a `compile(model)` forward adds to the step (benchmarks/
peak_memory.py, gelu-mlp). As a primitive the forward holds one difference, squared in
place, and the backward one, scaled in place into the input's gradient; the target's
gradient is made only where the target requires one. Its VJP is another primitive,
mse_loss_backward: g * (input - target) twice, g spread (over the element count, for
"mean"), as the composite's autodiff computed it. Traced each is one node; the native
backends compute `parts` and `backward_parts` (passes/decompose.py), as the composite was.
Other inputs (shapes that broadcast, mixed dtypes) stay the composite
(nn/functional_losses.py).
"""
import numpy as np

from ..dispatch import bind
from ..errors import ShapeError, fmt_shape
from .registry import defprim
from .rules import same_dtype


def _shape_rule(x, target, reduction):
    if tuple(x) != tuple(target):
        raise ShapeError(f"mse_loss: the input {fmt_shape(x)} and the target "
                         f"{fmt_shape(target)} must have one shape here")
    return tuple(x) if reduction == "none" else ()


def _impl(x, target, reduction):
    d = np.asarray(np.subtract(x, target))      # (a 0-d difference is a numpy scalar)
    np.multiply(d, d, out=d)
    if reduction == "none":
        return d
    total = np.add.reduce(d, axis=None)
    if reduction == "sum":
        return total
    return total / d.size if d.size else total * np.nan


def _vjp(g, out, x, target, reduction):
    gx = mse_loss_backward(g, x, target, reduction)
    return gx, (-gx if target.requires_grad else None)


def _low(x, target, reduction):
    """torch's kernel on bfloat16/float16 (Primitive.bf16): the difference and its square
    each rounded to the dtype, their sum in float32 (and its mean) rounded once."""
    from .elementwise import cast
    from .reduce import reduce_sum
    d = x - target
    square = d * d
    if reduction == "none":
        return square
    total = reduce_sum(cast(square, np.float32))
    if reduction == "mean":
        total = total / square.numel() if square.numel() else total * float("nan")
    return cast(total, x._data.dtype)


mse_loss_p = defprim("mse_loss", _impl, _shape_rule, same_dtype, _vjp, saves=(0, 1), bf16=_low)


def _backward_shape_rule(g, x, target, reduction):
    return tuple(x)


def _backward_impl(g, x, target, reduction):
    d = np.asarray(np.subtract(x, target))
    scale = g / max(1, d.size) if reduction == "mean" else g
    np.multiply(d, scale, out=d, casting="same_kind")
    return np.add(d, d, out=d)


def _backward_vjp(c, out, g, x, target, reduction):
    """The cotangent c of the input's gradient 2 s (x - target), s = g spread (and over the
    count, for "mean"): to g, c . 2 (x - target) (summed, for a 0-d g); to x, 2 s c; to the
    target, minus that."""
    from .reduce import reduce_sum
    count = max(1, x.numel())
    h = c * (x - target)
    gg = h + h
    if reduction != "none":
        gg = reduce_sum(gg)
        if reduction == "mean":
            gg = gg / count
    s = g / count if reduction == "mean" else g
    cs = c * s
    gx = cs + cs
    return gg, gx, (-gx if target.requires_grad else None)


def _backward_low(g, x, target, reduction):
    """torch's kernel on bfloat16/float16: norm * (x - target) * g in the dtype, each op
    rounded, norm (2, or 2 / count for "mean") rounded to the dtype first."""
    norm = 2.0 / max(1, x.numel()) if reduction == "mean" else 2.0
    return float(np.float32(norm).astype(x._data.dtype)) * (x - target) * g


mse_loss_backward_p = defprim("mse_loss_backward", _backward_impl, _backward_shape_rule,
                              same_dtype, _backward_vjp, saves=(0, 1, 2), bf16=_backward_low)


def mse_loss(x, target, reduction):
    """The primitive, on an input and a target of one shape and floating dtype."""
    return bind(mse_loss_p, x, target, reduction=reduction)


def mse_loss_backward(g, x, target, reduction):
    """The gradient of mse_loss(x, target, reduction) to x, for its output's cotangent g."""
    return bind(mse_loss_backward_p, g, x, target, reduction=reduction)


def parts(x, target, reduction):
    """mse_loss in simpler primitives, on tensors (eager or traced)."""
    from .reduce import reduce_sum
    d = x - target
    square = d * d
    if reduction == "none":
        return square
    total = reduce_sum(square)
    if reduction == "sum":
        return total
    return total / square.numel() if square.numel() else total * float("nan")


def backward_parts(g, x, target, reduction):
    """mse_loss_backward in simpler primitives, on tensors (eager or traced)."""
    from .movement import expand, reshape
    s = g / max(1, x.numel()) if reduction == "mean" else g
    if reduction != "none":
        s = expand(reshape(s, (1,) * x.ndim), tuple(x.shape))
    h = s * (x - target)
    return h + h
