"""What a compiled artifact is specialized on (why a call missed the cache, in the user's
terms: recompile_reasons.py).

A call's arguments are flattened into tensor leaves and static leaves (numbers, strings,
None: anything else). The signature lists, by readable label, every fact the traced
graph baked in: each tensor's shape, dtype and requires_grad (arguments, parameters and
buffers alike), each static value, every module's training flag, grad mode and the
backend. Two calls with equal signatures can share one compiled artifact.
"""
import inspect
from dataclasses import fields, is_dataclass
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
from numpy import ndarray

from .. import dtypes, grad_mode
from ..debug_log import debug_level
from ..device_array import DeviceArray
from ..errors import TraceError
from ..nn.utils.rnn import PackedSequence
from ..sparse_data import SparseData
from ..tensor import Tensor
from ..tracing.number import ITEM, TracedNumber
from .number_args import FedArgument, as_input
from .result_objects import object_fields


# --- flattening nested arguments -------------------------------------------------------
def flatten(tree, prefix="", objects=False):
    """(tensor leaves with labels, static leaves with labels, structure). objects: a call's
    result, whose plain objects holding traced tensors are taken apart (result_objects.py)."""
    tensors, statics = [], []
    structure = _walk(tree, prefix, tensors, statics, objects)
    return tensors, statics, structure


PACKED_SIZES = ".batch_sizes"      # the label suffix of a PackedSequence's batch sizes
HOOKED = ".hooks"                   # the label suffix of an argument that has hooks
SPARSE = ".sparse"                  # the label suffix of a sparse tensor's size and flags


# Module-level recursion, not nested closures: a closure that calls itself is a reference
# cycle, which would keep every call's arguments and results alive until the garbage
# collector runs (and keep the runner from reusing output buffers).
def _walk(x, label, tensors, statics, objects=False):
    if isinstance(x, Tensor):
        if hasattr(type(x), "_tracecomp_static_key"):   # a Tensor-like holding no data
            statics.append((label, _Dataless(x)))
            return ("dataless",)
        if type(x._data) is SparseData:     # a sparse tensor: its index and value tensors
            parts, static = x._parts()
            statics.append((label + SPARSE, static))
            return ("sparse", type(x), tuple(_walk(p, f"{label}.{k}", tensors, statics, objects)
                                             for k, p in enumerate(parts)))
        tensors.append((label, x))
        if x._hooks or x._post_accumulate_hooks:    # a traced backward would skip them:
            statics.append((label + HOOKED, True))  # a signature of its own (a graph break)
        return ("T",)
    if type(x) is TracedNumber and ITEM in x.sources:     # `return loss.item()`
        tensors.append((label, x.tensor))
        return ("N", x.__class__)
    if type(x) is PackedSequence and isinstance(x.batch_sizes, Tensor) and \
            type(x.batch_sizes._data) is ndarray:
        # the batch sizes decide the shapes (how many rows each time step advances): a
        # static by value, as a number argument is; the rest are tensors
        statics.append((label + PACKED_SIZES, tuple(x.batch_sizes._data.tolist())))
        return ("packed", type(x), tuple(_walk(getattr(x, f), f"{label}.{f}", tensors,
                                               statics, objects) for f in _PACKED_TENSORS))
    if isinstance(x, (tuple, list)):    # its own type: a namedtuple comes back one
        return ("seq", type(x), tuple(_walk(v, f"{label}.{k}", tensors, statics, objects)
                                      for k, v in enumerate(x)))
    if isinstance(x, dict):
        keys = tuple(x)
        return ("dict", type(x), keys, tuple(_walk(x[k], f"{label}.{k}", tensors, statics,
                                                   objects) for k in keys),
                _Unkeyed(getattr(x, "default_factory", None)))
    names = _record_fields(x)
    if names is None and objects:
        names = object_fields(x)
    if names is not None:       # a dataclass batch: its fields, as a dict's items
        return ("record", type(x), names, tuple(_walk(getattr(x, n), f"{label}.{n}", tensors,
                                                      statics, objects) for n in names))
    statics.append((label, x))
    return ("S",)


