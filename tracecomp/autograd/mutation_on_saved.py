"""torch.autograd.graph.allow_mutation_on_saved_tensors: inside it, a tensor saved for
backward may be changed in place; backward reads the value it had when it was saved.

Outside the context such a change makes backward refuse (the version check, engine.py).
Inside, the context is a pair of saved-tensors hooks (saved_hooks.py) plus a watch on
in-place writes, as torch builds it:
  - pack: each saved tensor gets a handle that holds it, filed under the tensor;
  - before an in-place op writes into a tensor (or into a view of it: the tensors on its
    view chain), every handle filed under it takes a copy of its current values, once;
  - unpack: a handle's copy if it took one, else the tensor as it is.
Packed tensors are not version-checked (saved_hooks), so the old value goes through.
A backward through nodes recorded inside the context, run after it ends, is torch's
AssertionError; contexts do not nest (torch's RuntimeError). Entered in compiled code it is
a graph break, as saved_tensors_hooks is (a compiled call made inside it runs eagerly).
"""
import weakref

from .. import context, saved_hooks
from ..errors import TraceError
from ..tensor import Tensor

OUTSIDE = ("Trying to backward outside of the 'allow_mutation_on_saved_tensors' context"
           "in which the graph was originally recorded.")     # (torch's words, as they are)
NESTED = "allow_mutation_on_saved_tensors contexts cannot be nested"

_active = [None]    # the context being in force (one at a time, as torch's)


class _Handle:
    """What pack returns for one saved tensor: the tensor, or the copy of its values taken
    before the first in-place write into it."""

    __slots__ = ("tensor", "copy", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor
        self.copy = None


class _AllowMutationOnSavedContext:
    """torch's context object (what `with ... as ctx` gives)."""

    def __init__(self):
        self.live = True
        # id(saved tensor) -> the handles filed under it (a handle holds its tensor, so the
        # id stays that tensor's while any handle is alive)
        self.filed = {}

    def pack(self, t):
        handle = _Handle(t)
        self.filed.setdefault(id(t), weakref.WeakSet()).add(handle)
        return handle

    def unpack(self, handle):
        if not self.live:
            raise AssertionError(OUTSIDE)
        return handle.tensor if handle.copy is None else handle.copy

    def before_write(self, x):
        """x is about to change in place: the handles of x and of the tensors x is a view
        of keep copies of their values now."""
        while x is not None:
            handles = self.filed.pop(id(x), None)
            for handle in handles or ():
                if handle.tensor is x and handle.copy is None:
                    handle.copy = Tensor._make(x._data.copy())
            x = x._view[0] if x._view is not None else None


class allow_mutation_on_saved_tensors:
    """Context manager: tensors saved for backward may be changed in place inside it;
    backward uses their values from when they were saved."""

    def __enter__(self):
        if _active[0] is not None:
            raise RuntimeError(NESTED)
        if context.current() is not None:   # as saved_tensors_hooks: a graph break
            raise TraceError(saved_hooks.NOT_COMPILED)
        self.ctx = ctx = _AllowMutationOnSavedContext()
        saved_hooks.push(ctx.pack, ctx.unpack)
        _active[0] = ctx
        saved_hooks.writing[0] = ctx.before_write
        return ctx

    def __exit__(self, *exc):
        saved_hooks.pop()
        _active[0] = None
        saved_hooks.writing[0] = None
        self.ctx.live = False
        self.ctx.filed.clear()
        return False
