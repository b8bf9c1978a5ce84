"""What a guard compares a Python value as (`frozen`): a number by its type and value, a
small container item by item, a large one or one of unguarded items whole (`Whole`), a
number fed as an input by its kind (`FedSlot`). value_reads.py takes these when a trace
reads a value and again before each call; equal means the compiled graph still holds.
"""
from collections import deque
from itertools import chain
from operator import is_

import numpy as np

from ..errors import TraceError
from ..tracing.number import TracedNumber
from .signature import ARRAY_BYTES, array_fits, array_key, numpy_scalar

_SCALARS = frozenset((int, float, bool, str, type(None)))
GUARDED = _SCALARS | {tuple, list, dict, set, frozenset, np.ndarray}
SEQUENCES = (tuple, list, set, frozenset)      # held item by item, in iteration order
MAX_ITEMS = 64
# the containers held by what they hold whatever their class (a defaultdict, a Counter, an
# OrderedDict, a user's dict or list subclass, a deque): the code changes them in place
# as it does a dict or a list, so a guard compares their items (and their class)
BASES = (dict, list, set, deque)
MISSING = object()   # an attribute not set on its object (read from its class)


def frozen(value):
    """value as a guard compares it: (type, value) for a scalar, (type, items) for a tuple,
    list, set (in iteration order: a loop over it runs in that order) or dict (its (key,
    value) pairs) of at most MAX_ITEMS values, (type, Whole) for a larger one or one of
    nothing but values not guarded themselves (Whole: its length and items),
    (ndarray, signature.array_key) for a numpy array of at most ARRAY_BYTES (a lookup table
    the code reads as `float(TABLE[i])`), or None where it is not guarded (a tensor, an
    object: outside_tensors.py watches a tensor; a larger array: refuse_large_array). A
    subclass of dict, list or set, or a deque, is held as its base kind is, under its own
    class. A small container's items that are not guarded themselves (a tensor beside the
    numbers of a config dict) stand as OTHER."""
    kind = type(value)
    if value is MISSING:       # not set on the object: its class's value is read
        return ABSENT
    if kind in _SCALARS or numpy_scalar(value):     # np.float64: compared as a number
        return kind, value
    if kind is TracedNumber:    # a number fed as an input (outside_numbers.py)
        return fed_slot(value.__class__)
    if kind is np.ndarray:      # a numpy array, by its numbers (`float(mask[0])`)
        key = array_key(value)
        return None if key is None else (kind, key)
    if kind is dict or kind in SEQUENCES or isinstance(value, BASES):
        mapping = isinstance(value, dict)
        if len(value) > MAX_ITEMS or not any(map(_guarded_type, set(map(
                type, value.values() if mapping else value)))):
            return kind, Whole(value)
        items = tuple(map(pair, value.items())) if mapping else \
            tuple(OTHER if held is None else held for held in map(frozen, value))
        return kind, items
    return None


def large_array(value):
    """Whether value is a numpy array too large for a guard to compare (ARRAY_BYTES)."""
    return type(value) is np.ndarray and not array_fits(value)


def refuse_large_array(value, name):
    """A TraceError where the code reads `name`, a numpy array no guard compares: its
    numbers would be the trace's on every call, whatever the caller writes into it."""
    if large_array(value):
        raise TraceError(
            f"compiled code reads the numpy array {name} ({value.nbytes} bytes, "
            f"{value.dtype}): a trace holds the numbers it reads as constants, and an "
            f"array over {ARRAY_BYTES} bytes is too large to compare before every call, so "
            f"a change to it would not be seen. With fullgraph=False this call runs "
            f"eagerly. Pass it as a tensor argument (tracecomp.from_numpy(array)), which "
            f"is read each call.")


def _guarded_type(kind):
    """Whether frozen holds a value of this type by itself (not as OTHER)."""
    return kind in GUARDED or kind is TracedNumber or \
        issubclass(kind, (np.bool_, np.integer, np.floating, *BASES))


def container(kind):
    """The base kind a guard holds a class of container as (dict for a Counter, list for a
    list subclass), or None."""
    return next((base for base in BASES if issubclass(kind, base)), None)


class Whole:
    """A container frozen whole: one of more than MAX_ITEMS items (a list of 100 numbers, a
    table), or of nothing but values not guarded themselves (a list of tensors or modules,
    read by `len()` or a loop). Equal to another when each holds the same items, compared
    as frozen compares them; the identity of every item (a copy taken at C speed, about 1 ns
    an item) answers first, so a container unchanged costs no item's frozen. Items that are
    containers themselves (a list of [lo, hi] pairs) change in place, so those are frozen
    when taken: comparing such a container costs its items' frozen."""

    __slots__ = ("items", "nested", "_frozen")

    def __init__(self, value):
        self.items = tuple(chain.from_iterable(value.items())) if isinstance(value, dict) \
            else tuple(value)
        self.nested = any(kind in _CONTAINERS or container(kind) is not None
                          for kind in set(map(type, self.items)))
        self._frozen = self._frozen_items() if self.nested else None

    def _frozen_items(self):
        """The items as frozen holds them: OTHER for one not guarded."""
        return tuple(OTHER if held is None else held for held in map(frozen, self.items))

    def frozen_items(self):
        if self._frozen is None:    # items neither containers nor mutable: taken when asked
            self._frozen = self._frozen_items()
        return self._frozen

    def __eq__(self, other):
        if type(other) is not Whole or len(self.items) != len(other.items):
            return False
        if not (self.nested or other.nested) and all(map(is_, self.items, other.items)):
            return True
        return self.frozen_items() == other.frozen_items()

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None

    def __len__(self):
        return len(self.items)


_CONTAINERS = frozenset((tuple, list, dict, set, frozenset, np.ndarray))


OTHER = (object, "...")     # an item of a guarded container that is not guarded itself
ABSENT = (object, "unset")  # an attribute read from the class, not set on the object


class FedSlot(tuple):
    """A guard's entry for a number fed as an input: equal to any frozen number of its
    kind ((int, 7) for an int), whichever side of == it is on (a tuple subclass that
    overrides __eq__ is asked first)."""

    __slots__ = ()

    def __eq__(self, other):
        return type(other) in (tuple, FedSlot) and len(other) == 2 and other[0] is self[0]

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = tuple.__hash__


_FED = {}


def fed_slot(kind):
    """The FedSlot of a fed number of type `kind` (int, float, a numpy scalar type)."""
    slot = _FED.get(kind)
    if slot is None:
        slot = _FED[kind] = FedSlot((kind, "fed"))
    return slot


def pair(item):
    """A dict entry: a key that is not guarded itself (a parameter keying a hand-written
    optimizer's step counts, `self.param_step[p] += 1`) stands as its identity, so the
    numbers it keys are guarded as well."""
    key, value = frozen(item[0]), frozen(item[1])
    if value is None:
        return OTHER
    if key is None:
        key = (object, (id(item[0]), type(item[0]).__name__))
    return tuple, (key, value)