_PACKED_TENSORS = ("data", "sorted_indices", "unsorted_indices")


class _Dataless:
    """A Tensor-like argument that holds no data (nn.attention.bias.CausalBias) as a static
    leaf: keyed by the facts it declares (_tracecomp_static_key), rebuilt as itself."""

    __slots__ = ("key", "obj")

    def __init__(self, obj):
        self.obj, self.key = obj, (type(obj), obj._tracecomp_static_key())

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return type(other) is _Dataless and other.key == self.key


def _record_fields(x):
    """The field names of a dataclass instance or a types.SimpleNamespace (a batch passed
    as one object: keyed by its fields, not by its identity, which is new every call);
    None for anything else."""
    if type(x) is SimpleNamespace:
        return tuple(vars(x))
    if is_dataclass(x) and not isinstance(x, type):
        return tuple(f.name for f in fields(x))
    return None


def unflatten(structure, tensors, statics):
    """Rebuild a tree from flatten()'s structure, taking leaves in order."""
    if structure[0] == "T":         # one tensor, the common result
        return tensors[0]
    return _build(structure, iter(tensors), iter(statics))


class _Unkeyed:
    """What a structure holds but does not key on: a defaultdict argument's factory (the
    trace's copy fills missing keys as the call's does; a fresh `lambda: 0` each call is
    not another signature)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return type(other) is _Unkeyed

    def __hash__(self):
        return 0


def _build(s, tensors, statics):
    kind = s[0]
    if kind == "T":
        return next(tensors)
    if kind == "S":
        return next(statics)
    if kind == "dataless":
        return next(statics).obj
    if kind == "sparse":            # a sparse tensor: its layout's facts, then its tensors
        static = next(statics)
        return s[1]._from_parts([_build(v, tensors, statics) for v in s[2]], static)
    if kind == "packed":            # a PackedSequence: its batch sizes, then its tensors
        sizes = Tensor._make(np.array(next(statics), np.int64))
        data, order, unorder = (_build(v, tensors, statics) for v in s[2])
        return s[1](data, sizes, order, unorder)
    if kind == "N":                 # the Python number of a 0-d output (item_number)
        return s[1](next(tensors).item())
    if kind == "record":            # a new object of the class, its fields set as they
        values = [_build(v, tensors, statics) for v in s[3]]    # were (frozen ones too)
        if s[1] is SimpleNamespace:
            return SimpleNamespace(**dict(zip(s[2], values)))
        out = s[1].__new__(s[1])
        for name, value in zip(s[2], values):
            object.__setattr__(out, name, value)
        return out
    if kind == "dict":
        items = {k: _build(v, tensors, statics) for k, v in zip(s[2], s[3])}
        if s[1] is dict:
            return items
        out = s[1].__new__(s[1])    # an OrderedDict, a defaultdict (whose first argument
        for k, v in items.items():  # would be its factory): the same class, same items,
            out[k] = v              # set as the class sets them (an OrderedDict's order)
        if s[4].value is not None:  # and a defaultdict's factory, which fills missing keys
            out.default_factory = s[4].value
        return out
    cls, items = s[1], [_build(v, tensors, statics) for v in s[2]]
    if cls is list:
        return items
    if hasattr(cls, "_fields"):         # a namedtuple (PackedSequence, torch.return_types)
        return cls(*items)
    return cls(items)


# --- labels --------------------------------------------------------------------------------
def readable_label(label, params):
    """A flattened label (`.0.1.0`: positional argument 1, its element 0) as the user
    wrote it (`x.0`), from the function's parameter names."""
    parts = label.split(".")[1:]
    if parts[0] == "1":                     # keyword argument
        return ".".join(parts[1:])
    k = int(parts[1])
    name = params[k] if k < len(params) else f"arg{k}"
    return ".".join([name] + parts[2:])


def param_names(fn):
    """The names of fn's positional parameters ([] where inspect cannot tell)."""
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


