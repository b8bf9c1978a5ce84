"""Numpy array arguments fed to a compiled function as tensor inputs, so a step given a
new batch or observation as a numpy array runs one compiled graph instead of compiling
for every call.

A numpy array argument was part of the signature by its numbers (signature.array_key), as
a constant the code might read: each new array compiled again, and one over 8 MB broke
the graph. As torch.compile does for numpy inputs, an array of numbers (bool, int, float
or complex, in native byte order) is now *fed*: the signature holds its shape and dtype,
the graph takes it as an input (without a copy: the array's memory), and the trace sees an
ArrayStandIn (tracing/array_stand_in.py) that the conversions turn into that input.

Where the code needs the numbers themselves (numpy on them, indexing, a method, printing),
a copy of the array is given, the read is noted, and the function is traced again with
that argument compiled in, for good (`ArrayArguments.pin`), as before. So is an array
whose input the code writes into (`torch.from_numpy(obs).add_(1)` updates the caller's
array eagerly), and every fed array of a trace that fails with any other error: feeding is
never why a function fails.
"""
import numpy as np

from ..tensor import Tensor
from ..tracing.array_stand_in import ArrayReads, ArrayStandIn

_KINDS = "biufc"     # numbers and bools: what a tensor holds


class FedArray:
    """A fed array's entry in the signature in place of its numbers (its input's entry
    holds its shape and dtype)."""

    __slots__ = ()

    def __eq__(self, other):
        return type(other) is FedArray

    def __hash__(self):
        return hash(FedArray)

    def __repr__(self):
        return "a numpy array fed each call"


FED = FedArray()


class ArrayRead(Exception):
    """Fed array arguments whose numbers the traced code read (the driver compiles again
    with `labels` compiled in)."""

    def __init__(self, labels):
        super().__init__(f"numpy array arguments read as values: {sorted(labels, key=str)}")
        self.labels = labels


class ArrayArguments:
    """Which numpy array arguments a compiled function compiles in (`pinned`, by label):
    every other array of numbers is fed."""

    def __init__(self):
        self.pinned = set()

    def split(self, statics):
        """(statics with each fed array replaced by FED, [(label, array)] of the fed
        arrays in order)."""
        out, fed = [], []
        for label, v in statics:
            if type(v) is np.ndarray and label not in self.pinned and feedable(v):
                out.append((label, FED))
                fed.append((label, v))
            else:
                out.append((label, v))
        return out, fed

    def pin(self, labels):
        """Compile these arguments in from now on (ArrayRead)."""
        self.pinned |= labels


def feedable(a):
    return a.dtype.kind in _KINDS and a.dtype.isnative and a.dtype.itemsize > 0 and \
        a.dtype != np.float16


def array_label(label):
    """The tensor label of fed array argument `label` (label_text shows it as is)."""
    return ("array", label)


def inputs(fed):
    """[(label, tensor)]: the fed arrays this call, each a tensor on its array's memory."""
    return [(array_label(label), Tensor._make(a)) for label, a in fed]


class ArrayTrace:
    """The fed arrays of one trace: their stand-ins, and what makes the trace not serve
    other numbers (`check`)."""

    def __init__(self, fed, first):
        """fed: [(label, array)]; first: their inputs' position among the graph's."""
        self.fed, self.first, self.reads = fed, first, ArrayReads()

    def stand_ins(self, tensors):
        """An ArrayStandIn per fed array, on its input's traced tensor."""
        return [ArrayStandIn(t, a, label, self.reads)
                for t, (label, a) in zip(tensors, self.fed)]

    def failed(self):
        """A trace with fed arrays failed: compile them all in and trace again."""
        self.reads.close()
        return ArrayRead({label for label, _ in self.fed})

    def check(self, statics, effects):
        """After tracing: ArrayRead for the arrays whose numbers the code read, that it
        returned (a stand-in among its results) or whose input it wrote into."""
        read = set(self.reads.labels)
        self.reads.close()
        read |= {v.label for v in _stand_ins(statics)}
        labels = [label for label, _ in self.fed]
        for e in effects:
            if e.kind in ("data", "grad", "flag") and isinstance(e.target, int) and \
                    self.first <= e.target < self.first + len(self.fed):
                read.add(labels[e.target - self.first])
        if read:
            raise ArrayRead(read)


def _stand_ins(x):
    """The ArrayStandIns in x (statics: (label, value) pairs, values nested in tuples,
    lists and dicts)."""
    if type(x) is ArrayStandIn:
        yield x
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _stand_ins(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _stand_ins(v)
