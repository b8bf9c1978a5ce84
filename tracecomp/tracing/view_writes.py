"""An in-place update of a view, written into the tensor that owns its memory, while tracing.

Eagerly a view shares its base's memory, so writing the view writes the base. Traced values
share nothing: when a view takes a new value in place (inplace.commit), its base takes

    new_base = where(covered, placed(new_view), old_base)    (inplace_view.written_base)

and the tracer then replays every view of the base on it (Tracer.updated_in_place), so later
reads of the base, of its other views and of its twins (.data, .detach()) see the write, as
eager's do (`v = a[1:]; v.mul_(2)`, `w.data[..., k:].zero_()`, `x[:, 0].fill_(0)`).

Its gradient is torch's:
  - in grad mode new_base's history is that where()'s (torch's CopySlices), after torch's
    refusals (a view of a leaf that requires grad, a view made under no_grad, an output of
    unbind/split: inplace_view.check).
    Where the base is an argument and the write would be recorded, whether the caller's
    tensor is a leaf (torch's error) or takes the history is the caller's: the base is
    marked stale, a graph break whose eager run gives torch's answer (so is a view of an
    output of unbind/split, whose refusal names a node the trace does not have);
  - under no_grad the write is not recorded: the base keeps its gradient path and takes the
    new values (Tracer.kept_history), as torch keeps its grad_fn.

A chain is written through only where eager's memory is known to be shared: slice, permute,
expand, view_as_real and a reshape that only adds or drops dims of size 1 are views
whatever the base's strides, and a numpy view made eagerly (an indexing fast path, or any
view op on a real array) is one. A traced reshape that merges or splits dims is a view
eagerly only for strides the trace does not know (`x.t().reshape(-1)` copies): there the
base is marked stale as before, and reading it is the TraceError (a graph break) that says
so. A traced unfold is its windows copied, held as sharing memory with its input
(strided_views.unfold, Tracer.alias): a write through either makes the other stale too.
Each view op's write, both ways, against torch: tests/compiler/test_view_writes_table.py.
"""
import numpy as np

from .. import grad_mode, inplace_view
from ..dispatch import chain, history_taken
from ..tensor import Tensor

# views whatever the strides (view_as_real: a complex parameter torch's optimizers update
# through it, in a compiled step)
_ANY_LAYOUT = frozenset(("slice", "permute", "expand", "view_as_real"))


def _shares_memory(link):
    view, parent, prim, _, _ = link
    if type(view._data) is np.ndarray or prim is None or prim.name in _ANY_LAYOUT:
        return True
    return prim.name == "reshape" and _sizes(view.shape) == _sizes(parent.shape)


def _sizes(shape):
    return [n for n in shape if n != 1]


def write_through(tracer, view):
    """view (a view) just took a new value in place: its base takes the write, as eager's
    shared memory gives it. Returns the base, or None where the chain is not known to share
    memory (its bases then go stale: Tracer._updated)."""
    links, base = chain(view)
    if not all(_shares_memory(link) for link in links):
        return None
    if any(inplace_view.nbytes(link[0]) > inplace_view.nbytes(link[1])    # an expanded
           for link in links):                                              # view
        raise RuntimeError(inplace_view.OVERLAP)
    value = Tensor._make(view._data, view._requires_grad, view._node)
    if not grad_mode.state.enabled:
        with grad_mode.no_grad():
            new = inplace_view.written_base(links, base, view, value)
        data = tracer.kept_history(base._data, new._data)
    else:
        if value._requires_grad or base._requires_grad:
            if tracer.multi_view(view) is None and any(
                    tracer.multi_view(link[0]) for link in links[1:]):
                return None     # a view of unbind's output: torch's error names the node
                #                 of the view written, which the trace does not have
            inplace_view.check(links, base, tracer.multi_view)   # torch's refusals
            if tracer.holds(base):
                return None     # an input: whether the caller's is a leaf (torch's error)
                #                 or takes history (CopySlices) is not the trace's to give
        new = inplace_view.written_base(links, base, view, value)
        data = new._data
        if new._requires_grad:      # torch's CopySlices: the base's history goes through it
            old, base._node, base._requires_grad = base._node, new._node, True
            history_taken(old)
            inplace_view.retake_retain(base, old)
    if type(base._data) is np.ndarray:      # a real tensor takes a traced value
        tracer.rebound.append((base, base._data))
    base._data = data
    base._vc[0] += 1
    return base
