"""The eager kernel of cross_entropy with class indices: one primitive for what the
composite computes in thirteen (log_softmax, gather, neg, sum, div and the reshapes).

    loss = bind(log_softmax_nll_p, logits, target, reduction="mean")    # logits [N, C]

cross_entropy (nn/functional_losses.py) takes it eagerly for the common case: 2-D logits,
int64 class indices of which none is ignore_index, no class weights, no label smoothing,
reduction "mean", "sum" or "none". Each op of the composite costs a dispatch and a tape node
(a few microseconds), which for a classifier's loss is most of the time: MLP 784-256-256-10
at batch 64 with a compiled model (znver4), the loss and its backward took ~210 us against
torch's ~45. The impl repeats the composite's arithmetic in the same order, so the values
are the same. Its VJP, (softmax(x) - onehot(target)) * g, is one op as well
(log_softmax_nll_grad), whose own VJP is written with the composite's ops, so higher-order
gradients work as for any primitive.

Traced code never meets it: cross_entropy uses it only on eager arrays (a traced target's
values are unknown, so ignore_index could be present), and compiled graphs keep the
composite, whose ops fuse into native kernels. Where a graph did hold it, it would run as
a numpy step, as primitives without a lowering do.
"""
import numpy as np

from ..errors import ShapeError, fmt_shape
from .registry import defprim

REDUCTIONS = ("mean", "sum", "none")


def _impl(x, target, reduction):
    shifted = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(x.shape[0])
    loss = -(shifted[rows, target] - lse[rows, 0])      # -log_softmax(x)[n, target[n]]
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / loss.size if reduction == "mean" else total


def _shape(x, target, reduction):
    if len(x) != 2 or tuple(target) != (x[0],):
        raise ShapeError(f"log_softmax_nll: expected logits [N, C] and class indices [N], got "
                         f"{fmt_shape(x)} and {fmt_shape(target)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"log_softmax_nll: reduction must be one of {REDUCTIONS}, got "
                         f"{reduction!r}")
    return (x[0],) if reduction == "none" else ()


def _dtype(x, *_, **__):
    return np.dtype(x.dtype)


def _vjp(g, out, x, target, reduction):
    """d loss / d x = (softmax(x) - onehot(target)) * g, g spread over the rows (divided by
    N for the mean): one op too (log_softmax_nll_grad)."""
    from ..dispatch import bind
    return bind(log_softmax_nll_grad_p, x, target, g, reduction=reduction), None


def _grad_impl(x, target, g, reduction):
    """The composite's backward, op for op (so the gradient is bit for bit the same): with
    c = g / N, g or g[n] and S the row sums of e = exp(x - max), it gives c / S * e, and
    -c added at each row's target."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    c = g[:, None] if reduction == "none" else (g / x.shape[0] if reduction == "mean" else g)
    c = np.broadcast_to(c, (x.shape[0], 1))
    out = c / e.sum(axis=1, keepdims=True) * e
    rows = np.arange(x.shape[0])
    out[rows, target] += -c[:, 0]
    return out


def _grad_shape(x, target, g, reduction):
    _shape(x, target, reduction)
    return tuple(x)


def _grad_vjp(v, out, x, target, g, reduction):
    """The second derivatives, with the composite's ops: for h = (p - onehot) * s, p =
    softmax(x) and s the scale of g, dh/dx . v = p * (v s - sum(p v s)) (softmax's Jacobian
    diag(p) - p p^T, symmetric) and dh/dg . v = sum((p - onehot) v) over what s spreads."""
    from .. import composite as C
    from ..creation import full, zeros
    from .indexing import scatter_add
    n = x.shape[0]
    p = C.softmax(x, 1)
    s = C.unsqueeze(g, 1) if reduction == "none" else g / n if reduction == "mean" else g
    vs = v * s
    dx = p * (vs - C.sum(p * vs, 1, keepdim=True))
    onehot = scatter_add(zeros(x.shape, dtype=x.dtype), 1, C.unsqueeze(target, 1),
                         full((n, 1), 1.0, dtype=x.dtype))
    dg = (p - onehot) * v
    dg = C.sum(dg, 1) if reduction == "none" else C.sum(dg) / n if reduction == "mean" \
        else C.sum(dg)
    return dx, None, dg


log_softmax_nll_p = defprim("log_softmax_nll", _impl, _shape, _dtype, _vjp)
log_softmax_nll_grad_p = defprim("log_softmax_nll_grad", _grad_impl, _grad_shape, _dtype,
                                 _grad_vjp)
