"""In-place changes of a tensor's shape (x.unsqueeze_(0), x.squeeze_(), x.t_(),
x.transpose_(0, 1), x.resize_(n, m)), as torch makes them: the same tensor object, now
with the new shape over the same memory, and with the view op's history when it is on the
tape (`UnsqueezeBackward1`).

The elementwise in-place path (inplace.commit) writes a result into the tensor's buffer,
which keeps its shape: a squeeze written that way kept the old shape (silently) or failed
to broadcast. Here the tensor takes the view op's result itself: its array is a numpy view
of the same memory, its node the op's node over a stand-in holding the history it had.

A view stays a view of its base, one view op further, so a later in-place write through it
gives the base a new history as any view's does (inplace_view.py). The version counter
moves, as torch's, and the tensor is marked as reshaped at that version: an op that read x
before is refused at backward, even one that read only its shape (its VJP would see the new
one; the engine's saved-value check). What torch allows that
this does not do is refused with a clear error rather than done partly: in compiled code,
changing the shape of a tensor the code did not make itself (an argument, a parameter: the
caller's tensor would keep its old shape) or one that has views.
"""
import numpy as np

from . import context, grad_mode, inplace_view
from .dispatch import TapeNode, history_taken
from .errors import TraceError
from .tensor import Tensor

_grad = grad_mode.state


def method(view_op, name, node_name):
    """x.name_(...): x takes view_op(x, ...)'s shape and history in place; node_name:
    torch's node for the in-place form, or a function of the call's arguments giving it."""
    op = name + "_"

    def reshape_in_place(x, *args, **kwargs):
        _check(x, op)
        probe = Tensor._make(x._data, False, None)     # only its shape matters here
        if view_op(probe, *args, **kwargs) is probe:    # nothing changes (a squeeze of
            return x                                    # no size-1 dim)
        # The version moves, as torch's, and the shape change is marked: an op that read
        # x before, even only its shape, would see the new shape in its VJP, so the
        # saved-value check refuses it (torch keeps the shape it read; we keep the tensor)
        x._vc[0] += 1
        x._reshaped_at = x._vc[0]
        before = _before(x)
        out = view_op(before, *args, **kwargs)
        if out._node is not None:
            from .grad_fn_names import renamed
            renamed(out, before, node_name if isinstance(node_name, str)
                    else node_name(*args, **kwargs))
            if isinstance(out._node, TapeNode):     # (a traced tensor's is a stand-in)
                out._node.share_counter(x._vc)     # what the node made is x now
        history_taken(x._node)
        x._data, x._node = out._data, out._node
        # a view stays a view of its base, one view op further (through `before`, which
        # in-place updates of x then replay: inplace_view.chain); a base stays a base
        x._view = out._view if x._view is not None else None
        return x
    reshape_in_place.__name__ = op
    return reshape_in_place


def _before(x):
    """x as it was, to apply the view op to (so x's new node does not point at x itself):
    a base's stand-in holding its history; for a view, its view ops replayed from its base
    at the new version (inplace_view's replay), so the chain still ends at the base."""
    if x._view is None:
        return Tensor._make(x._data, x._requires_grad, x._node, [x._vc[0]])
    links, base = inplace_view.chain(x)
    t = base
    for link in reversed(links):
        t = inplace_view.replay(link, t)
    return t


def _check(x, op):
    trace = context.current()
    if trace is not None and (not isinstance(x._data, trace.graph.node_type)
                              or any(h is x for h in trace.holders.values())
                              or id(x) in trace.aliases):
        raise TraceError(f"{op}: compiled code changes the shape of a tensor in place that it "
                         f"did not make itself, or that has views (shape {list(x.shape)}); "
                         f"the caller's tensor would keep its shape. Use the out-of-place "
                         f"op and its result (x = x.{op[:-1]}(...)).")
    if not _grad.enabled:
        return
    if x._requires_grad and x._node is None:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an "
                           f"in-place operation (shape {list(x.shape)}). Use the out-of-place "
                           f"op (x = x.{op[:-1]}(...)) or do it under tracecomp.no_grad().")
    if x._view is not None:
        base = inplace_view.chain(x)[1]
        if base._requires_grad and base._node is None:
            raise RuntimeError(f"{op}: {inplace_view.VIEW_OF_LEAF}")


def resize_(x, *sizes, memory_format=None):
    """x.resize_(*sizes): x takes the new shape; the elements it had stay first in
    row-major order (a larger tensor's new ones are zeros here, torch's are whatever the
    memory held). torch refuses it on a tensor that requires grad, and so does this."""
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
        else tuple(sizes)
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise RuntimeError(f"resize_: sizes must be non-negative integers, got {list(shape)}")
    if x._requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    if context.current() is not None:
        raise TraceError(f"resize_: compiled code resizes a tensor in place (shape "
                         f"{list(x.shape)} -> {list(shape)}); use reshape, or make a new "
                         f"tensor")
    data = x._data
    if not isinstance(data, np.ndarray):
        raise RuntimeError(f"resize_: tracecomp resizes CPU tensors only (this one is on "
                           f"{x.device}); resize a .cpu() copy")
    n = int(np.prod(shape))
    if n == data.size and data.flags.c_contiguous:
        x._data = data.reshape(shape)
    else:
        flat = np.zeros(n, dtype=data.dtype)
        k = min(n, data.size)
        flat[:k] = data.reshape(-1)[:k]
        x._data = flat.reshape(shape)
    x._view = None
    x._vc[0] += 1
    x._reshaped_at = x._vc[0]
    return x
