"""`loss.backward()` inside compiled code: the gradient is derived in the graph being traced.

When a compiled function calls backward on a traced tensor (a whole training step:
forward, loss, backward, optimizer update), the eager tape is not involved: the graph
autodiff's VJP walk runs over the nodes recorded so far and emits the backward nodes into
the same graph, right after the forward. Each graph input that receives a gradient
(a parameter, a user input that requires grad, a captured tensor) gets it accumulated into
its holder's `.grad`, as eager backward does; the compiler then writes those `.grad`
values back to the real tensors after every call (see compiler/state.py).
"""
from .. import grad_mode
from ..autograd.engine import after_accumulating, hooked_grad, root_grads
from ..dtypes import np_kind
from ..errors import TraceError
from ..ir import INPUT
from ..nn.parameter import Parameter
from ..user_code import user_line
from .grad import requiring_grad


class _Same(dict):
    """Differentiating in place: every node stands for itself."""

    def __missing__(self, node):
        return node


def backward(tracer, tensors, grad_tensors=None):
    """loss.backward() in `tracer`, the trace recording this thread (Tracer.backward)."""
    from tracecomp.passes.autodiff import backpropagate
    tensors, starts = root_grads(tensors, grad_tensors, "backward")   # eager's checks
    grads = {}
    with grad_mode.no_grad():
        for t, g in zip(tensors, starts):
            node = t._data
            grads[node] = g if node not in grads else grads[node] + g
        # an argument that only got `requires_grad_()` inside the code keeps its input
        # node's requires_grad=False (the compiled signature says so); the walk hands
        # gradients only to nodes that require grad, and eager backward fills its .grad
        turned = [n for n, h in tracer.holders.items() if n.op == INPUT and h._requires_grad
                  and h._node is None and np_kind(n.dtype) == "f"]
        with requiring_grad(turned):
            backpropagate(list(tracer.graph.nodes), grads, _Same(), tracer)
        for node, g in grads.items():
            # a graph input, or a parameter's value after an update (Tracer._updated_leaf);
            # its hooks run on the traced gradient, as eagerly (their ops enter the graph)
            holder = tracer.holders.get(node)
            if node in tracer.outside_history:
                raise TraceError(
                    f"backward(){user_line()}: the gradient flows into a tensor from outside "
                    f"the compiled code ({node.name}: {tuple(node.shape)}) whose autograd "
                    f"history lies outside the traced code (`x = leaf.float()` made before "
                    f"the call); torch's backward goes on through that history, which the "
                    f"graph does not hold, so its leaves' .grad would be missed. Make that "
                    f"tensor inside the compiled code, detach it, or run this step eagerly.")
            if holder is not None:
                if (holder._hooks or holder._post_accumulate_hooks) and \
                        not isinstance(holder, Parameter):
                    raise TraceError(
                        f"a hook on a tensor that is not a module's parameter (an argument, "
                        f"or a tensor the code reaches){user_line()}: its hooks would be "
                        f"compiled into the backward, and a later call's tensor may have "
                        f"others. Register it on a parameter, or run this backward eagerly.")
                g = hooked_grad(holder, g)
                holder.grad = g if holder.grad is None else holder.grad + g
                after_accumulating(holder)
    tracer.did_backward = True