# --- signatures ----------------------------------------------------------------------------
class Signature(NamedTuple):     # (not a frozen dataclass: ~1 ms less at the first compile)
    entries: tuple      # ((label, value), ...) in a fixed order

    def as_dict(self):
        return dict(self.entries)


class TensorSpec(tuple):
    """What a graph bakes in about one tensor: (shape, dtype, requires_grad, device). One entry
    per tensor (no per-field label strings): signatures are built on every call."""

    __slots__ = ()


def tensor_spec(t):
    """(shape, dtype, requires_grad, device) of tensor t: all a graph and its backend bake in
    about it (device: None on the CPU)."""
    data = t._data
    return (data.shape, data.dtype, bool(t._requires_grad),
            data.device if type(data) is DeviceArray else None)


def tensor_entry(label, t):
    return label, TensorSpec(tensor_spec(t))


class LastCall:
    """The signature of the latest call, in the form the next call rechecks in one pass: no
    flattening, labelling, hashing or cache lookup. It holds while the function is the
    same, the positional arguments are as many, each tensor has the same shape, dtype and
    requires_grad and no .grad, each other argument is the very same object, what the
    modules and optimizers read has the same labels and specs, and flags and grad mode are
    unchanged: exactly what the full signature would compare. Keyword arguments and
    nested (tuple, list, dict) arguments always take the full signature. It keeps the
    latest call's non-tensor arguments alive (an id alone could be reused)."""

    __slots__ = ("aliases", "args", "art", "debug", "flags", "fn", "grad_enabled", "labels",
                 "positions", "state_labels", "state_specs")

    def __init__(self, fn, args, labels, state, flags, grad_enabled, art):
        self.fn, self.labels, self.art = fn, labels, art
        self.args = tuple(_arg_check(a) for a in args)
        self.state_labels = [label for label, _ in state]
        self.state_specs = _specs(state)
        self.flags, self.grad_enabled = flags, grad_enabled
        # cache hits are logged when TRACECOMP_DEBUG was on at the compile (and still is)
        self.debug = debug_level() >= 1

    @staticmethod
    def of(fn, args, kwargs, tensors, state, flags, grad_enabled, art, fed=None):
        """A LastCall for this call, or None when its arguments need the full signature.
        fed: {position: type} of the number arguments fed as inputs (number_args.py),
        the last of `tensors`; None when some are not positional."""
        # (a numpy array: keyed by its contents, static_value, which `is` does not see)
        if fed is None or kwargs or any(isinstance(a, (tuple, list, dict, ndarray)) or
                                        isinstance(a, Tensor) and (a.grad is not None or hooked(a)
                                                                   or type(a._data) is SparseData)
                                        for a in args):
            return None
        if state_arguments(tensors, state) is not None:
            return None
        call = LastCall(fn, args, [label for label, _ in tensors], state, flags,
                        grad_enabled, art)
        call.positions = fed
        call.aliases = alias_pattern([t for _, t in tensors])
        if fed:
            call.args = tuple((None, FedArgument(fed[k])) if k in fed else check
                              for k, check in enumerate(call.args))
        return call

    def tensors(self, fn, args, kwargs, state, flags, grad_enabled):
        """The call's labelled tensor arguments if its signature is the latest one's, else
        None."""
        if (fn is not self.fn or kwargs or len(args) != len(self.args)
                or grad_enabled is not self.grad_enabled or flags != self.flags):
            return None
        tensors, numbers = [], None
        for a, (spec, same) in zip(args, self.args):
            if spec is None:
                if a is not same:
                    if type(same) is not FedArgument or type(a) is not same.kind:
                        return None
                    numbers = numbers or []
                    numbers.append(as_input(a))     # a number fed as an input
                continue
            if not isinstance(a, Tensor) or a.grad is not None or tensor_spec(a) != spec \
                    or a._hooks or a._post_accumulate_hooks:
                return None
            tensors.append(a)
        if state or self.state_labels:      # not for a plain function of its arguments
            if ([label for label, _ in state] != self.state_labels
                    or _specs(state) != self.state_specs):
                return None
        if len(tensors) > 1 and alias_pattern(tensors) != self.aliases:
            return None
        if state and not {id(t) for _, t in state}.isdisjoint(map(id, tensors)):
            return None     # an argument that is state (state_arguments)
        if numbers:
            tensors += numbers
        return list(zip(self.labels, tensors))


