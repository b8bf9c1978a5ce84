"""Hyperparameter checks and values that every optimizer shares, in torch's words.

torch accepts `lr` (and a few others) as a 1-element tensor, and the implementation flags
`foreach`, `fused`, `capturable` and `differentiable`. Here the update is the plain
single-tensor one, which gives torch's numbers for every flag, run as written or, with
fused=True (and for compiled models' parameters), compiled into one native call
(compiler/fused_step.py). The flags also change which inputs torch's CPU build refuses,
and those refusals are reproduced here: fused with foreach or differentiable, and
capturable=True, which needs an accelerator.
"""
import numpy as np

from .. import context
from ..errors import TraceError
from ..tensor import Tensor

# torch's _get_capturable_supported_devices() on a CPU-only build
_CAPTURABLE_DEVICES = ["cuda", "xpu", "hpu", "privateuseone"]


def check_lr(lr, message="Invalid learning rate: {}"):
    """torch's first check of every optimizer: a tensor lr has one element, lr >= 0."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(message.format(float(lr) if isinstance(lr, Tensor) else lr))


def check_betas(betas):
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_fused(fused, foreach, differentiable):
    """torch's constructor checks for fused=True (SGD, Adam, AdamW, Adagrad)."""
    if not fused:
        return
    if differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def capturable_error(state_names="params and state_steps", xla=True):
    """What torch's CPU build raises at step() for capturable=True: CUDA-graph capture
    needs an accelerator. The message names the optimizer's own state lists."""
    devices = _CAPTURABLE_DEVICES + (["xla"] if xla else [])
    return AssertionError(f"If capturable=True, {state_names} must be on supported devices: "
                          f"{devices}.")


def scalar(value, name="lr"):
    """A hyperparameter as a Python number: a 1-element tensor gives its value (torch's
    _to_scalar keeps a tensor, which on CPU computes the same numbers). While a step is
    traced, a tensor's value would be baked into the graph and a later `fill_` (as the
    schedulers do on a tensor lr) would go unseen, so that is refused."""
    if not isinstance(value, Tensor):
        return value
    if context.current() is not None:
        raise TraceError(f"optimizer step: {name} is a tensor ({name}={value!r}); a compiled "
                         f"step would keep its value at trace time and miss later changes. "
                         f"Fix: give {name} as a Python float (a change then recompiles), or "
                         f"keep optimizer.step() outside the compiled function")
    return value.item()


def setting(group, key, index=None):
    """Hyperparameter `key` of `group` (element `index` of a tuple, as Adam's betas) for an
    update's arithmetic: a number, or, while a compiled step that feeds it is traced, its
    graph input as a 0-d float64 tensor (compiler/hyperparameters.py): the double precision
    the eager update's Python floats have. Only an optimizer whose fed_settings lists `key`
    reads it here; branches on it read group[key], the number."""
    value = group[key] if index is None else group[key][index]
    trace = context.current()
    if trace is not None:
        fed, held = trace.settings.get((id(group), key, index), (None, None))
        if fed is not None and value is held:   # else the step's code set it: that value
            return fed.reshape(()).double()
    return scalar(value, key if index is None else f"{key}[{index}]")


def add_scaled(t, other, alpha, inplace=False):
    """t.add(other, alpha=alpha) (add_ when inplace) where alpha is a number or a fed
    hyperparameter's tensor (torch's alpha takes a number only)."""
    if isinstance(alpha, Tensor):
        other, alpha = other * alpha, 1
    return t.add_(other, alpha=alpha) if inplace else t.add(other, alpha=alpha)


def is_traced(t):
    """Whether tensor t holds a graph value (the step is being traced), not numbers."""
    return not isinstance(t._data, np.ndarray)
