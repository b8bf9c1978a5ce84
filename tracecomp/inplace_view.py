"""In-place updates of views, with torch's autograd semantics (its view "rebase").

A view shares memory with its base, so writing into the view changes the base. When the
write is recorded on the tape, the base takes a new history, as torch's CopySlices gives it:

    new_base = where(M, Vt(result), old_base)

where V is the chain of view ops from the base to the view, Vt its adjoint (the views' own
VJP rules, which put the view's values back at their places in the base) and M the elements
the view covers. The view, and every view between it and the base, then becomes a replay of
its view op on the new base. Gradients flow as in torch: the covered elements' into the
in-place result, the others' into the base's old history.

Every result that shares its input's memory records how it was made in `Tensor._view`:
(parent, prim, params, made_in_grad_mode); bind sets it, and the eager indexing fast paths set
it with prim None and the index key as params (their replay is `parent[key]`).

On a device a view is a copy of its part (device memory is never written in place): there
the base takes `new_base` as its value too, and each view on the way its replay's.

The other way round, a view whose base changed in place by another path keeps a node made
at an older version: the next op that reads it, a backward from it and its grad_fn replay
its view ops on the base's current history first (dispatch.current_node, beside the tape
that calls it; chain and replay live there too).

Where torch refuses, so do we: a view of a leaf that requires grad, a view made under
no_grad updated with grad mode on, a write to a tensor whose elements overlap in memory
(an expanded tensor), and a write that reads another view of the memory it writes in part
(`t[2:7] = t[0:5]`, `y.add_(y.t())`), which torch finds in its mem-overlap check."""
import re
import weakref

import numpy as np

from . import grad_mode, output_groups
from .device_array import DeviceArray
from .dispatch import (  # noqa: F401  (chain, current_node, replay re-exported)
    chain,
    current_node,
    history_taken,
    replay,
    view_mode_message,
)
from .errors import AutogradError
from .tensor import Tensor

_grad = grad_mode.state

VIEW_OF_LEAF = ("a view of a leaf Variable that requires grad is being used in an in-place "
                "operation.")
NO_GRAD_VIEW = ("A view was created in no_grad mode and is being modified inplace with grad "
                "mode enabled. Given that this use case is ambiguous and error-prone, it is "
                "forbidden. You can clarify your code by moving both the view and the inplace "
                "either both inside the no_grad block (if you don't want the inplace to be "
                "tracked) or both outside (if you want the inplace to be tracked).")
OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a "
           "single memory location. Please clone() the tensor before performing the operation.")


def check_overlap(data):
    """An expanded tensor (stride 0 over a dim longer than 1) cannot be written in place."""
    if data.size > 1 and any(s == 0 and n > 1 for s, n in zip(data.strides, data.shape)):
        raise RuntimeError(OVERLAP)


PARTIAL = ("unsupported operation: some elements of the input tensor and the written-to "
           "tensor refer to a single memory location. Please clone() the tensor before "
           "performing the operation.")


def check_partial_overlap(x, operands, written=None):
    """torch's assert_no_partial_overlap between the tensor written in place and each
    operand read: refused where both are dense and their memory overlaps but is not the
    same elements in the same order (torch's get_overlap_status: PARTIAL). Where either is
    not dense (a strided slice of rows and columns) torch does not look (TOO_HARD) and
    copies in its own loop order; we compute as if the operand were copied first.
    written: the part of x's array written (`x[k] = v`), when not all of it."""
    for o in operands:
        if not isinstance(o, Tensor) or o is x or o._vc is not x._vc:
            continue        # (views of one memory share their version counter)
        a, b = x._data if written is None else written, o._data
        if type(a) is not np.ndarray or type(b) is not np.ndarray or not a.size or \
                not b.size or not (_dense(a) and _dense(b)):
            continue
        a0, b0 = a.__array_interface__["data"][0], b.__array_interface__["data"][0]
        a1, b1 = a0 + a.nbytes, b0 + b.nbytes
        if (a0, a1) == (b0, b1) and _layout(a) == _layout(b):
            continue        # the same elements (y.view(3, 3) twice): FULL, allowed
        if a0 < b1 and b0 < a1:
            raise RuntimeError(PARTIAL)


