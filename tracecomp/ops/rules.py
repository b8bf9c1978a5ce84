"""Shape and dtype rules shared by many primitives.

A shape rule takes argument shapes (a Python scalar has shape ()) plus params and returns
the output shape, raising ShapeError with the op's name when the input does not fit.
A dtype rule takes the arguments themselves (arrays, graph values, or scalars) and returns
a numpy dtype.
"""
import numpy as np

from .. import dtypes
from ..errors import DTypeNotImplemented, ShapeError, fmt_shape


def broadcast_shapes(op, *shapes):
    """numpy/torch broadcasting, with torch's error message."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s):
            j = ndim - len(s) + i
            if d == out[j] or d == 1:
                continue
            if out[j] == 1:
                out[j] = d
                continue
            raise ShapeError(
                f"{op}: The size of tensor a ({out[j]}) must match the size of tensor b ({d}) "
                f"at non-singleton dimension {j} (shapes "
                f"{', '.join(fmt_shape(x) for x in shapes)} do not broadcast)")
    return tuple(out)


def broadcast_rule(op):
    return lambda *shapes, **_: broadcast_shapes(op, *shapes)


def same_shape(x, **_):
    return tuple(x)


# --- shape arithmetic run per op, remembered ---------------------------------------------
MEMO_MAX = 4096     # answers kept per function; past it new arguments are computed each time
_MISSING = object()


def memo_ints(fn):
    """fn, remembering its answer for arguments made only of Python ints and strs (in
    tuples, nested): the shape arithmetic an eager op repeats on every call (a permutation
    normalized, a padding planned), which a program asks with few distinct arguments. Its
    answers must not be changed by callers (tuples). Arguments of other types (a list, a
    numpy int, a symbolic size) are computed each time, never kept: an equal key of ints
    gives the same answer, and nothing is kept that could change."""
    table = {}

    def memo(*key):
        try:
            hit = table.get(key, _MISSING)
        except TypeError:       # unhashable: computed, as fn would
            return fn(*key)
        if hit is not _MISSING:
            return hit
        out = fn(*key)
        if len(table) < MEMO_MAX and _plain(key):
            table[key] = out
        return out
    memo.__name__, memo.__doc__, memo.__wrapped__ = fn.__name__, fn.__doc__, fn
    return memo


def _plain(key):
    return all(_plain(k) if isinstance(k, tuple) else type(k) is int or type(k) is str
               for k in key)       # (tuple subclasses: a Size hashes and compares as a tuple)


# --- dtype rules -----------------------------------------------------------------------

def same_dtype(x, *_, **__):
    return x.dtype


def float_dtype(x, *_, **__):
    return dtypes.float_type(x.dtype)


def bool_dtype(*_, **__):
    return dtypes.BOOL


# the rule itself, not a function calling it: every binary op asks (a call is ~5% of x + y)
promote = dtypes.result_type


def promote_float(*args, **_):
    return dtypes.float_type(dtypes.result_type(*args))


def promote_tail(cond, *args, **_):
    """where(cond, a, b): cond does not take part in promotion."""
    return dtypes.result_type(*args)


# --- dtype rules of ops torch has no complex kernel for (their messages are torch's) -------
def real_only(rule, message, error=DTypeNotImplemented):
    """`rule`, refusing complex operands as torch does: `message` formatted with torch's
    name of the dtype ({name}: 'ComplexFloat'). A complex operand makes a complex result."""
    def dtype(*args, **params):
        out = rule(*args, **params)
        if out.kind == "c":
            raise error(message.format(name=dtypes.TORCH_NAMES[out]))
        return out
    return dtype


def real_compare(kernel):
    """The dtype rule of <, <=, >, >=: bool, with torch's error for complex operands (a
    traced complex value never gets here: the tracer refuses it first)."""
    def dtype(a, b, **_):
        for x in (a, b):
            if type(x) is complex or type(x) is np.ndarray and x.dtype.kind == "c":
                name = dtypes.TORCH_NAMES.get(getattr(x, "dtype", None), "ComplexDouble")
                raise DTypeNotImplemented(f'"{kernel}" not implemented for \'{name}\'')
        return dtypes.BOOL
    return dtype


def real_same(message):
    """same_dtype refusing a complex operand (real_only's, without a second call: relu and
    floor are hot)."""
    def dtype(x, *_, **__):
        d = x.dtype
        if d.kind == "c":
            raise DTypeNotImplemented(message.format(name=dtypes.TORCH_NAMES[d]))
        return d
    return dtype


def refuse_unordered(np_dtype, kernel, call, instead):
    """torch has no kernel that orders complex values (scatter_reduce's amax, cummax, ...):
    its error for a complex dtype (naming its kernel), then why, and what to use instead."""
    if np.dtype(np_dtype).kind == "c":
        raise DTypeNotImplemented(
            f'"{kernel}" not implemented for \'{dtypes.TORCH_NAMES[np.dtype(np_dtype)]}\': '
            f"{call} needs ordered values and complex numbers have none; {instead}")


def no_kernel(name):
    """torch's message for an op with no complex kernel: "lt_cpu" not implemented for ..."""
    return f'"{name}" not implemented for \'{{name}}\''


# --- helpers for VJP rules --------------------------------------------------------------

def norm_dims(op, dims, ndim):
    """dims (int, tuple, list or None for all) as a sorted tuple of non-negative ints."""
    if dims is None:
        return tuple(range(ndim))
    if type(dims) is int:
        if 0 <= dims < ndim:
            return (dims,)
        dims = (dims,)
    elif isinstance(dims, np.integer):
        dims = (int(dims),)
    n = max(ndim, 1)
    out = []
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                             f"[{-n}, {n - 1}], but got {d})")
        out.append(d % n if ndim else 0)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {tuple(dims)} appears multiple times in the list of dims")
    return tuple(sorted(out)) if ndim else ()
