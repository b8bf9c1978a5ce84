"""Module backward hooks (torch's register_full_backward_hook and _pre_hook), eagerly.

    h = model.fc.register_full_backward_hook(lambda mod, grad_input, grad_output: ...)
    h = model.fc.register_full_backward_pre_hook(lambda mod, grad_output: ...)

As torch does it (torch/utils/hooks.py's BackwardHook): a module with such hooks runs its
forward between two identity autograd Functions, one over its positional tensor arguments
and one over its tensor outputs. When backward reaches the outputs' identity, the pre-hooks
see grad_output (and may replace it); when it reaches the arguments' identity, the hooks see
grad_input and grad_output (and may replace grad_input). Each tuple has one entry per
positional argument or output, None where that is not a tensor or gets no gradient. When no
argument requires grad, the hooks run at once with grad_input all None, as torch runs them.

Compiled code traces a Function's backward once, so a hook there would run when the graph is
built, not at every backward: tracing such a module is refused (TraceError), not done wrong.
"""
import warnings

from .. import context
from ..autograd.function import Function
from ..errors import TraceError
from ..tensor import Tensor

_EARLY = ("Full backward hook is firing when gradients are computed with respect to module "
          "outputs since no inputs require gradients. See https://docs.pytorch.org/docs/main/"
          "generated/torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more "
          "details.")     # torch's words


class _Call:
    """One forward call's hooks and what its backward has seen so far."""

    __slots__ = ("grad_output", "hooks", "module", "n_inputs", "pre_hooks")

    def __init__(self, module):
        self.module = module
        self.hooks = list(module._backward_hooks.values())
        self.pre_hooks = list(module._backward_pre_hooks.values())
        self.grad_output = None
        self.n_inputs = 0

    def outputs_done(self, grads):
        """grad_output arrived: the pre-hooks may replace it."""
        for hook in self.pre_hooks:
            new = hook(self.module, grads)
            if new is not None:
                grads = _checked(new, len(grads), "backward pre hook", "grad_output")
        self.grad_output = grads
        return grads

    def inputs_done(self, grads):
        """grad_input arrived: the hooks may replace it."""
        for hook in self.hooks:
            new = hook(self.module, grads, self.grad_output)
            if new is not None:
                grads = _checked(new, len(grads), "backward hook", "grad_input")
        return grads


def _checked(new, size, what, name):
    new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
    if len(new) != size:
        raise RuntimeError(f"{what} returned an invalid number of {name}, got {len(new)}, "
                           f"but expected {size}")
    return new


class _Identity(Function):
    """Its tensors, unchanged; backward hands their gradients to `done`."""

    @staticmethod
    def forward(ctx, done, *tensors):
        ctx.done = done
        ctx.set_materialize_grads(False)    # an output nothing used gives None, as in torch
        return tuple(t.view_as(t) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.done(grads))


def _through(tensors, done):
    """Each tensor of `tensors` (a tuple, entries of other kinds kept) through one identity
    whose backward gives `done` the gradients, one per entry; returns the new tuple."""
    at = [k for k, t in enumerate(tensors) if isinstance(t, Tensor) and t.requires_grad]
    if not at:
        return tensors, False

    def spread(grads):      # gradients of the tensors -> one per entry, and back
        full = [None] * len(tensors)
        for k, g in zip(at, grads):
            full[k] = g
        full = done(tuple(full))
        return tuple(full[k] for k in at)
    out = _Identity.apply(spread, *(tensors[k] for k in at))
    out = out if isinstance(out, tuple) else (out,)
    new = list(tensors)
    for k, t in zip(at, out):
        new[k] = t
    return tuple(new), True


def call(module, args, kwargs, forward):
    """module's forward(*args, **kwargs) with its backward hooks set up around it."""
    if context.current() is not None:
        raise TraceError(f"{type(module).__name__} has backward hooks "
                         f"(register_full_backward_hook / _pre_hook), which compiled code "
                         f"would run once when it builds its graph instead of at every "
                         f"backward: remove them, or run this module eagerly")
    hooked = _Call(module)
    hooked.n_inputs = len(args)
    args, inputs_hooked = _through(tuple(args), hooked.inputs_done)
    result = forward(*args, **kwargs)
    single = not isinstance(result, tuple)
    outputs = (result,) if single else result

    def outputs_done(grads):
        grads = hooked.outputs_done(grads)
        if not inputs_hooked and hooked.hooks:      # nothing below needs a gradient
            warnings.warn(_EARLY, stacklevel=2)
            hooked.inputs_done((None,) * hooked.n_inputs)
        return grads
    outputs, _ = _through(outputs, outputs_done)
    return outputs[0] if single else outputs
