"""clip_grad_norm_ and clip_grad_value_: rescale or clamp the .grad of parameters in place,
with torch's total-norm rule (the norm of the per-tensor norms)."""
import math

from ... import composite as C
from ...creation import tensor
from ...grad_mode import no_grad
from ...tensor import Tensor


def _vector_norm(x, p):
    a = x.abs()
    if p == math.inf:
        return C.amax(a)
    if p == 2:
        return (a * a).sum().sqrt()
    return (a ** p).sum() ** (1.0 / p)


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)); returns total_norm."""
    norm_type = float(norm_type)
    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    with no_grad():
        total = _vector_norm(C.stack([_vector_norm(g, norm_type) for g in grads]), norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                               "`parameters` is non-finite, so it cannot be clipped. To disable "
                               "this error and scale the gradients by the non-finite norm "
                               "anyway, set `error_if_nonfinite=False`")
        coef = C.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient elementwise into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
