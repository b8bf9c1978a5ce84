"""The eager autograd engine: backward() and grad() over the tape that bind() records.

The tape is the graph of TapeNodes hanging off tensors' `_node`. The engine
  1. walks the nodes reachable from the roots, latest-created first (a max-heap on each
     node's creation number: a valid topological order with no recursion, so a
     10,000-op chain cannot hit Python's recursion limit), calling each VJP rule,
  2. sums the gradients a node receives from all its consumers before it runs,
  3. undoes broadcasting and dtype promotion once, here, not in every rule,
  4. accumulates into leaves' `.grad` (backward) or returns the gradients (grad).
Unless retain_graph is set, every visited node drops its saved values, as torch does.
"""
import heapq

from . import grad_mode
from .dispatch import TapeNode
from .errors import AutogradError, fmt_shape
from .ops.elementwise import cast
from .ops.movement import sum_to
from .tensor import Tensor

TRACED = None       # the tracer's stand-in grad_fn, set when tracer.py loads (no import cycle)

_FREED = ("Trying to backward through the graph a second time (or directly access saved "
          "tensors after they have already been freed). Saved intermediate values of the graph "
          "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True "
          "if you need to backward through the graph a second time or if you need to access "
          "saved tensors after calling backward.")


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (torch.autograd.backward)."""
    if any(t._node is TRACED for t in _as_tuple(tensors)):      # inside compiled code
        from .traced_autograd import backward as traced_backward
        return traced_backward(_as_tuple(tensors), grad_tensors)
    tensors, grads = _roots(tensors, grad_tensors, "backward")
    only = None if inputs is None else _as_tuple(inputs)
    results = _run(tensors, grads, retain_graph, create_graph, capture=only)
    if only is not None:
        handed = set()
        for t, g in zip(only, results):
            if g is not None:
                _accumulate_leaf(t, g, create_graph, handed)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any .grad (torch.autograd.grad)."""
    outputs, grads = _roots(outputs, grad_outputs, "grad")
    inputs = _as_tuple(inputs)
    for t in inputs:
        if not t._requires_grad:
            raise AutogradError("One of the differentiated Tensors does not require grad")
    results = _run(outputs, grads, retain_graph, create_graph, capture=inputs)
    out = []
    for t, g in zip(inputs, results):
        if g is None and materialize_grads:
            g = Tensor._make(t._data * 0)
        if g is None and not allow_unused:
            raise AutogradError("One of the differentiated Tensors appears to not have been "
                                "used in the graph. Set allow_unused=True if this is the "
                                "desired behavior.")
        out.append(g)
    return tuple(out)


def _as_tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _roots(tensors, grads, op):
    from .creation import ones_like
    tensors = _as_tuple(tensors)
    if grads is None:
        grads = (None,) * len(tensors)
    elif isinstance(grads, Tensor):
        grads = (grads,)
    out = []
    for t, g in zip(tensors, grads):
        if not t._requires_grad:
            raise AutogradError("element 0 of tensors does not require grad and does not have "
                                "a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise AutogradError(f"grad can be implicitly created only for scalar outputs; "
                                    f"this output has shape {fmt_shape(t.shape)}. Pass a "
                                    f"gradient of that shape: {op}(gradient=...)")
            g = ones_like(t)
        elif tuple(g.shape) != tuple(t.shape):
            raise AutogradError(f"Mismatch in shape: grad_output[0] has a shape of "
                                f"{fmt_shape(g.shape)} and output[0] has a shape of "
                                f"{fmt_shape(t.shape)}.")
        out.append(g)
    return tensors, out


