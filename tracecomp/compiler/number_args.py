"""Number arguments fed to a compiled function as inputs, so a step counter or an annealed
weight does not compile every call.

A number argument (an int or a float, not a bool) is part of the signature by value, so a
function called with `epoch`, `beta = min(1, step / warmup)` or a diffusion timestep that
changes every call would compile every call. As torch.compile's automatic dynamic shapes
do for its integer and float inputs, a number argument seen to change between two calls
is *fed* from then on: the next compile traces it as a 0-d input (float64 for a float,
int64 for an int: what Python computes with), and every later value runs that artifact.
`compile(..., dynamic=True)` feeds numbers from the first call, `dynamic=False` never.

Where the code needs the value itself (a branch, a range, a size, returning it: see
tracing/number.py) the number cannot be fed: the trace raises `ArgumentRead`, and the
function is traced again with that argument compiled in, for good (`NumberArguments.pin`),
as before. So is every fed argument of a trace that fails with any other error: feeding
is never why a function fails.
"""
import numpy as np

from ..tensor import Tensor
from ..tracing.number import Conditions, Reads, TracedNumber, input_recipe

_NUMBERS = (int, float)
_DTYPES = {int: np.dtype(np.int64), float: np.dtype(np.float64)}


class FedArgument:
    """A fed number's entry in the signature in place of its value: its type."""

    __slots__ = ("kind",)

    def __init__(self, kind):
        self.kind = kind

    def __eq__(self, other):
        return type(other) is FedArgument and other.kind is self.kind

    def __hash__(self):
        return hash((FedArgument, self.kind))

    def __repr__(self):
        return "an int fed each call" if self.kind is int else "a float fed each call"


class ArgumentRead(Exception):
    """Fed number arguments whose values the traced code read (the driver compiles again
    with `labels` compiled in)."""

    def __init__(self, labels):
        super().__init__(f"number arguments read as values: {sorted(labels, key=str)}")
        self.labels = labels


class NumberArguments:
    """Which number arguments a compiled function feeds, by readable label (`epoch`,
    `cfg.beta`); dynamic: compile()'s (True: from the first call; False: never)."""

    def __init__(self, dynamic=None):
        self.dynamic = dynamic
        self.fed, self.pinned, self.seen = set(), set(), {}

    def feeds(self, label, value):
        """Whether number argument `label` is fed this call: once its value has changed
        between two calls (or always, dynamic=True), unless its value was read."""
        kind = type(value)
        if kind not in _NUMBERS or self.dynamic is False or label in self.pinned:
            return False
        if label in self.fed or self.dynamic:
            self.fed.add(label)
            return True
        last = self.seen.get(label)
        self.seen[label] = (kind, value)
        if last is None or last == (kind, value):
            return False
        self.fed.add(label)
        return True

    def split(self, statics):
        """(statics with each fed number's value replaced by its FedArgument, [(label,
        value)] of the fed numbers in order)."""
        if not statics:
            return statics, []
        out, fed = [], []
        for label, v in statics:
            if self.feeds(label, v):
                out.append((label, FedArgument(type(v))))
                fed.append((label, v))
            else:
                out.append((label, v))
        return out, fed

    def pin(self, labels):
        """Compile these arguments in from now on (ArgumentRead)."""
        self.fed -= labels
        self.pinned |= labels


def fed_positions(args, fed, label_of):
    """{position: type} of the positional arguments among `fed` (this call's), or None
    when one of them is not a positional argument (nested, or a keyword: signature.LastCall
    then takes the full signature); label_of(k): positional argument k's label."""
    if not fed:
        return {}
    labels = {label for label, _ in fed}
    out = {k: type(a) for k, a in enumerate(args)
           if type(a) in _NUMBERS and label_of(k) in labels}
    return out if len(out) == len(fed) else None


def number_label(label):
    """The tensor label of fed number argument `label` (label_text shows it as is)."""
    return ("number", label)


def inputs(fed):
    """[(label, 0-d tensor)]: the fed numbers' values this call, each a new tensor (two
    threads' calls never share one)."""
    return [(number_label(label), as_input(v)) for label, v in fed]


def as_input(value):
    """One fed number's 0-d tensor (the repeated calls' way: LastCall, StateCall); a numpy
    scalar's in its own dtype (a module's np.float64 temperature: outside_numbers.py)."""
    dtype = _DTYPES.get(type(value))
    return Tensor._make(np.array(value, value.dtype if dtype is None else dtype))


def fed_arguments(args, numbers):
    """Positional arguments as an artifact takes them: the tensors, then each number fed as
    an input as its 0-d tensor; numbers: [(position, type)] of those (the fast paths':
    StateCall, ModuleCall). None when a number is not of its type."""
    if not numbers:
        return list(args)
    positions = {k for k, _ in numbers}
    out = [a for k, a in enumerate(args) if k not in positions]
    for k, kind in numbers:
        if k >= len(args) or type(args[k]) is not kind:
            return None
        out.append(as_input(args[k]))
    return out


class NumberTrace:
    """The fed numbers of one trace: the TracedNumbers standing in for them, and the
    labels of those whose values the code read."""

    def __init__(self, fed):
        self.fed, self.reads = fed, Reads()

    def stand_ins(self, tensors, positions, start=0):
        """A TracedNumber per fed number from the start-th on, on its input's tensor (at
        `positions` among the graph's inputs)."""
        return [TracedNumber(t, v, frozenset((label,)), self.reads, input_recipe(k))
                for t, k, (label, v) in zip(tensors, positions, self.fed[start:])]

    def failed(self):
        """A trace with fed numbers failed: compile them all in and trace again."""
        self.reads.close()
        return ArgumentRead({label for label, _ in self.fed})

    def check(self, statics, graph):
        """After tracing: ArgumentRead for the numbers whose values the code read,
        returned among its results, or left in an op's settings or a shape (where the
        value would be read later, unseen); else the Conditions each call checks (or
        None)."""
        read = set(self.reads.labels)
        _sources(statics, read)
        for node in graph.nodes:
            _sources(node.params, read)
            _sources(node.shape, read)
        self.reads.close()
        if read:
            raise ArgumentRead(read)
        return Conditions(self.reads.required) if self.reads.required else None


def check_conditions(art, arrays):
    """Before a compiled call: ArgumentRead (compile those numbers in) where Python would
    raise computing what the graph computes from this call's fed numbers."""
    if art.conditions is not None and not art.conditions.hold(arrays):
        raise ArgumentRead(set(art.conditions.labels))


def _sources(x, into):
    """Add the sources of every TracedNumber in x (nested in tuples, lists and dicts)."""
    if type(x) is TracedNumber:
        into |= x.sources
    elif isinstance(x, (tuple, list)):
        for v in x:
            _sources(v, into)
    elif isinstance(x, dict):
        for v in x.values():
            _sources(v, into)
