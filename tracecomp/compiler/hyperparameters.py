"""Optimizer hyperparameters fed to a compiled step as inputs, so a scheduler does not
compile every step.

A compiled step bakes an optimizer group's hyperparameters in as constants (they are in
its signature), so a learning-rate scheduler stepped every call, as OneCycleLR or a warmup
schedule is in most training scripts, would compile every call. As torch.compile's
automatic dynamic shapes do for sizes, a hyperparameter seen to change between calls is
*fed* from then on: the next compile traces it as a 0-d float64 input (the precision of
the Python float the eager update computes with), and later values run the same artifact.
A hyperparameter given as a tensor, torch's way to keep a compiled step from recompiling
(`SGD(params, lr=torch.tensor(0.01))`), is fed from the first call: the tensor itself is
the input, so the scheduler's `fill_` is seen.

Only the hyperparameters an optimizer's update uses as plain arithmetic may be fed: its
class lists them (`Optimizer.fed_settings`: SGD's lr and momentum, Adam's lr and betas),
and the update reads them through `optim.options.setting`. Its branches (`if momentum !=
0`) read the number, so whether a fed number it tests (`Optimizer.zero_tested`) is zero
stays in the signature (`Fed`).

While the step is traced, a fed number in its group is a `FedNumber`, which notes any use
other than those two (the step's own code computing with lr, or returning it): that value
would be the trace's forever, so the function compiles again with that hyperparameter
compiled in, from then on (FedSettings.pin).
"""
import numpy as np

from ..tensor import Tensor


class Fed(tuple):
    """A fed hyperparameter's entry in the signature: for each of its numbers (one, or a
    tuple's, as Adam's betas), whether it is zero where the update's branches test that
    (`tested`), else None."""

    __slots__ = ()

    @staticmethod
    def of(value, tested):
        return Fed((v == 0) if tested else None for v in _numbers(value))

    def matches(self, value):
        """Whether `value` runs the artifact traced for this entry: as many numbers, zero
        where they were (where that is tested)."""
        numbers = _numbers(value)
        return numbers is not None and len(numbers) == len(self) and all(
            zero is None or (v == 0) is zero for v, zero in zip(numbers, self))

    def __eq__(self, other):        # never equal to a tuple hyperparameter's value
        return type(other) is Fed and tuple.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self):
        return "fed each call"


def _numbers(value):
    """value's numbers as a tuple (a number, or a tuple of them), or None for anything else
    (a string, a bool, a tensor: never fed from a number)."""
    items = value if type(value) is tuple else (value,)
    if all(type(v) in (int, float) for v in items):
        return items
    return None


class FedSettings:
    """Which hyperparameters a compiled function feeds.

    Keys are (optimizer index, group index, hyperparameter name): the order in which the
    function's optimizers and their groups are found (state.collect)."""

    def __init__(self):
        self.keys = set()       # fed from now on
        self.pinned = set()     # never fed: the function reads them as numbers
        self.seen = {}          # key -> the value of the latest general call
        # places (id(state dict), key) of Python numbers in optimizers' state that are fed
        # (the function's OutsideNumbers.slots): the signature holds their type only ("fed int")
        self.state_numbers = {}

    def feeds(self, key, value):
        """Whether the number(s) `value` of hyperparameter `key` are fed this call: once
        they have changed between two calls, while they stay numbers."""
        numbers = _numbers(value)
        if key in self.keys:
            return numbers is not None
        if key in self.pinned:
            return False
        last = self.seen.get(key)
        self.seen[key] = value
        if last is None or numbers is None or last == value:
            return False
        before = _numbers(last)
        if before is None or len(before) != len(numbers):
            return False
        self.keys.add(key)
        return True

    def pin(self, keys):
        """Compile these hyperparameters in from now on (NumberRead)."""
        self.keys -= keys
        self.pinned |= keys


def _inputs(value):
    """[(index, 0-d float64 tensor)] carrying `value` (a number: index None, or each of a
    tuple's) this call: new tensors each call, so calls in two threads never share one."""
    return [(i if type(value) is tuple else None, Tensor._make(np.array(float(v))))
            for i, v in enumerate(_numbers(value))]


def group_settings(o, g, opt, group, fed):
    """(signature entry, [(label, tensor)] to feed) for optimizer o's group g: every
    hyperparameter (sorted by name) that is a number, a string or a tuple of them, by
    value, except the fed ones, which are `Fed` entries; `fed` is the calling function's
    FedSettings (None: only tensors are fed)."""
    allowed = type(opt).fed_settings
    entries, feeds = [], []
    for key, v in sorted(group.items()):
        if key == "params":
            continue
        if key in allowed and _tensors(v):
            for i, t in _tensors(v):
                feeds.append((("setting", o, g, key, i), t))
        elif _is_setting(v):
            if fed is not None and key in allowed and fed.feeds((o, g, key), v):
                entries.append((key, Fed.of(v, key in type(opt).zero_tested)))
                feeds.extend((("setting", o, g, key, i), t) for i, t in _inputs(v))
            else:
                entries.append((key, v))
    return tuple(entries), feeds


def _tensors(value):
    """[(index, tensor)] of a tensor hyperparameter (index None) or of a tuple holding
    tensors (Adam's betas as tensors), else []."""
    if isinstance(value, Tensor):
        return [(None, value)]
    if type(value) is tuple and value and all(isinstance(v, Tensor) for v in value):
        return list(enumerate(value))
    return []


_SCALARS = (int, float, bool, str, type(None))


