"""The autograd bridge: a compiled call appears on the eager tape as one node per output
that needs a gradient, whose VJP runs the compiled backward graph.

So `loss = compiled(x).sum(); loss.backward()` works unchanged: the eager engine reaches
the bridge node, hands it the output's cotangent, and the node runs the backward graph on
the values the forward saved, returning the gradients of the tensors that require grad
(parameters, inputs), which the engine accumulates into `.grad` as for any op.

A call with several differentiable outputs gets one node per output; each runs the
backward graph with the other outputs' cotangents at zero (the gradients add up right;
only the work is repeated).
"""
import numpy as np

from .dispatch import TapeNode
from .errors import AutogradError
from .ops.registry import Primitive
from .tensor import Tensor


class BackwardState:
    """What every bridge node of one call shares: the saved values and the runner."""

    __slots__ = ("cotangent_specs", "run_backward", "saved")

    def __init__(self, run_backward, saved, cotangent_specs):
        self.run_backward = run_backward
        self.saved = saved
        self.cotangent_specs = cotangent_specs      # [(shape, dtype)] per differentiable output


def _bridge_vjp(g, out, *args, state, slot):
    if state.saved is None:
        raise AutogradError("the compiled backward's saved values were already freed")
    cotangents = [np.zeros(shape, dtype) for shape, dtype in state.cotangent_specs]
    cotangents[slot] = np.asarray(g._data, dtype=state.cotangent_specs[slot][1])
    grads = state.run_backward(list(state.saved) + cotangents)
    return tuple(Tensor._make(a) for a in grads)


def _no_impl(*_, **__):
    raise AutogradError("a compiled call's tape node is not runnable as an op")


# One primitive object, unregistered: it never appears in a graph, only on the tape.
COMPILED = Primitive("compiled", _no_impl, _no_impl, _no_impl, _bridge_vjp)


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
        node = TapeNode(COMPILED, tuple(grad_tensors), {"state": state, "slot": slot}, array, vc)
        result.append(Tensor._make(array, True, node, vc))
    return result
