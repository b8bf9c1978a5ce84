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
0`) read the number, so whether each fed number is zero stays in the signature (`Fed`).
"""
import numpy as np

from ..tensor import Tensor


class Fed(tuple):
    """A fed hyperparameter's entry in the signature: for each of its numbers (one, or a
    tuple's, as Adam's betas), whether it is zero, which the update's branches read."""

    __slots__ = ()

    @staticmethod
    def of(value):
        return Fed(v == 0 for v in _numbers(value))

    def matches(self, value):
        """Whether `value` runs the artifact traced for this entry: as many numbers, zero
        where they were."""
        numbers = _numbers(value)
        return numbers is not None and len(numbers) == len(self) and all(
            (v == 0) is zero for v, zero in zip(numbers, self))

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
    """Which hyperparameters a compiled function feeds, and the 0-d inputs that carry them.

    Keys are (optimizer index, group index, hyperparameter name): the order in which the
    function's optimizers and their groups are found (state.collect)."""

    def __init__(self):
        self.keys = set()       # fed from now on
        self.seen = {}          # key -> the value of the latest general call
        self.inputs = {}        # (key, index) -> the 0-d float64 tensor fed

    def feeds(self, key, value):
        """Whether the number(s) `value` of hyperparameter `key` are fed this call: once
        they have changed between two calls, while they stay numbers."""
        numbers = _numbers(value)
        if key in self.keys:
            return numbers is not None
        last = self.seen.get(key)
        self.seen[key] = value
        if last is None or numbers is None or last == value:
            return False
        before = _numbers(last)
        if before is None or len(before) != len(numbers):
            return False
        self.keys.add(key)
        return True

    def fill(self, key, value):
        """The 0-d tensors that carry `value` (a number, or each of a tuple's) this call."""
        out = []
        for i, v in enumerate(_numbers(value)):
            t = self.inputs.get((key, i))
            if t is None:
                t = self.inputs[(key, i)] = Tensor._make(np.array(0.0))
            t._data = np.array(float(v))
            out.append((i if type(value) is tuple else None, t))
        return out


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
                entries.append((key, Fed.of(v)))
                feeds.extend((("setting", o, g, key, i), t)
                             for i, t in fed.fill((o, g, key), v))
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


def traced_settings(state, optimizers):
    """{(id(group), name, index): tensor} for the tensors `state` feeds to hyperparameters:
    what optim.options.setting returns while the step is traced."""
    out = {}
    for label, t in state:
        if type(label) is tuple and label[0] == "setting":
            _, o, g, key, i = label
            out[(id(optimizers[o].param_groups[g]), key, i)] = t
    return out


def fed_sources(optimizers, state):
    """Where a repeated call (state_call.py, step_repeat.py) finds each fed hyperparameter
    of `state` again: ({id(input): tensor} for tensors the groups hold, {id(input): (group,
    name, index, input)} for numbers fed through 0-d inputs of their own), and for each
    optimizer the (group index, name) of those numbers (step_repeat.groups_of)."""
    held, numbers, fed = {}, {}, [set() for _ in optimizers]
    for label, t in state:
        if type(label) is tuple and label[0] == "setting":
            _, o, g, name, i = label
            group = optimizers[o].param_groups[g]
            if (group[name] if i is None else group[name][i]) is t:
                held[id(t)] = t
            else:
                numbers[id(t)] = (group, name, i, t)
                fed[o].add((g, name))
    return held, numbers, fed


def refill(source):
    """The 0-d input of fed_sources' number `source`, holding the group's number now
    (step_repeat.same_groups has checked it is one)."""
    group, name, i, t = source
    t._data = np.array(float(group[name] if i is None else group[name][i]))
    return t
