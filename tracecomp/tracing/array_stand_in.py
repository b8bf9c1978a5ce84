"""A numpy array argument fed to a compiled function as a graph input: what its code sees
while it is traced (compiler/array_args.py decides which arrays are fed).

A compiled step called with a new numpy batch every call (`obs` in an RL agent's act(),
a batch a loader gives as arrays) would compile for every call if the array's numbers
were baked in as a constant. So the trace gets an `ArrayStandIn` in its place, which holds
the graph input the array becomes (`tensor`) and the array itself, and answers:

  - **the conversions into tensors** (tracecomp.from_numpy, tensor, as_tensor, asarray,
    the legacy FloatTensor(...) constructors: `converted`): the graph input itself where
    they share memory (from_numpy), else a traced copy in the dtype asked for, as eagerly;
  - **astype** (`obs.astype(np.float32)`, before a conversion): another stand-in, on a
    traced cast of the input (a copy, as numpy's);
  - **what describes it** (shape, dtype, ndim, size, itemsize, nbytes, len()) as its
    input does (the array's sizes, or the other sizes a dynamic-shapes trace gives it):
    the signature holds the input's shape and dtype;
  - **anything else reads its numbers** (numpy functions and ufuncs, indexing, methods,
    np.asarray, iteration, formatting): the trace goes on with a copy of the array, and
    the read is noted, so that the function is traced again with the array itself
    compiled in as a constant, as before (array_args.ArrayRead). A result that rests on
    the numbers is never served for other numbers; the copy (one per trace) keeps a write
    into it (`obs[0] = 0`, `obs.fill(0)`) from reaching the caller's array during a trace
    that is thrown away.

`isinstance(a, np.ndarray)` answers True (`__class__`), so code that tests it takes the same
branch; but it is not an ndarray subclass, so numpy's C code cannot read it without
`__array__` or `__array_interface__`, which note the read.
"""
import math

import numpy as np

from .. import dtypes

# what answers without reading a number (the signature keys the input by its shape and
# dtype), from the traced input: a trace at other sizes (mark_dynamic) resizes that
_DESCRIBING = {
    "shape": lambda s: tuple(s.tensor.shape),
    "dtype": lambda s: s.array.dtype,
    "ndim": lambda s: s.tensor.ndim,
    "size": lambda s: math.prod(s.tensor.shape),
    "itemsize": lambda s: s.array.dtype.itemsize,
    "nbytes": lambda s: math.prod(s.tensor.shape) * s.array.dtype.itemsize,
}


class ArrayReads:
    """The labels of the array arguments whose numbers one trace read. Once the trace is
    over (`close`), a stand-in kept somewhere cannot be read unnoticed: that raises."""

    __slots__ = ("labels", "open")

    def __init__(self):
        self.labels, self.open = set(), True

    def note(self, label):
        if not self.open:
            raise RuntimeError(
                f"tracecomp.compile: the numpy array argument {label} was kept by the "
                f"compiled code and used after its call; pass a copy (arr.copy()) to keep it")
        self.labels.add(label)

    def close(self):
        self.open = False


class ArrayStandIn:
    """A fed array argument's stand-in while tracing: `tensor` (its traced graph input,
    the array's dtype and shape), `array` (this call's), `label` and the trace's `reads`."""

    __slots__ = ("_copy", "array", "label", "reads", "tensor")

    def __init__(self, tensor, array, label, reads):
        self.tensor, self.array, self.label, self.reads = tensor, array, label, reads
        self._copy = None

    @property
    def __class__(self):            # isinstance(a, np.ndarray) answers as for the array
        return np.ndarray

    def read(self):
        """A copy of the array (the same one each time), noting that the code read its
        numbers."""
        self.reads.note(self.label)
        if self._copy is None:
            self._copy = self.array.copy()
        return self._copy

    def converted(self, dtype=None, copy=True):
        """The tensor a conversion gives: the graph input itself where it shares memory
        (copy False, the same dtype), else a traced copy in `dtype` (a tracecomp dtype;
        None: the array's)."""
        if not self.reads.open:
            self.reads.note(self.label)     # raises: kept past its call
        t, np_dtype = self.tensor, dtypes.to_np(dtype)
        if np_dtype is None or np_dtype == self.array.dtype:
            return t.clone() if copy else t
        return t.to(dtype)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """numpy's astype: a stand-in on the input cast to dtype (a copy, unless copy is
        False and it is dtype already); the numbers are not read."""
        np_dtype = np.dtype(dtype)
        if order not in "KA" or casting != "unsafe" or not subok or \
                np_dtype.kind not in "biufc" or np_dtype == np.float16:
            return self.read().astype(dtype, order, casting, subok, copy)
        if np_dtype == self.array.dtype and not copy:
            return self
        return ArrayStandIn(self.tensor.to(dtypes.from_np(np_dtype)),
                            self.array.astype(np_dtype), self.label, self.reads)

    def __getattr__(self, name):
        describe = _DESCRIBING.get(name)
        if describe is not None:
            return describe(self)
        if name.startswith("__") and name not in ("__array_interface__", "__array_struct__"):
            raise AttributeError(name)      # a protocol probe (copy, pickle): not a read
        return getattr(self.read(), name)

    def __len__(self):
        if not self.tensor.ndim:
            raise TypeError("len() of unsized object")
        return self.tensor.shape[0]

    def __array__(self, dtype=None, copy=None):
        a = self.read()
        return a if dtype is None else a.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*_read_all(inputs), **_read_all(kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return func(*_read_all(args), **_read_all(kwargs))

    def __repr__(self):
        return repr(self.read())

    def __str__(self):
        return str(self.read())

    def __format__(self, spec):
        return format(self.read(), spec)

    def __bool__(self):
        return bool(self.read())

    def __iter__(self):
        return iter(self.read())

    def __getitem__(self, key):
        return self.read()[key]

    def __setitem__(self, key, value):
        self.read()[key] = value

    def __float__(self):
        return float(self.read())

    def __int__(self):
        return int(self.read())

    def __index__(self):
        return self.read().__index__()

    def __hash__(self):
        return object.__hash__(self)

    def __eq__(self, other):
        return self.read() == _read_all(other)

    def __ne__(self, other):
        return self.read() != _read_all(other)


def _binary(name):
    def op(self, other):
        return getattr(self.read(), name)(_read_all(other))
    op.__name__ = name
    return op


# arithmetic, comparisons and their reflections: numpy's answer, the numbers read
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
              "or", "xor", "lshift", "rshift", "divmod"):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        if hasattr(np.ndarray, _form):
            setattr(ArrayStandIn, _form, _binary(_form))
for _form in ("__lt__", "__le__", "__gt__", "__ge__"):
    setattr(ArrayStandIn, _form, _binary(_form))
for _form in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ArrayStandIn, _form, lambda self, _form=_form: getattr(self.read(), _form)())


def _read_all(x):
    """x with every stand-in in it (nested in tuples, lists and dicts) read."""
    if type(x) is ArrayStandIn:
        return x.read()
    if type(x) in (tuple, list):
        return type(x)(_read_all(v) for v in x)
    if type(x) is dict:
        return {k: _read_all(v) for k, v in x.items()}
    return x


def stand_in_of(x):
    """x where it is an ArrayStandIn (the conversions' test), else None."""
    return x if type(x) is ArrayStandIn else None
