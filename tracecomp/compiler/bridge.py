"""The autograd bridge: a compiled call appears on the eager tape as one node per output
that needs a gradient, whose VJP runs the compiled backward graph.

So `loss = compiled(x).sum(); loss.backward()` works unchanged: the eager engine reaches
the bridge node, hands it the output's cotangent, and the node runs the backward graph on
the values the forward saved, returning the gradients of the tensors that require grad
(parameters, inputs), which the engine accumulates into `.grad` as for any op.

A call with several differentiable outputs gets one node per output, all members of one
group (the engine's "grouped" primitives, as a custom autograd.Function's outputs are):
the backward graph runs once, with every output's cotangent (zeros where an output got
none). Running it once per output and adding the results would repeat the work, and is
wrong when the graph holds a custom Function's backward that is not linear in its
gradient (one that clips it, say).
"""
import weakref

import numpy as np

from .. import grad_mode
from ..device_array import DeviceArray
from ..dispatch import tape_node
from ..errors import AutogradError
from ..ops.registry import Primitive
from ..tensor import Tensor

_make = Tensor._make


class BackwardState:
    """What every bridge node of one call shares: the saved values and the runner; as the
    group of those nodes, the nodes themselves (weakly) by cotangent slot."""

    __slots__ = ("cotangent_specs", "final", "grad_slots", "members", "n_outputs",
                 "run_backward", "saved")

    def __init__(self, run_backward, saved, cotangent_specs, grad_slots=None):
        self.run_backward = run_backward
        self.saved = saved
        self.grad_slots = grad_slots    # per gradient, the slots it depends on (autodiff)
        self.final = False      # set by the engine: this backward is the last (no retain_graph)
        self.cotangent_specs = cotangent_specs      # [(shape, dtype)] per differentiable output
        self.n_outputs = len(cotangent_specs)
        self.members = [None] * self.n_outputs

    def tape_members(self):
        return [None if ref is None else ref() for ref in self.members]

    def release(self):
        """Backward ran without retain_graph: the residuals go (a second backward is told
        they were freed)."""
        self.saved = None

    def name(self):
        return "CompiledFunctionBackward"      # torch.compile's node, as its grad_fn prints


def _bridge_vjp(grads, outs, *args, call, index):
    """The group's VJP: the backward graph once, on every slot's cotangent. A gradient that
    depends only on outputs that got no cotangent is None, as on torch's tape (zeros would
    move it under momentum or weight decay)."""
    if grad_mode.state.enabled:     # the engine runs VJPs with grad on for create_graph
        raise AutogradError(
            "tracecomp.compile does not support double backward, as torch.compile does not: "
            "the gradient of a compiled call's outputs cannot be differentiated again "
            "(autograd.grad(..., create_graph=True), a gradient penalty). Call the model "
            "uncompiled where its gradient is differentiated (WGAN-GP's "
            "compute_gradient_penalty), or compute that term eagerly")
    if call.saved is None:
        raise AutogradError("the compiled backward's saved values were already freed")
    cotangents = [np.zeros(shape, dtype) if g is None else _cotangent(g, dtype)
                  for g, (shape, dtype) in zip(grads, call.cotangent_specs)]
    run = call.run_backward
    if call.final and getattr(run, "hosts_residuals", False):
        # nothing reads the saved values after this (the engine frees them next): the
        # runner gets the only reference, and may write a gradient over them
        saved, call.saved = call.saved, None
        arrays = [*saved, *cotangents]
        del saved
        result = run(arrays, consume=True)
    else:
        result = run(list(call.saved) + cotangents)
    if call.grad_slots is None or None not in grads:
        return [_make(a) for a in result]
    given = {slot for slot, g in enumerate(grads) if g is not None}
    return [_make(a) if slots & given else None for a, slots in zip(result, call.grad_slots)]


def _cotangent(g, dtype):
    """g's data in the backward graph's dtype: a device gradient stays on the device."""
    if g._data.dtype == dtype:
        return g._data if type(g._data) is DeviceArray else np.asarray(g._data)
    return g.to(dtype)._data


def _no_impl(*_, **__):
    raise AutogradError("a compiled call's tape node is not runnable as an op")


def _reads(what, node):
    """What the backward reads (the eager engine's version check): every input that takes a
    gradient, and an output only where the forward saved it for the backward (`y =
    compiled(x); y += 1` is fine unless y's values are among the residuals: exp's output,
    say). Asked only after the output changed in place, so calls never pay for it."""
    if what != "out":
        return True
    saved, out = node.params["call"].saved, node.out_data
    if saved is None:
        return True         # freed: the engine says so
    if type(out) is not np.ndarray:
        return any(s is out for s in saved)
    return any(type(s) is np.ndarray and np.may_share_memory(s, out) for s in saved)


# One primitive object, unregistered: it never appears in a graph, only on the tape.
COMPILED = Primitive("compiled", _no_impl, _no_impl, _no_impl, _bridge_vjp,
                     frozenset({"grouped"}))
COMPILED.reads = _reads


def attach(outputs, slots, grad_tensors, state):
    """Give each output array in `slots` (output index -> cotangent slot) a tape node.
    Returns the output tensors."""
    result = []
    for k, array in enumerate(outputs):
        slot = slots.get(k)
        if slot is None:
            result.append(Tensor._make(array))
            continue
        vc = [0]
        node = tape_node(COMPILED, tuple(grad_tensors), {"call": state, "index": slot}, array,
                         vc)
        state.members[slot] = weakref.ref(node)
        result.append(Tensor._make(array, True, node, vc))
    return result