def _layout(a):
    """(size, stride) of a's dims longer than 1: `t[1, 1] = t[1, 1]` writes a (1, 1) part
    of t with a 0-d view of the same element."""
    return [(n, s) for n, s in zip(a.shape, a.strides) if n != 1]


def _dense(a):
    """torch's is_non_overlapping_and_dense for an array: its dims, by stride, lie back to
    back (dims of size 1 aside)."""
    step = a.itemsize
    for stride, n in sorted((s, n) for s, n in zip(a.strides, a.shape) if n != 1):
        if stride != step:
            return False
        step *= n
    return True


def needs_history(x, result):
    """Whether writing `result` into x changes some tensor's history on the tape."""
    if not _grad.enabled or type(x._vc) is not list:    # (an inference tensor has none:
        return False                                    # its update is refused at the bump)
    if result._requires_grad or x._requires_grad:
        return True
    return x._view is not None and chain(x)[1]._requires_grad


def check(links, base, noted=None):
    """torch's refusals, in its order: a view made under no_grad (x itself, or a view x was
    made of in grad mode, whose message names x's node), an output of unbind/split (or a
    view of one), then a view of a leaf. noted: view -> (output number, node class name)
    of such an output while tracing (the trace's views have no tape node), or None."""
    for k, (view, *_, made_in_grad) in enumerate(links):
        if not made_in_grad:
            if k == 0:
                raise AutogradError(view_mode_message(NO_GRAD_VIEW, view))
            node = links[0][0]._node
            name = re.sub(r"Backward\d*$", "", type(node).__name__) if node else "a view op"
            raise AutogradError(view_mode_message(
                f"Output 0 of {name} is a view of a view which was created in no_grad mode"
                f"{NO_GRAD_VIEW.split('no_grad mode', 1)[1]}", view))
    for view, *_ in links:
        if getattr(view._node, "multi_view", False):     # (a traced node has no such flag)
            node = links[0][0]._node
            raise AutogradError(multi_view_message(output_groups.output_nr(node),
                                                   type(node).__name__))
        hit = None if noted is None else noted(view)
        if hit is not None:
            raise AutogradError(multi_view_message(*hit))
    if base._requires_grad and base._node is None:
        raise AutogradError(VIEW_OF_LEAF)


def multi_view_message(nr, node_class):
    """torch's refusal to update in place an output of unbind/split/chunk (or a view of
    one), naming the node that made the tensor written (its class name, its output nr)."""
    name = re.sub(r"Backward\d*$", "", node_class)
    return (f"Output {nr} of {name} is a view and is being "
            f"modified inplace. This view is the output of a function that returns multiple "
            f"views. Such functions do not allow the output views to be modified inplace. You "
            f"should replace the inplace operation by an out-of-place one.")


def _adjoint(link, g):
    """Parent-shaped: g at the places the link's view reads, zero elsewhere."""
    view, parent, prim, params, _ = link
    if prim is None:
        from .creation import zeros
        placed = zeros(tuple(parent.shape), dtype=g.dtype)
        placed[params] = g
        return placed
    return prim.vjp(g, view, parent, **params)[0]


def old_view(x):
    """A stand-in for view x before the update: its values (copied: the update overwrites
    them, and the in-place op's VJP may need them) and its history, replayed from a stand-in
    of the base. The base's own version counter is not shared, so the coming update does not
    invalidate the stand-in's history."""
    links, base = chain(x)
    check(links, base)
    t = Tensor._make(base._data, base._requires_grad, base._node)
    for link in reversed(links):
        t = replay(link, t)
    return Tensor._make(x._data.copy(), t._requires_grad, t._node)