def _run(roots, root_grads, retain_graph, create_graph, capture=None):
    """Propagate gradients from roots; returns the gradients of `capture` (or None)."""
    if retain_graph is None:
        retain_graph = create_graph
    pending = {}            # id(node) -> gradient of that node's output
    leaf_grads = {}         # id(leaf) -> (leaf, gradient), accumulated over all uses
    capture_ids = {id(t): i for i, t in enumerate(capture)} if capture is not None else {}
    captured = [None] * len(capture_ids)
    ready = []              # max-heap of (-seq, node): latest-created node first
    for t, g in zip(roots, root_grads):
        if t._node is None:
            _add(leaf_grads, id(t), t, g)
        else:
            if id(t._node) not in pending:
                heapq.heappush(ready, (-t._node.seq, t._node))
            _add(pending, id(t._node), t._node, g)
    # Non-leaf tensors asked for (grad(y, [hidden])) are captured at their node.
    capture_nodes = {id(t._node): i for i, t in enumerate(capture or ()) if t._node is not None}

    with grad_mode.set_grad_enabled(create_graph):
        while ready:
            node = heapq.heappop(ready)[1]
            g = pending.pop(id(node))[1]
            for hook in node.hooks or ():
                new = hook(g)
                g = new if new is not None else g
            if node.retain is not None:
                t = node.retain()
                if t is not None:
                    t.grad = g if create_graph else g.detach()
            if id(node) in capture_nodes:
                i = capture_nodes[id(node)]
                captured[i] = g if captured[i] is None else captured[i] + g
            _step(node, g, pending, leaf_grads, ready)
            if not retain_graph:
                node.args = None
    results, handed = captured, set()
    for leaf, g in leaf_grads.values():
        if id(leaf) in capture_ids:
            i = capture_ids[id(leaf)]
            results[i] = g if results[i] is None else results[i] + g
        elif capture is None:
            _accumulate_leaf(leaf, g, create_graph, handed)
    return results


def _add(table, key, owner, g):
    hit = table.get(key)
    table[key] = (owner, g if hit is None else hit[1] + g)


def _step(node, g, pending, leaf_grads, ready):
    """Run one node's VJP and route each input's gradient to its producer or leaf; a
    producer seen for the first time joins the `ready` heap."""
    args = node.args
    if args is None:
        raise AutogradError(_FREED)
    for a, v in zip(args, node.versions):
        if v is not None and a._vc[0] != v:
            raise AutogradError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{a.dtype.name} {fmt_shape(a.shape)}] is at version "
                f"{a._vc[0]}; expected version {v} instead. Hint: replace the in-place op "
                f"(x += ..., x.add_(...)) on that tensor with an out-of-place one.")
    grads = node.prim.vjp(g, node.out(), *args, **node.params)
    for a, ga in zip(args, grads):
        if ga is None or not isinstance(a, Tensor) or not a._requires_grad:
            continue
        ga = fit_grad(ga, a)
        producer = a._node
        if producer is None:
            _add(leaf_grads, id(a), a, ga)
            continue
        if producer.args is None:
            raise AutogradError(_FREED)
        key = id(producer)
        hit = pending.get(key)
        if hit is None:
            heapq.heappush(ready, (-producer.seq, producer))
            pending[key] = (producer, ga)
        else:
            pending[key] = (producer, hit[1] + ga)


def fit_grad(g, like):
    """Undo broadcasting and promotion: sum g down to `like`'s shape and cast to its dtype."""
    gd, ld = g._data, like._data
    if gd.shape != ld.shape:
        g = sum_to(g, ld.shape)
    if gd.dtype != ld.dtype:
        g = cast(g, ld.dtype)
    return g


def _accumulate_leaf(leaf, g, create_graph, handed):
    """Add g into leaf.grad. `handed` holds the arrays already given to a leaf in this run:
    add's VJP returns the same g for both operands, and optimizers update .grad in place,
    so no two .grad tensors may share memory."""
    for hook in leaf._hooks or ():
        new = hook(g)
        g = new if new is not None else g
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    data = g._data
    if leaf.grad is not None:
        leaf.grad = Tensor._make(leaf.grad._data + data)
        return
    # A view is fine as long as nothing else handed out shares its base (a transposed
    # matmul result is the usual case, and copying it would cost a strided pass).
    owner = data if data.base is None else data.base
    if id(owner) in handed or not data.flags.writeable:
        data = data.copy()
        owner = data
    handed.add(id(owner))
    leaf.grad = Tensor._make(data)


def tape_node_of(t: Tensor):
    """The TapeNode that produced t (None for leaves); for debugging and tests."""
    return t._node if isinstance(t._node, TapeNode) else None
