"""Module backward hooks (torch's register_full_backward_hook and _pre_hook, and the
deprecated register_backward_hook), eagerly.

    h = model.fc.register_full_backward_hook(lambda mod, grad_input, grad_output: ...)
    h = model.fc.register_full_backward_pre_hook(lambda mod, grad_output: ...)
    h = model.conv1.register_backward_hook(lambda mod, grad_input, grad_output: ...)

As torch does it (torch/utils/hooks.py's BackwardHook): a module with such hooks runs its
forward between two identity autograd Functions, one over its positional tensor arguments
and one over its tensor outputs. When backward reaches the outputs' identity, the pre-hooks
see grad_output (and may replace it); when it reaches the arguments' identity, the hooks see
grad_input and grad_output (and may replace grad_input). Each tuple has one entry per
positional argument or output, None where that is not a tensor or gets no gradient. When no
argument requires grad, the hooks run at once with grad_input all None, as torch runs them.

The deprecated non-full hook is what torch makes of it: a hook on the grad_fn of the
module's first output tensor (node_hooks.py), whose grad_input holds the gradients of that
node's inputs, one per input torch's node lists (a Conv2d's input, weight and bias; a
ReLU's input; an eval-mode Dropout returns its input, so the node is its producer's), with
torch's FutureWarnings where that differs from the module's own inputs and outputs.

Compiled code traces a Function's backward once, so a hook there would run when the graph is
built, not at every backward: tracing such a module is refused (TraceError), not done wrong.
"""
import functools
import warnings

from .. import context
from ..autograd.function import Function
from ..errors import TraceError
from ..tensor import Tensor
from ..user_code import user_stacklevel
from . import global_hooks

_EARLY = ("Full backward hook is firing when gradients are computed with respect to module "
          "outputs since no inputs require gradients. See https://docs.pytorch.org/docs/main/"
          "generated/torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more "
          "details.")     # torch's words


class _Call:
    """One forward call's hooks and what its backward has seen so far."""

    __slots__ = ("grad_output", "hooks", "module", "n_inputs", "pre_hooks")

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
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
                         f"(register_full_backward_hook / _pre_hook / register_backward_hook), "
                         f"which compiled code would run once when it builds its graph "
                         f"instead of at every backward: remove them, or run this module "
                         f"eagerly")
    full, non_full, pre = global_hooks.backward_hooks_of(module)
    if full or pre:
        result = _full(module, args, kwargs, forward, full, pre)
    else:
        result = forward(*args, **kwargs)
    # non-full hooks (the module's or everyone's): on the grad_fn of the result
    return legacy(module, args, result, non_full) if non_full else result


def _full(module, args, kwargs, forward, hooks, pre_hooks):
    hooked = _Call(module, hooks, pre_hooks)
    hooked.n_inputs = len(args)
    args, inputs_hooked = _through(tuple(args), hooked.inputs_done)
    result = forward(*args, **kwargs)
    single = not isinstance(result, tuple)
    outputs = (result,) if single else result

    def outputs_done(grads):
        grads = hooked.outputs_done(grads)
        if not inputs_hooked and hooked.hooks:      # nothing below needs a gradient
            warnings.warn(_EARLY, stacklevel=user_stacklevel())
            hooked.inputs_done((None,) * hooked.n_inputs)
        return grads
    outputs, _ = _through(outputs, outputs_done)
    return outputs[0] if single else outputs


def legacy(module, args, result, hooks):
    """Non-full hooks: each one a hook on the grad_fn of result's first tensor, as torch's
    Module._call_impl registers them; returns result."""
    var = result
    while not isinstance(var, Tensor):
        var = next(v for v in var.values() if isinstance(v, Tensor)) \
            if isinstance(var, dict) else var[0]
    node = var.grad_fn
    if node is not None:
        for hook in hooks:
            node.register_hook(_bound(hook, module))
        _warn_if_partial(args, result, node)
    return result


def _bound(hook, module):
    """hook(module, grad_input, grad_output) as a node hook (torch's _WrappedHook)."""
    @functools.wraps(hook)
    def node_hook(grad_input, grad_output):
        return hook(module, grad_input, grad_output)
    return node_hook


_PARTIAL = {   # torch's FutureWarnings: where the node's gradients are not the module's
    "result": "Using non-full backward hooks on a Module that does not return a single "
              "Tensor or a tuple of Tensors is deprecated and will be removed in future "
              "versions. This hook will be missing some of the grad_output. Please use "
              "register_full_backward_hook to get the documented behavior.",
    "inputs": "Using non-full backward hooks on a Module that does not take as input a "
              "single Tensor or a tuple of Tensors is deprecated and will be removed in "
              "future versions. This hook will be missing some of the grad_input. Please use "
              "register_full_backward_hook to get the documented behavior.",
    "nested": "Using a non-full backward hook when outputs are nested in python data "
              "structure is deprecated and will be removed in future versions. This hook "
              "will be missing some grad_output.",
    "nodes": "Using a non-full backward hook when outputs are generated by different "
             "autograd Nodes is deprecated and will be removed in future versions. This hook "
             "will be missing some grad_output. Please use register_full_backward_hook to "
             "get the documented behavior.",
    "multiple": "Using a non-full backward hook when the forward contains multiple autograd "
                "Nodes is deprecated and will be removed in future versions. This hook will "
                "be missing some grad_input. Please use register_full_backward_hook to get "
                "the documented behavior.",
}


def _warn_if_partial(inputs, result, node):
    """torch's Module._maybe_warn_non_full_backward_hook, case for case."""
    result = (result,) if isinstance(result, Tensor) else result
    if not (isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result)):
        return _warn("result")
    inputs = (inputs,) if isinstance(inputs, Tensor) else inputs
    if not (isinstance(inputs, tuple) and all(isinstance(i, Tensor) for i in inputs)):
        return _warn("inputs")
    out_nodes = {id(r.grad_fn): r.grad_fn for r in result if r.grad_fn is not None}
    if not out_nodes or (len(out_nodes) == 1 and id(node) not in out_nodes):
        return _warn("nested")
    if len(out_nodes) > 1:
        return _warn("nodes")
    # the node's inputs are the module's inputs only if its next functions are theirs
    in_nodes = {id(i.grad_fn) for i in inputs if i.grad_fn is not None}
    if in_nodes != {id(fn) for fn, _ in node.next_functions}:
        _warn("multiple")


def _warn(case):
    warnings.warn(_PARTIAL[case], FutureWarning, stacklevel=user_stacklevel())