def hooked(t):
    """Whether tensor t has hooks of its own (register_hook, post-accumulate): the fast
    paths leave such an argument to the full signature, which keeps it apart."""
    return bool(t._hooks or t._post_accumulate_hooks)


def _specs(state):
    return [tensor_spec(t) for _, t in state]


def alias_pattern(tensors):
    """None when no two of `tensors` share memory (nearly always); else, for each, the
    position of the first one whose memory it shares (its own where none) and whether it
    is that very tensor: the trace treats its inputs as separate memory, so `f(x, x)`
    with an in-place update of one is another graph than `f(x, y)`."""
    if len(tensors) < 2:
        return None
    first, pattern, shared = {}, [], False
    for i, t in enumerate(tensors):
        data = t._data
        base = data.base if type(data) is ndarray and data.base is not None else data
        j = first.setdefault(id(base), i)
        shared = shared or j != i
        pattern.append((j, tensors[j] is t))
    return tuple(pattern) if shared else None


def state_arguments(tensors, state):
    """None when no argument is itself a tensor of the state the function reads (nearly
    always); else, for each argument, the position in `state` of that very tensor (None for
    the others). d2l's neural style passes its synthesized image, the Parameter its Adam
    updates, to the step: the trace must read and update the parameter itself, not a
    stand-in the optimizer never sees (every step was lost)."""
    if not state or not tensors:
        return None
    where = {id(t): j for j, (_, t) in enumerate(state)}
    pattern = tuple(where.get(id(t)) for _, t in tensors)
    return None if pattern.count(None) == len(pattern) else pattern


def refuse_aliased_writes(aliases, tensors, effects):
    """A trace of arguments that share memory as different tensors (two views of one
    array, a tensor and its detached copy) that updates one in place: the graph would
    read the other's old values. (The very same tensor twice is one input: the trace
    gave both the same stand-in.)"""
    written = {e.target for e in effects if e.kind == "data"}
    for i, (j, same) in enumerate(aliases):
        if same or j == i or not written & {i, j}:
            continue
        (a, x), (b, y) = tensors[j], tensors[i]
        if np.may_share_memory(x._data, y._data):
            raise TraceError(
                f"compiled code updates {a if j in written else b} in place, and arguments "
                f"{a} and {b} share memory (views of one tensor, or a tensor and its "
                f"detached copy): the compiled graph treats them as separate. Pass a "
                f"copy (.clone()) of one of them.")


def _arg_check(a):
    """(spec, None) for a tensor argument, (None, the object) for anything else."""
    return (tensor_spec(a), None) if isinstance(a, Tensor) else (None, a)


def static_value(v):
    """Static leaves go into the signature by value when hashable, else by identity; a
    numpy array by its contents (array_key: the code reads its numbers as constants,
    `float(mask[0])`: keyed by identity, the caller's update in place ran the graph
    holding the old numbers)."""
    if type(v) is ndarray and (key := array_key(v)) is not None:
        return ("array", *key)
    try:
        hash(v)
        return ("value", type(v).__name__, v)
    except TypeError:
        return ("object", type(v).__name__, id(v))


CONSTANTS = (int, float, bool, str, bytes, type(None))
SMALL_ARRAY = 64
# and one of numbers (a lookup table) of up to this many bytes: a copy and a compare each
# call, ~5 us for 10 000 float64s, ~0.6 ms for a million
ARRAY_BYTES = 1 << 23


