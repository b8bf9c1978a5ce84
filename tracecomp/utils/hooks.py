"""torch.utils.hooks.RemovableHandle: what a register_*_hook function returns, for programs
that keep their own hook tables (`handle = RemovableHandle(self._hooks); self._hooks[
handle.id] = fn`). `remove()` deletes the hook (and its entries in `extra_dict`); the
handle holds its tables weakly, so it does not keep their owner alive."""
import weakref
from collections import OrderedDict


class RemovableHandle:
    """A handle that removes one hook from `hooks_dict` (and from `extra_dict`, a dict or
    a list of dicts) by its id."""

    id: int
    next_id: int = 0

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self.extra_dict_ref = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self):
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            table = ref()
            if table is not None and self.id in table:
                del table[self.id]

    def __getstate__(self):
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state):
        # a table that is gone comes back as a dead reference to an empty one
        self.hooks_dict_ref = weakref.ref(OrderedDict() if state[0] is None else state[0])
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        extra = state[2] if len(state) > 2 and state[2] is not None else ()
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra)

    def __enter__(self):
        return self

    def __exit__(self, type, value, tb):  # noqa: A002 - torch's parameter names
        self.remove()
