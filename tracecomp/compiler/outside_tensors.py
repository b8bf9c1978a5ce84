"""Tensors a compiled graph holds as constants, read from outside its arguments and
modules (a helper's global mask, an entry of a config dict, a module's plain tensor
attribute), and the places they were read from: a call that finds one changed compiles
again, where it read a stale value before.

What the function names itself is an input instead (bound_tensors.py), and so is what it
reads inside those, a few attributes or items down (deep_tensors.py). For the rest the
graph holds the value the trace saw, so two things are checked before it runs again:

  - each such tensor's version: an update in place (`MASK.fill_(2)`);
  - each place within reach that held one when traced still holds that very tensor:
    a rebinding (`cfg["mask"] = new`, `helper_mask[0] = new`, `model.causal = new`).

The places looked at are those the tracing side can name cheaply, as torch.compile guards
the sources it traced through: the global names and closure variables of the function,
of its modules' methods (forward and what it calls), of the user's helper functions
each of those names, and of the user's functions the trace ran that no name leads to
(ran_functions.py: `ns.scale = lambda x: x * W`); one element or attribute inside each
of those, and inside each non-tensor argument; and the plain attributes of its modules,
one element or attribute inside too (a tuple `(mask, 1)`, an object's `.mask`: the
attribute must still hold that tuple or object).
A tensor read through a deeper path (`cfg.sub.mask`) is checked by its version only, and
the debug log (TRACECOMP_DEBUG=1) says so; pass such tensors as arguments.

Tensors that require grad reached this way are captured inputs (tracing/tracer.py:
Tracer.capture), read as the objects they were: their places are checked the same way.

A numpy array the code computes with (`x * W`, `torch.from_numpy(W)`, `torch.tensor(W)`)
is folded in too; one found in those places is checked there, and, numpy having no
version count, compared with a copy of its traced values on every call (up to
ARRAY_COMPARE_MAX elements; a larger one is a warning at the compile). Arrays the
library makes while tracing lie in no such place and are not looked at.
"""
import warnings

import numpy as np

from ..debug_log import emit
from ..tensor import Tensor
from ..user_code import user_stacklevel
from .attributes import INTERNAL
from .code_names import named_values, traced_functions
from .state import follow, inside


def outside_reads(fn, tracer, lifted=(), args=(), modules=(), ran=()):
    """What must stay as it was for a compiled graph of fn to hold, or None: (tensor,
    version) of every tensor it holds as a constant; (holder, how, key, tensor) of each
    place named above that held a tensor or array the graph holds or captured, or a
    tensor that fn names itself and is not fed from its name (`lifted`: their ids; a
    module's, or one held as a constant); (array, its values) of the arrays found there.
    args: the traced call's arguments; modules: those it uses; ran: the functions the
    trace ran that no name leads to (ran_functions.py), whose names are looked at too."""
    frozen = tuple(tracer.read_outside.values())
    tensors = {id(t): t for t, _ in frozen}
    tensors.update((id(t), t) for t, _ in tracer.captured)
    watched = {**tensors, **tracer.read_arrays}
    places = []
    code = getattr(fn, "__code__", None)
    if code is not None:    # fn's own names: every tensor there, lifted ones aside
        places += [p for p in named_values(fn) if isinstance(p[3], Tensor)
                   and id(p[3]) not in lifted]
    if watched:
        found = _places(fn, args, modules, watched, ran)
        seen = {(id(p[0]), p[2]) for p in places}
        places += [p for p in found if (id(p[0]), p[2]) not in seen]
        unseen = set(tensors) - {id(p[3]) for p in places}
        if unseen:
            shapes = ", ".join(str(list(tensors[k].shape)) for k in unseen)
            emit(1, f"[tracecomp] {getattr(fn, '__name__', fn)} reads tensors of shapes "
                    f"{shapes} from outside its arguments and modules, through no place "
                    f"it watches: compiled in, checked for updates in place only (pass "
                    f"them as arguments if they are rebound)")
    # the arrays found there, and those passed as arguments (the signature holds which
    # array, by identity: not its values)
    arrays = _array_snapshots(fn, [p[3] for p in places if type(p[3]) is np.ndarray] +
                              [a for a in args if id(a) in tracer.read_arrays])
    if frozen or places or arrays:
        return frozen, tuple(places), arrays
    return None


def outside_unchanged(reads):
    """Whether everything outside_reads listed is as it was."""
    frozen, places, arrays = reads
    for t, version in frozen:
        if t._vc[0] != version:
            return False
    for holder, how, key, t in places:
        if follow(holder, how, key) is not t:
            return False
    for array, values in arrays:
        if not np.array_equal(array, values, equal_nan=True):   # (a NaN stays a NaN)
            return False
    return True


def _array_snapshots(fn, arrays):
    """(array, a copy of its values) of each numpy array the graph holds the values of,
    found where the code reads it: numpy has no version count, so an array is compared
    with its copy on every call; one of more than ARRAY_COMPARE_MAX elements is not (a
    warning says so)."""
    out = []
    for array in {id(a): a for a in arrays}.values():
        if array.size <= ARRAY_COMPARE_MAX:
            out.append((array, array.copy()))
        else:
            warnings.warn(
                f"tracecomp.compile: {getattr(fn, '__name__', fn)} reads a numpy array of "
                f"shape {list(array.shape)}: its values are compiled in, and a change in "
                f"place is not seen (arrays of more than {ARRAY_COMPARE_MAX} elements are "
                f"not compared on each call). Pass it as a tensor argument if it changes.",
                stacklevel=user_stacklevel())
    return tuple(out)


# numpy arrays up to this many elements are compared with their traced values on each
# call (64 K floats: ~10 us); a larger one is compiled in with a warning
ARRAY_COMPARE_MAX = 65536


def _places(fn, args, modules, watched, ran=()):
    """The places named in the module docstring that hold a watched tensor or array."""
    out = []

    def look(holder, how, key, value, deeper=True):
        if id(value) in watched and watched[id(value)] is value:
            out.append((holder, how, key, value))
        elif deeper and not isinstance(value, (Tensor, np.ndarray)):
            for how2, holder2, key2, value2 in inside(value):
                look(holder2, how2, key2, value2, deeper=False)

    for module in {id(m): m for root in modules for m in root.modules()}.values():
        for key, value in vars(module).items():
            if isinstance(value, (Tensor, np.ndarray)):
                look(module, "attr", key, value, deeper=False)
            elif key not in INTERNAL:   # one inside a tuple or plain object it holds:
                n = len(out)            # the attribute must still hold that very one
                look(module, "attr", key, value)
                if len(out) > n:
                    out.append((module, "attr", key, value))
        for key, value in module._buffers.items():  # a sparse buffer: read as a constant
            if value is not None and id(value) in watched:
                look(module._buffers, "item", key, value, deeper=False)
    for function in traced_functions(fn, modules, ran):
        for holder, how, key, value in named_values(function):
            look(holder, how, key, value)
    for a in args:
        if not isinstance(a, Tensor):
            for how, holder, key, value in inside(a):
                look(holder, how, key, value, deeper=False)
    return out