def array_key(a):
    """(dtype, shape, bytes) of a numpy array of at most SMALL_ARRAY items or ARRAY_BYTES
    of numbers: how a call's signature and a guard (frozen_values.frozen) key one whose
    numbers the code reads as constants; None for a larger one (comparing it every call
    would cost more than most calls: frozen_values.refuse_large_array)."""
    return (a.dtype.str, a.shape, a.tobytes()) if array_fits(a) else None


def array_fits(a):
    """Whether array_key keys numpy array a (without copying its bytes to find out)."""
    return a.size <= SMALL_ARRAY or a.nbytes <= ARRAY_BYTES and not a.dtype.hasobject


def array_text(dtype, shape, data):
    """An array_key's array as a reason shows it: its numbers, the first few of a large one."""
    numbers = np.frombuffer(data, np.dtype(dtype))
    if numbers.size <= SMALL_ARRAY:
        return f"array({numbers.reshape(shape).tolist()})"
    return f"array of shape {shape} ({', '.join(map(str, numbers[:6].tolist()))}, ...)"


def constant(v):
    """A value a call can store again as it is: immutable, holding no tensor (a number, a
    numpy scalar (`np.float64`: CategoricalVAE's annealed `self.temp`), a string, None,
    or a tuple of them, x.shape included). A traced number (from .item() or a number
    argument fed each call) is none of these: its value is known only when the graph
    runs."""
    return type(v) in CONSTANTS or numpy_scalar(v) or \
        isinstance(v, tuple) and all(map(constant, v))


def numpy_scalar(v):
    """Whether v is a numpy bool, int or float scalar (immutable, unlike a 0-d array);
    type(): a fed number's stand-in answers isinstance as its value does."""
    return issubclass(type(v), (np.bool_, np.integer, np.floating))


def label_text(key):
    """Labels are strings, or tuples (built on every call, so not formatted then) that
    read like this when shown."""
    if not isinstance(key, tuple):
        return key
    kind = key[0]
    if kind == "training of":
        return f"training of {key[1][:-1] or '<root>'}"
    if kind == "hooks of":
        return f"forward hooks of {key[1][:-1] or '<root>'}"
    if kind == "grad":
        return f"{label_text(key[1])}.grad"
    if kind == "state":
        return f"{label_text(key[1])}:{key[2]}"
    if kind == "settings":
        return f"optimizer {key[1]} group {key[2]} settings"
    if kind == "param":
        return f"opt{key[1]}.group{key[2]}.{key[3]}"
    if kind == "bound" and key[1] == "deep":    # a tensor inside (deep_tensors.py)
        return key[2] + "".join(f"[{k!r}]" for k in key[5:])
    if kind == "bound":       # a tensor the function names itself (bound_tensors.py)
        return f"{key[1]}.{key[2]}" + ("".join(f"[{k!r}]" for k in key[3:]))
    if kind == "number":      # a number argument fed as an input (number_args.py)
        return key[1]
    if kind == "outside":     # a number read from outside, fed (outside_numbers.py)
        return repr(key[1])
    if kind == "setting":     # a hyperparameter fed as an input (hyperparameters.py)
        return f"opt{key[1]}.group{key[2]}.{key[3]}" + ("" if key[4] is None else f"[{key[4]}]")
    return str(key)


def signature_of(tensors, statics, structure, state, flags, backend):
    """The Signature of a call: its labelled tensors and statics, the state it reads, the
    modules' flags, grad mode, the backend and the arguments' structure."""
    entries = []
    for label, t in tensors + state:
        entries.append(tensor_entry(label, t))
    entries.extend((f"argument {label}", static_value(v)) for label, v in statics)
    entries.extend(flags)
    aliases = alias_pattern([t for _, t in tensors])
    if aliases is not None:
        entries.append(("argument aliasing", aliases))
    owned = state_arguments(tensors, state)
    if owned is not None:
        entries.append(("arguments that are module or optimizer state", owned))
    entries.append(("grad mode", "on" if grad_mode.state.enabled else "off"))
    entries.append(("default dtype", dtypes.get_default_dtype()))
    entries.append(("backend", backend))
    entries.append(("argument structure", structure))
    return Signature(tuple(entries))
