"""`autograd.grad(y, xs)` inside compiled code: the gradients are derived in the graph being
traced, so they become ordinary graph values the code can use (a gradient penalty, an
inner optimisation step, a Hessian-vector product).

The graph autodiff's VJP walk runs backwards over the nodes recorded so far, starting from
the outputs' gradients, and emits the backward nodes into the same graph (as
`loss.backward()` inside compiled code does, see tracing/backward.py), but no `.grad` is
touched: the gradients of the asked-for tensors are returned, as eager `grad` returns them.

A non-input tensor asked for (`grad(y, [h, x])` with `h = f(x)`) receives its gradient
once the walk has passed every node after it; the walk then goes on through it, since
torch's gradient of x also counts the path through h. So the walk runs in segments that
end at the asked-for nodes, latest first.

create_graph=False records the backward nodes without gradient tracking (the results are
constants to any later differentiation, as torch detaches them); create_graph=True
records them with it, so the results can be differentiated again: inside the trace
(higher-order `grad`) or by the compiled function's own backward.
"""
from .. import grad_mode
from ..errors import TraceError
from ..ir import Node
from ..user_code import user_line


class _Same(dict):
    """Differentiating in place: every node stands for itself."""

    def __missing__(self, node):
        return node


def grad(tracer, outputs, inputs, grad_outputs, create_graph, allow_unused,
         materialize_grads):
    """The traced counterpart of autograd.engine.grad (whose argument checks have run), in
    `tracer`, the trace recording this thread (Tracer.grad)."""
    from tracecomp.passes.autodiff import backpropagate

    from ..autograd.engine import root_grads
    outputs, starts = root_grads(outputs, grad_outputs, "grad")     # eager's checks
    targets = [_node_of(tracer, t) for t in inputs]
    position = {n: k for k, n in enumerate(tracer.graph.nodes)}
    nodes = list(tracer.graph.nodes)
    results = [None] * len(targets)
    with requiring_grad(targets), grad_mode.set_grad_enabled(create_graph):
        grads = {}
        for t, g in zip(outputs, starts):
            node = t._data
            grads[node] = g if node not in grads else grads[node] + g
        # segment ends: each asked-for node's position (inputs: before every node), latest
        # first; the walk over nodes[end + 1:stop] completes the gradients of nodes at `end`
        ends = sorted({position.get(n, -1) for n in targets if n is not None}, reverse=True)
        stop = len(nodes)
        for end in ends:
            backpropagate(nodes[end + 1:stop], grads, _Same(), tracer)
            stop = end + 1
            for k, n in enumerate(targets):
                if n is not None and position.get(n, -1) == end:
                    results[k] = grads.get(n)
        _refuse_outside_paths(tracer, grads, targets)
    from ..autograd.engine import finish_grads
    return finish_grads(inputs, results, allow_unused, materialize_grads)


def _refuse_outside_paths(tracer, grads, targets):
    """The walk reached an argument of the compiled call that has (or may have) autograd
    history outside the graph (`imgs = generator(w)` made before, then `plp(w, imgs)`
    compiled): torch's gradient goes on through that history, which the trace does not hold,
    so the asked-for gradients would be missing or partial. The graph breaks here (the call
    runs eagerly, through the whole tape). A parameter or a tensor from a global has no such
    stand-in (its `_node` is None: a leaf)."""
    asked = {n for n in targets if n is not None}
    for node, g in grads.items():
        holder = tracer.holders.get(node)
        if g is None or node in asked or holder is None or holder._node is None:
            continue
        raise TraceError(
            f"autograd.grad(){user_line()}: the gradient flows into an argument of the "
            f"compiled call ({node.name}: {tuple(node.shape)}) whose autograd history lies "
            f"outside the traced code; torch's gradient goes on through that history, which "
            f"the graph does not hold. Pass the tensors being differentiated as arguments "
            f"and compute their outputs inside the compiled code, or run this grad() eagerly")


def backward_into(tracer, tensors, grad_tensors, inputs, create_graph):
    """`backward(inputs=...)` inside compiled code: only the tensors in `inputs` get their
    gradient accumulated into `.grad` (the compiler writes .grad back after the call)."""
    grads = grad(tracer, tensors, inputs, grad_tensors, create_graph, allow_unused=True,
                 materialize_grads=False)
    for t, g in zip(inputs, grads):
        if g is not None:
            t.grad = g if t.grad is None else t.grad + g
    tracer.did_backward = True


def _node_of(tracer, t):
    """The graph value standing for tensor t, or None when the trace never used it."""
    if isinstance(t._data, Node):
        # a leaf read through its own node (`x.requires_grad_(True)` on a value the code
        # made, a parameter after opt.step(): Tracer._updated_leaf) is used as that node
        hit = tracer.leaves.get(id(t))
        if hit is not None and hit[0] is t._data:
            return hit[1]
        return t._data
    for held, node in tracer.captured:      # a tensor from outside that requires grad
        if held is t:
            return node
    return None


class requiring_grad:
    """While a walk runs, the given nodes count as requiring grad (grad()'s asked-for
    values, backward's arguments turned leaves inside the code): a traced input
    that only got `requires_grad_()` inside the code keeps requires_grad=False on its node
    (the compiled signature says so), and the walk hands gradients only to nodes that
    require grad."""

    def __init__(self, targets):
        self.flip = [n for n in targets if n is not None and not n.requires_grad]

    def __enter__(self):
        for n in self.flip:
            n.requires_grad = True

    def __exit__(self, *exc):
        for n in self.flip:
            n.requires_grad = False
        return False
