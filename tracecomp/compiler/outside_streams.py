"""Random numbers, iterators and numpy arrays a trace reaches outside the tensors: refused
where the trace draws from them or writes into them, since a trace runs the code once and
the graph would hold what it drew then, the same every call, and no later call writes again.

Random numbers drawn from Python's `random` module, numpy's global state, a numpy Generator
or RandomState, or a random.Random the code reaches (`rng = np.random.default_rng()`,
`self.rng = random.Random(0)`) while tracing are refused (`PythonRandom`, checked after the
trace by comparing each stream's state, which it then puts back). An iterator of Python's
own that the code reaches from outside (a generator, `iter(items)`, itertools.count) is
refused before the trace runs: next() there would give the trace's item every call, and a
trace that drew one could not put it back. tracecomp's own random ops are traced: they draw
anew each call. A numpy array (not a tensor) the code reaches and writes into (`counts[i]
+= 1`, `buffer[:] = y.numpy()`) is refused after the trace, which put it back.
"""
import itertools
import random
import types

import numpy as np

from ..errors import TraceError
from ..nn.module import Module
from ..tensor import Tensor
from ..user_code import is_users
from .code_names import global_names, named_values, traced_functions
from .frozen_values import MAX_ITEMS
from .value_reads import _instance_dict

# random.Random instances too (`self.rng = random.Random(seed)`); not SystemRandom, which
# has no state to compare (a trace drawing from it draws from the OS: `random` module's
# own check does not see it either)
_NUMPY_STREAMS = (np.random.Generator, np.random.RandomState, random.Random)


def numpy_streams(fn, modules, reached):
    """{id: (what, stream)} of the numpy Generators and RandomStates, random.Randoms,
    iterators and numpy arrays (of at most ARRAY_LIMIT items) the traced code can
    reach by name: what fn reaches (kept_values.places: its arguments, closure, globals,
    bound object), the global names and closure variables of the functions a trace runs
    (traced_functions), the attributes of its modules (`self.rng`), and one level inside
    each of those (a config's `cfg.rng`, a list holding one: its first MAX_ITEMS)."""
    found = {}
    # names first: the label is the user's name where the code names it
    values = [(name, v) for f in traced_functions(fn, modules)
              for _, _, name, v in named_values(f)]
    values += [(" ".join(map(str, where)), v) for where, v in reached]
    values += [(f"{type(m).__name__}.{name}", v) for root in modules
               for m in root.modules() for name, v in _instance_dict(m).items()]
    _streams_in(values, found)
    return found


def _streams_in(values, found):
    """Adds to found ({id: (what, stream)}) the streams among (what, value) pairs and one
    level inside each value."""
    for what, v in values:
        inner = v.items() if type(v) is dict else enumerate(v) if type(v) in (list, tuple) \
            else () if isinstance(v, (Module, type, Tensor)) or callable(v) else \
            _instance_dict(v).items()
        inner = itertools.islice(inner, MAX_ITEMS)     # not a whole dataset's list
        for what_, stream in [(what, v), *((f"{what}.{k}", w) for k, w in inner)]:
            stream = _bound_to(stream)
            if isinstance(stream, _NUMPY_STREAMS) and \
                    not isinstance(stream, random.SystemRandom) or _iterator(stream) or \
                    type(stream) is np.ndarray and stream.size <= ARRAY_LIMIT:
                found.setdefault(id(stream), (what_, stream))


def _bound_to(value):
    """The object a bound method belongs to where that is a stream (`draw = rng.normal`,
    `bump = it.__next__`): drawing through the method draws from it; else value."""
    owner = getattr(value, "__self__", None) if callable(value) else None
    if owner is not None and (isinstance(owner, _NUMPY_STREAMS) or _iterator(owner)):
        return owner
    return value


def _iterator(value):
    """Whether value is an iterator of Python's own (a generator, `iter(list)`, an
    itertools.count, zip, map): one the code advances with next() would be advanced once,
    by the trace, and no trace can put it back."""
    kind = type(value)
    return kind is types.GeneratorType or kind.__module__ in ("builtins", "itertools") \
        and hasattr(kind, "__next__")


def _stream_state(stream):
    if isinstance(stream, np.random.Generator):
        return stream.bit_generator.state
    if isinstance(stream, random.Random):
        return stream.getstate()
    return stream.get_state()


def _set_stream_state(stream, state):
    if isinstance(stream, np.random.Generator):
        stream.bit_generator.state = state
    elif isinstance(stream, random.Random):
        stream.setstate(state)
    else:
        stream.set_state(state)


def _same_state(a, b):
    """Two states of one stream: a Generator's is a dict of numbers, a random.Random's a
    tuple of numbers, a RandomState's a tuple holding its key array."""
    if type(a) is dict or type(a[0]) is int:
        return a == b
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# the most items of a numpy array the code reaches that a trace copies, to tell whether
# it wrote into it (a whole dataset's array is not copied)
ARRAY_LIMIT = 1 << 20