def _where_all(cond, new, old):
    from .ops.elementwise import where
    return where(Tensor._make(cond), new, old)


def nbytes(t):
    return t._data.size * t._data.dtype.itemsize      # view_as_real: twice the elements


# a complex tensor's part written (`z.real.mul_(2)`): the byte count says partial, but each
# element is read; its other part stays
_OTHER_PART = {"real": "imag", "imag": "real"}


def _placed(links, g, base):
    """The base's new value, g put back through the links one at a time (x's outward): a
    link whose view covers its parent (reshape, permute, view_as_real: the same bytes)
    gives its adjoint; a partial one the adjoint where it reads, the parent's old value
    elsewhere, in the parent's own elements (a real part of view_as_real covers half of
    each complex number, which no complex-valued mask can say)."""
    from .creation import ones
    from .ops.elementwise import where
    partial = [nbytes(view) != nbytes(parent) for view, parent, *_ in links]
    olds = [base]       # the parents' old values, from the base out (replayed: a view's
    for link in reversed(links[1:]):        # own node may be older than its base's)
        olds.append(replay(link, olds[-1]) if any(partial) else None)
    for link, part, old in zip(links, partial, reversed(olds)):
        placed = _adjoint(link, g)
        other = _OTHER_PART.get(getattr(link[2], "name", None))
        if other is not None:       # every element is covered, half of it: the other part
            from .ops import elementwise as ew
            keep = getattr(ew, other)(old)      # keeps its value and its history
            placed = placed + getattr(ew, other + "_p").vjp(keep, keep, old)[0]
        elif part:
            with grad_mode.no_grad():
                covered = _adjoint(link, ones(tuple(link[0].shape), dtype=link[0]._data.dtype,
                                              device=link[0].device)) != 0
            placed = where(covered, placed, old)
        g = placed
    return g


def new_history(x, result):
    """Before x's buffer takes result: the history x's base will have afterwards, and what
    `finish` needs to hand it out. For x that is not a view this is result's history, or,
    when the result is a constant written over a tensor with history, a where() whose
    gradient to the old history is zero (torch keeps requires_grad, with zero gradient)."""
    links, base = chain(x)
    if _grad.enabled:
        check(links, base)
    return links, base, written_base(links, base, x, result)


def written_base(links, base, x, result):
    """The value (and, in grad mode, the history) base holds once `result` is written into
    its view x, which `links` lead to: where(covered, placed, old)."""
    from .ops.elementwise import cast
    value = result if result._data.dtype == x._data.dtype else cast(result, x._data.dtype)
    if value._data.shape != x._data.shape:
        from .ops.movement import expand
        value = expand(value, tuple(x._data.shape))
    old = Tensor._make(base._data, base._requires_grad, base._node)   # fresh version counter
    new = _placed(links, value, old)
    if nbytes(x) == nbytes(base) and not new._requires_grad:  # the view covers its base
        new = _where_all(np.array(True), new, old)
    return new


def retake_retain(x, old):
    """x took a new node over `old` in place: x.retain_grad() follows it, as torch's (x.grad
    is the gradient of x's current value); hooks stay with the value they were put on."""
    if x._retains_grad and old is not None and getattr(old, "retain", None) is not None \
            and old.retain() is x and x._node is not old and x._node is not None:
        old.retain = None
        x._node.retain = weakref.ref(x)


def finish(plan):
    """After the write: the base takes the new history, each view on the way to x a replay
    of its view op (recorded now, at the buffer's new version)."""
    links, base, new = plan
    old, base._node, base._requires_grad = base._node, new._node, new._requires_grad
    history_taken(old)
    retake_retain(base, old)
    parent = base
    for link in reversed(links):
        view = link[0]
        again = replay(link, parent)
        old, view._node, view._requires_grad = view._node, again._node, again._requires_grad
        retake_retain(view, old)
        if type(view._data) is DeviceArray:     # a copy of its part: it takes the new values
            view._data.assign(again._data)
        parent = view
