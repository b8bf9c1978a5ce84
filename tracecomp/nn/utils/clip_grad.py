"""clip_grad_norm_ and clip_grad_value_: rescale or clamp the .grad of parameters in place,
with torch's total-norm rule (the norm of the per-tensor norms). clip_grad_norm_ is torch's
two halves, get_total_norm and clip_grads_with_norm_; clip_grad_norm is its deprecated name
(old tutorials: spro's seq2seq-translation)."""
import math
import warnings

from ... import composite as C
from ...creation import tensor
from ...grad_mode import no_grad
from ...tensor import Tensor
from ...user_code import user_stacklevel


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


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the per-tensor norms of `tensors` (a tensor or an iterable of them)."""
    norm_type = float(norm_type)
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not tensors:
        return tensor(0.0)
    with no_grad():
        total = _vector_norm(C.stack([_vector_norm(t, norm_type) for t in tensors]), norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every .grad by min(1, max_norm / (total_norm + 1e-6)), in place."""
    grads = _grads(parameters)
    if not grads:
        return
    with no_grad():
        coef = C.clamp(max_norm / (total_norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)); returns total_norm."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)       # a generator (model.parameters()) is read twice
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                   foreach=None):
    """clip_grad_norm_'s old name, deprecated in torch with this FutureWarning."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=user_stacklevel())
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient elementwise into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