class PythonRandom:
    """Refuses a trace that drew numbers from Python's `random` module, numpy's global
    random state or a numpy Generator or RandomState or a random.Random the code reaches
    (numpy_streams): the graph would hold those draws, the same on every call, where the
    code run eagerly draws new ones (tensor random ops are traced: they draw anew each
    call). An iterator numpy_streams found is refused before the code runs; a trace that
    wrote into a numpy array it found is refused (and the array put back) after."""

    def __init__(self, streams=None):
        found = list((streams or {}).values())
        self.streams = [(what, s) for what, s in found if type(s) is not np.ndarray]
        self.arrays = [(what, a) for what, a in found if type(a) is np.ndarray]
        self.watched, self.seen = set(streams or ()), set()

    def called(self, frame):
        """A function the trace runs, as it starts (clock_reads.ClockWatch's profile hook):
        the streams its global names, closure variables and `self` hold, one level in,
        are watched too from now. numpy_streams finds functions by name only, so a plain
        object's method (`noise.draw(x)` drawing from a global rng) or a function set on
        a class (`Normal.rsample = draw`) drew once, baked into the graph. Not arrays nor
        iterators: one made inside the trace may be written or advanced there."""
        code = frame.f_code
        if code in self.seen:
            return
        self.seen.add(code)
        if not is_users(code):
            return
        names, local = frame.f_globals, frame.f_locals
        values = [(n, names[n]) for n in global_names(code) if n in names]
        values += [(n, local[n]) for n in code.co_freevars if n in local]
        if code.co_argcount and code.co_varnames[0] == "self" and "self" in local:
            values.append((f"{type(local['self']).__name__}", local["self"]))
        found = {}
        _streams_in(values, found)
        for key, (what, stream) in found.items():
            if key not in self.watched and isinstance(stream, _NUMPY_STREAMS):
                self.watched.add(key)
                self.streams.append((what, stream))
                self.stream_states.append(_stream_state(stream))

    def __enter__(self):
        iterators = [what for what, s in self.streams if _iterator(s)]
        if iterators:   # before the code runs: a trace that draws one item uses it up
            raise TraceError(
                f"compiled code reaches the iterator {', '.join(iterators)} from outside: a "
                f"trace runs the code once, so the items next() draws there would be the "
                f"same every call, and drawing them would use them up. Draw outside and "
                f"pass the item as an argument.")
        self.states = random.getstate(), np.random.get_state()
        self.stream_states = [_stream_state(s) for _, s in self.streams]
        self.copies = [a.copy() for _, a in self.arrays]
        return self

    def __exit__(self, kind, *_):
        drew_random = random.getstate() != self.states[0]
        # the whole state: the key array alone changes only when a draw passes the end of
        # its 624 words (np.random.rand() mid-stream moves only the position)
        drew_numpy = not _same_state(np.random.get_state(), self.states[1])
        drew = [(what, s) for (what, s), before in zip(self.streams, self.stream_states)
                if not _same_state(_stream_state(s), before)]
        # put every stream back whatever happened: a trace that fails (fallback='eager'
        # then runs the call eagerly) or is refused must not use up the program's draws
        # (seq2seq's teacher forcing flipped other coins than the uncompiled run)
        random.setstate(self.states[0])
        np.random.set_state(self.states[1])
        for (_, s), before in zip(self.streams, self.stream_states):
            _set_stream_state(s, before)
        written = [what for (what, a), before in zip(self.arrays, self.copies)
                   if not np.array_equal(a, before, equal_nan=a.dtype.kind in "fc")]
        for (_, a), before in zip(self.arrays, self.copies):
            if written:
                np.copyto(a, before)
        if kind is None and written:
            raise TraceError(
                f"compiled code wrote into the numpy array {', '.join(written)}: it is "
                f"traced once, so later calls would not write it again (nor see what they "
                f"wrote). Keep the value in a tensor (tracecomp.from_numpy(array) shares its "
                f"memory: an in-place op on that tensor is repeated every call), or write it "
                f"outside the compiled function.")
        if kind is None and (drew_random or drew_numpy or drew):
            owner = ("a" if isinstance(drew[0][1], random.Random) else "a numpy") if drew \
                else ""
            which = "Python's random module" if drew_random else "Python's np.random" \
                if drew_numpy else \
                f"{owner} {type(drew[0][1]).__name__} ({', '.join(w for w, _ in drew)})"
            raise TraceError(
                f"compiled code drew random numbers from {which}: it is traced "
                f"once, so every call would use the same draws. Use tracecomp.rand, randn "
                f"or randint inside it (drawn anew each call), or draw outside and pass the "
                f"value as an argument (a number that changes is fed as an input).")
