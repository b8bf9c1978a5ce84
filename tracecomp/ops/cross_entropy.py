"""cross_entropy's common case as one primitive: log_softmax over the classes of an (N, C)
batch, then the mean, sum or list of -logp[n, target[n]], with class-index targets, no
class weights, no target ignored and no label smoothing.

Why one primitive: a `compile(model)` training step runs its loss eagerly, and as
log_softmax then nll_loss it took two binds and two tape nodes, and in the backward two
VJPs, two frees and two routings, each a few microseconds of Python that the native
code's cache traffic makes ~2-3x slower inside a step (an MLP step's cross_entropy took
72-78 us there against torch's 28 on an Intel host). Here it is one bind and one node, and
its VJP one primitive, cross_entropy_backward.

The operands are x, the target and logp = log_softmax(x), which the caller makes first
(log_softmax's own numpy impl): an operand is what a node keeps for its backward (a
primitive keeps operands or its output, and the output is the loss), so the backward reads
logp instead of making it again. The value and the first gradient read logp alone, so
they are log_softmax's and nll_loss's to the bit. A second gradient (create_graph) goes
through log_softmax(x) recorded as its own primitive, so it depends on x as it must; x is
therefore among what the node keeps (torch's keeps logp alone, so an in-place change of
the logits between the loss and its backward is refused here, where torch allows it). Traced,
nothing records this primitive (nn/functional_losses.py calls it on numpy arrays only);
should a graph hold one, the native backends compute its `parts` (passes/decompose.py),
which make logp from x.

torch's graph shows NllLossBackward0 over LogSoftmaxBackward0; the node presents that
chain (grad_fn_names.CHAINS) and refuses post-hooks, which would see the logits' gradient
where torch's see the log-probabilities' (node_hooks.py).
"""
from ..dispatch import bind, needs
from ..grad_mode import state as grad_state
from ..tensor import Tensor
from . import nll, softmax
from .registry import defprim
from .rules import same_dtype

CLASS_DIM = 1       # the (N, C) batch's classes


def _shape_rule(x, target, logp, reduction):
    return tuple(target) if reduction == "none" else ()


def _impl(x, target, logp, reduction):
    return nll._impl(logp, target, reduction, None)


def _vjp(g, out, x, target, logp, reduction):
    if grad_state.enabled:      # create_graph: a gradient that is itself differentiated
        logp = softmax.log_softmax(x, CLASS_DIM)
        picked = nll.nll_loss_backward(g, target, tuple(x.shape), reduction)
        return (softmax.log_softmax_p.vjp(picked, logp, x, dim=CLASS_DIM)[0], None, None)
    return (bind(cross_entropy_backward_p, g, target, logp, reduction=reduction), None, None)


# "own_rounding": bfloat16/float16 log-probabilities summed in their dtype (nll._impl)
cross_entropy_p = defprim("cross_entropy", _impl, _shape_rule, same_dtype, _vjp,
                          ("index", "own_rounding"), saves=(0, 1, 2))


def _backward_shape_rule(g, target, logp, reduction):
    return tuple(logp)


def _backward_impl(g, target, logp, reduction):
    picked = nll._backward_impl(g, target, logp.shape, reduction, None)
    return softmax._log_softmax_backward(picked, logp, CLASS_DIM)


def _backward_vjp(c, h, g, target, logp, reduction):
    """h = log_softmax_backward(nll_loss_backward(g), logp): c goes back through both
    primitives' own VJPs."""
    picked = nll.nll_loss_backward(g, target, tuple(logp.shape), reduction)
    if needs(g) and not needs(picked):  # recorded with gradients off: the rule reads the flag
        picked = picked.detach().requires_grad_()
    dpicked, dlogp = softmax.log_softmax_backward_p.vjp(c, h, picked, logp, dim=CLASS_DIM)
    dg = None if dpicked is None else nll.nll_loss(dpicked, target, reduction)
    return dg, None, dlogp


# (bound with gradients off only: a differentiated gradient takes _vjp's other way)
cross_entropy_backward_p = defprim("cross_entropy_backward", _backward_impl,
                                   _backward_shape_rule, same_dtype, _backward_vjp,
                                   ("index",), saves=(0, 1, 2))


def cross_entropy(x, target, reduction):
    """The primitive on an eager (N, C) floating x and a checked int64 target of N classes,
    none of them ignored."""
    logp = softmax._log_softmax(x._data, CLASS_DIM)
    return bind(cross_entropy_p, x, target, Tensor._make(logp), reduction=reduction)


def parts(x, target, logp, reduction):
    """cross_entropy in simpler primitives, on tensors (eager or traced): logp made from x."""
    return nll.parts(softmax.log_softmax_parts(x, CLASS_DIM), target, reduction, None)


def backward_parts(g, target, logp, reduction):
    """cross_entropy_backward in simpler primitives, on tensors (eager or traced)."""
    picked = nll.backward_parts(g, target, tuple(logp.shape), reduction, None)
    return softmax.log_softmax_backward_parts(picked, logp, CLASS_DIM)
