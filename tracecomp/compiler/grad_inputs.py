"""The `.grad` inputs of a compiled call: which of them the traced code reads at all
(`GradWatch` notes every read of a tensor's .grad during the trace), which a graph may drop
from its inputs because it only tests whether they exist, and where the .grad entries sit
at the end of the call's state (`grad_tail`). A call lets go of the .grad tensors it
replaces (`release_replaced_grads`), so a gradient buffer is not held twice.
"""
import threading

import numpy as np

from ..errors import TraceError
from ..ir import Node
from ..tensor import Tensor


def unread_grad_inputs(graph, n_args, state, effects):
    """Positions, among the call's tensors (n_args arguments, then `state`), of the .grad
    inputs that `graph` never reads: only whether they exist is in the signature (a
    zero_grad() tests it before setting them to None). A .grad the call writes in place
    (zero_grad(set_to_none=False) zeroes it) is not one: its tensor takes the new value."""
    start = n_args + grad_tail(state)
    if len(graph.inputs) != n_args + len(state):
        return ()
    used = {id(v) for n in graph.nodes for v in n.inputs} | {id(v) for v in graph.outputs}
    written = {e.target for e in effects if e.kind == "data"}
    return tuple(k for k in range(start, len(graph.inputs))
                 if id(graph.inputs[k]) not in used and k not in written)


# passed for a released .grad input, never read: one per input position, so a call's
# arrays stay distinct objects (the runner's check for donations is quick only then)
_UNREAD = []


def release_replaced_grads(art, every, arrays, state, n_args):
    """Drop the .grad tensors a call replaces without reading them (a step that calls
    zero_grad() before backward()), and the call's own references to them (`every`,
    `arrays` and `state`, where they sit at art.unread_grads): their arrays go back to the
    runner's spare outputs and take the new gradients, where a second set of gradient
    buffers was kept before (torch frees the old gradients in zero_grad() before backward
    makes new ones). Should the call fail, those .grad are None, as after the zero_grad()
    it began with."""
    unread = {id(every[k]): k for k in art.unread_grads}
    for e in art.effects:
        if e.kind == "grad" and e.has_value:
            t = every[e.target]
            k = unread.get(id(t.grad))
            if k is not None:
                t.grad = every[k] = None
                if state is not None:
                    state[k - n_args] = None
                while len(_UNREAD) <= k:
                    _UNREAD.append(np.zeros(1, np.uint8))
                arrays[k] = _UNREAD[k]


def grad_tail(state):
    """Where the .grad entries begin in `state`: collect() and the compiler's lookup
    append them after everything else."""
    for k, (label, _) in enumerate(state):
        if type(label) is tuple and label[0] == "grad":
            return k
    return len(state)


class GradWatch:
    """Whether the traced code looked at any tensor's .grad (read, assigned or deleted),
    and whose. A graph that never did is the same whether the parameters have gradients
    or not (a training loop runs its forward with and without them, e.g. when zero_grad
    comes after it), so one artifact serves both (drop_grad_inputs). While a watch is on,
    Tensor.grad is a property over the instance's own `grad` entry."""

    active = []

    def __enter__(self):
        self.touched = False
        self.first = {}         # id -> (tensor, its .grad before the code touched it)
        self.thread = threading.get_ident()     # other threads' .grad use is not the trace's
        if not GradWatch.active:
            Tensor.grad = property(_get_grad, _set_grad, _del_grad)
        GradWatch.active.append(self)
        return self

    def __exit__(self, kind, *_):
        GradWatch.active.remove(self)
        if not GradWatch.active:
            Tensor.grad = None      # the class default: a plain attribute again
        if kind is not None:        # the trace failed: no traced value stays in a .grad
            for t, g in self.first.values():    # (fallback='eager' runs the step next)
                t.__dict__["grad"] = g

    def check_outside(self, holders, tracer):
        """A .grad the signature does not cover: of a tensor that is neither an input
        (argument, module state) nor made by the traced code, e.g. a closure's Parameter.
        Whether it exists would be baked in unchecked, and a traced backward would leave a
        traced value in it: restore it and say so."""
        inputs = {id(h) for h in holders}
        outside = [(t, g) for t, g in self.first.values() if id(t) not in inputs
                   and not isinstance(t._data, Node) and not tracer.made_here(t)]
        for t, g in outside:
            t.__dict__["grad"] = g
        if outside:
            t = outside[0][0]
            raise TraceError(
                f"compiled code used the .grad of a tensor of shape {list(t.shape)} that it "
                f"reaches from outside its arguments and modules (a global or a closure): "
                f"the compiled signature does not cover that gradient. Pass the tensor as "
                f"an argument, or keep it in an nn.Module the code uses")


def _touch(t):
    me = threading.get_ident()
    for watch in GradWatch.active:
        if watch.thread != me:
            continue
        watch.touched = True
        if id(t) not in watch.first:
            watch.first[id(t)] = (t, t.__dict__.get("grad"))


def _get_grad(t):
    _touch(t)
    return t.__dict__.get("grad")


def _set_grad(t, value):
    _touch(t)
    t.__dict__["grad"] = value


def _del_grad(t):
    _touch(t)
    t.__dict__.pop("grad", None)


def drop_grad_inputs(graph, nodes, n_args, state):
    """For code that never looked at .grad: drop the graph inputs of the .grad tensors
    in `state` (nodes: the inputs of args + state, in order). Returns how many state
    entries the graph still reads, or None when a .grad value is used after all (a
    tensor that is also reached another way)."""
    keep = grad_tail(state)
    dropped = set(map(id, nodes[n_args + keep:]))
    if dropped and any(id(v) in dropped for v in graph.outputs) or any(
            id(v) in dropped for n in graph.nodes for v in n.inputs):
        return None
    graph.inputs = [v for v in graph.inputs if id(v) not in dropped]
    return keep