def _is_setting(v):
    """A hyperparameter the traced step bakes in: a number, a string, or a tuple of them
    (Adam's betas): its value is in the signature."""
    return isinstance(v, _SCALARS) or isinstance(v, tuple) and all(
        isinstance(x, _SCALARS) for x in v)


class NumberRead(Exception):
    """A fed hyperparameter was read as a number while tracing (not a TraceError: the
    driver compiles again with `keys`, (optimizer, group, name), compiled in)."""

    def __init__(self, keys):
        super().__init__(f"hyperparameters read as numbers: {sorted(keys)}")
        self.keys = keys


class WatchedNumber(float):
    """A hyperparameter's number standing in its group while a step is traced, whose uses
    are watched: arithmetic, comparison, conversion, hashing and formatting each call
    `used` (a subclass's: note the use, or refuse it) before acting as the float. Made from
    the value itself (float.__float__), not through another WatchedNumber's __float__."""

    def __new__(cls, value):
        return float.__new__(cls, float.__float__(value) if isinstance(value, float) else value)

    def used(self):
        raise NotImplementedError


def _watched(name):
    method = getattr(float, name)

    def watched(self, *args):
        self.used()
        return method(self, *args)
    watched.__name__ = name
    return watched


for _name in ("__abs__", "__add__", "__bool__", "__ceil__", "__divmod__", "__eq__",
              "__float__", "__floor__", "__floordiv__", "__format__", "__ge__", "__gt__",
              "__hash__", "__int__", "__le__", "__lt__", "__mod__", "__mul__", "__ne__",
              "__neg__", "__pos__", "__pow__", "__radd__", "__rdivmod__", "__repr__",
              "__rfloordiv__", "__rmod__", "__rmul__", "__round__", "__rpow__", "__rsub__",
              "__rtruediv__", "__str__", "__sub__", "__truediv__", "__trunc__"):
    setattr(WatchedNumber, _name, _watched(_name))


class FedNumber(WatchedNumber):
    """A fed hyperparameter's number in its group while the step is traced. The update's
    own uses are free: options.setting finds its input by the group, and a branch may ask
    whether it is zero when the signature holds that (`tested`). Any other use is noted in
    `reads`."""

    def __new__(cls, value, key, reads, tested):
        number = WatchedNumber.__new__(cls, value)
        number.key, number.reads, number.tested = key, reads, tested
        return number

    def used(self):
        self.reads.add(self.key)

    def __eq__(self, other):
        if not (self.tested and type(other) in (int, float) and other == 0):
            self.used()
        return float.__eq__(self, other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = WatchedNumber.__hash__      # (defining __eq__ would drop it)


class Tracing:
    """The fed hyperparameters while a step is traced: `inputs`, {(id(group), name, index):
    (tensor, what the group holds for it)}, the tensor being what options.setting returns
    while the group still holds that (the step's own code may set the group's lr before
    the update, as llm.c's warmup does: then the update uses the value it set); inside
    `with`, each fed number in its group is a FedNumber, and `check` raises NumberRead for
    those used otherwise."""

    def __init__(self, state, optimizers):
        self.inputs, self.reads, self.numbers = {}, set(), {}
        for label, t in state:
            if type(label) is tuple and label[0] == "setting":
                _, o, g, name, i = label
                group = optimizers[o].param_groups[g]
                self.inputs[(id(group), name, i)] = (t, t)
                if (group[name] if i is None else group[name][i]) is not t:
                    tested = name in type(optimizers[o]).zero_tested
                    self.numbers[(id(group), name)] = (group, name, (o, g, name), tested)
        self.saved = []

    def __enter__(self):
        for group, name, key, tested in self.numbers.values():
            value = group[name]
            self.saved.append((group, name, value))
            group[name] = tuple(FedNumber(v, key, self.reads, tested) for v in value) \
                if type(value) is tuple else FedNumber(value, key, self.reads, tested)
            held = enumerate(group[name]) if type(value) is tuple else [(None, group[name])]
            for i, number in held:
                self.inputs[(id(group), name, i)] = (self.inputs[(id(group), name, i)][0], number)
        return self

    def __exit__(self, *exc):
        for group, name, value in self.saved:
            group[name] = value
        self.saved = []

    def check(self, statics):
        """After tracing: NumberRead for the fed numbers used other than as the update's,
        or returned among the function's static results."""
        read = set(self.reads)
        read.update(v.key for v in statics if type(v) is FedNumber)
        if read:
            raise NumberRead(read)


def fed_sources(optimizers, state):
    """Where a repeated call (state_call.py, step_repeat.py) finds each fed hyperparameter
    of `state` again: ({id(input): tensor} for tensors the groups hold, {id(input): (group,
    name, index)} for numbers fed through 0-d inputs of their own), and for each optimizer
    the (group index, name) of those numbers (step_repeat.groups_of)."""
    held, numbers, fed = {}, {}, [set() for _ in optimizers]
    for label, t in state:
        if type(label) is tuple and label[0] == "setting":
            _, o, g, name, i = label
            group = optimizers[o].param_groups[g]
            if (group[name] if i is None else group[name][i]) is t:
                held[id(t)] = t
            else:
                numbers[id(t)] = (group, name, i)
                fed[o].add((g, name))
    return held, numbers, fed


def refill(source):
    """A 0-d input holding fed_sources' number `source` as the group has it now
    (step_repeat.same_groups has checked it is one)."""
    group, name, i = source
    return Tensor._make(np.array(float(group[name] if i is None else group[name][i])))
