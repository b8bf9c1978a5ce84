"""A count of the changes to what modules hold, so a compiled call can tell that the
tensors it reads (every module's parameters, buffers and tensor attributes, and the
training flags) are the ones it found last time without walking the modules again: the
walk took 20 us per call for a 5-layer MLP and 55 us for LeNet (compiler/state.py).

`version()` grows whenever a module's registries (`_parameters`, `_buffers`, `_modules`,
and its forward hooks and pre-hooks: `Registry` dicts) change, and whenever
Module.__setattr__ or __delattr__ binds or drops a tensor, a tuple or list, a module, or
the training flag (module.py calls `changed()`). What
bypasses both (a tensor appended to a list attribute, a write into `module.__dict__`)
cannot be seen here: compiler/state.py walks again on every call for a module that holds
a list.
"""
from collections import OrderedDict

_count = [0]


def version():
    return _count[0]


def changed():
    _count[0] += 1


class Registry(OrderedDict):
    """A module's parameters, buffers or children: an OrderedDict that counts its changes."""

    def __setitem__(self, key, value):
        _count[0] += 1
        OrderedDict.__setitem__(self, key, value)

    def __delitem__(self, key):
        _count[0] += 1
        OrderedDict.__delitem__(self, key)

    def pop(self, *args):
        _count[0] += 1
        return OrderedDict.pop(self, *args)

    def popitem(self, last=True):
        _count[0] += 1
        return OrderedDict.popitem(self, last)

    def clear(self):
        _count[0] += 1
        OrderedDict.clear(self)

    def setdefault(self, key, default=None):
        _count[0] += 1
        return OrderedDict.setdefault(self, key, default)

    def move_to_end(self, key, last=True):
        _count[0] += 1
        OrderedDict.move_to_end(self, key, last)

    def update(self, *args, **kwargs):
        _count[0] += 1
        OrderedDict.update(self, *args, **kwargs)

    def __ior__(self, other):
        self.update(other)
        return self

    def __repr__(self):
        # printed as torch's: _parameters, _buffers and _modules are dicts there (`plain`,
        # an instance flag: compiled calls check a registry's exact type), the hook tables
        # OrderedDicts (the pruning tutorial prints module._forward_pre_hooks)
        return repr(dict(self) if self.plain else OrderedDict(self))

    plain = False


def plain_registry():
    """A Registry that prints as the dict torch keeps there."""
    table = Registry()
    table.plain = True
    return table
