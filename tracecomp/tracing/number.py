"""A number argument fed to a compiled function as a graph input: what its code sees while
it is traced.

A compiled function called with a number that changes every call (a step counter, a
KL-annealing weight, a temperature) would compile for every value if the number were
baked in as a constant. compiler/number_args.py decides when a number is fed instead; the
trace then gets a `TracedNumber` in its place, which holds the number's 0-d graph value
(float64 for a float, int64 for an int: the precision Python computes with) and its value
this call.

What it does with the code's uses, by kind:

  - **with a tensor** (`x * beta`, `loss + beta * kl`, `beta * x`): the tensor op takes the
    number's graph value, cast first to the dtype the op would compute in with the Python
    number (dtypes.result_type): a float32 tensor times a float computes in float32, an
    int tensor times a float in the default float dtype, as eager does (`number_operands`);
  - **with another number** (`1 - beta`, `step * 0.1`, `lr / (1 - beta1 ** t)`): +, -, *, /,
    unary - and abs, `//` and `%` (with Python's signs and zeros), make another TracedNumber
    on a graph value, computed in float64 or int64 as Python computes; so does ** where
    Python gives a float whatever the traced value (`beta1 ** step`: a positive constant
    base; `x ** 2`: a float raised to a constant whole exponent), computed in float64 with
    libm's pow as Python's float pow is; so do math.sqrt, exp, log, cos, ... and min / max
    of fed numbers (number_functions.py), and round(n), math.floor, ceil and trunc (an int);
  - **numpy scalars** (a module's np.float64 temperature, fed once it changes): with
    numbers and numpy scalars, the operators above and numpy's elementwise ufuncs
    (`np.maximum(temp * np.exp(-rate * n), min_temp)`: `_UFUNCS`) give numpy's result
    type, computed in the graph in its dtype;
  - **where Python may raise** (a division by a fed number that may be 0, math.sqrt of
    one that may be negative, ** that may overflow) the graph would give inf or NaN
    instead: each such number's `recipe` (how Python computes it from the fed inputs) is
    noted (`Reads.require`), and before each call the compiled function checks that
    Python would compute it without an error (`Conditions`); where it would not, the
    numbers are compiled in and the code traced again, meeting Python's error;
  - **anything else reads the value** (`if step % 10 == 0`, `range(n)`, `x[:n]`,
    `float(beta)`, formatting, returning it, passing it where an op takes a number as a
    setting): the trace goes on with this call's value, and the read is
    noted (`reads`), so the function is traced again with that argument compiled in as a
    constant (number_args.ArgumentRead). A result that rests on a value is never served
    for another value.

`isinstance(n, float)` (or `int`) answers as for the number itself (`__class__`), so
code that tests it takes the same branch; but it is not a float subclass, so C code
(numpy, math) cannot read its value without `__float__` or `__index__`, which note the
read.
"""
import math
import operator

import numpy as np

from .. import dtypes
from ..dtypes import np_kind
from ..ops import elementwise as ew
from ..tensor import Tensor


class TracedNumber:
    """A number argument's stand-in while tracing: `tensor` (a 0-d traced tensor holding
    it), `value` (this call's), `sources` (the labels of the arguments it is computed
    from), `reads` (the trace's Reads) and `recipe`: how Python computes it from a later
    call's inputs (recipe(arrays): the compiled graph's input arrays; None for an .item()
    number), so that what the graph needs of it can be checked before each call
    (`Conditions`)."""

    __slots__ = ("reads", "recipe", "sources", "tensor", "value")

    def __init__(self, tensor, value, sources, reads, recipe=None):
        self.tensor, self.value, self.sources, self.reads = tensor, value, sources, reads
        self.recipe = recipe

    @property
    def __class__(self):            # isinstance(n, float) answers as for the value
        return type(self.value)

    def read(self):
        """This call's value, noting that the code depends on it."""
        self.reads.note(self.sources)
        return self.value

    def __getattr__(self, name):    # n.real, n.is_integer(), n.bit_length() ...
        return getattr(self.read(), name)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.read(), dtype)

    def __neg__(self):
        return TracedNumber(ew.neg(self.tensor), -self.value, self.sources, self.reads,
                            derived(operator.neg, self))

    def __pos__(self):
        return self

    def __abs__(self):
        return TracedNumber(ew.abs(self.tensor), abs(self.value), self.sources, self.reads,
                            derived(abs, self))


def input_recipe(position):
    """The recipe of a fed number: its input's value, as the Python number (int64 -> int,
    float64 -> float)."""
    return lambda arrays: arrays[position].item()


def derived(python_fn, *operands):
    """The recipe of python_fn applied to operands (TracedNumbers and Python numbers), or
    None where one has none."""
    parts = []
    for x in operands:
        if type(x) is not TracedNumber:
            parts.append(lambda arrays, x=x: x)
        elif x.recipe is None:
            return None
        else:
            parts.append(x.recipe)
    if len(parts) == 1:
        part = parts[0]
        return lambda arrays: python_fn(part(arrays))
    first, second = parts
    return lambda arrays: python_fn(first(arrays), second(arrays))


ITEM = ".item()"     # the source of a number a traced tensor's .item() made


def item_number(tensor):
    """`t.item()` on a traced tensor of one element: a TracedNumber on its value (detached,
    as .item() is, in float64 / int64 / bool: the Python number's precision) whose own
    value is unknown while tracing. The code may compute with it, return it or store it
    (the call then gives the Python number: signature.py, kept_values.py); a use that
    needs the value itself (`if loss.item() > 1`, a format) is a TraceError."""
    from ..ops import movement
    kind = np_kind(tensor._data.dtype)
    python, dtype = (bool, np.bool_) if kind == "b" else (int, np.int64) if kind in "iu" \
        else (float, np.float64)
    value = ew.cast(movement.reshape(tensor.detach(), ()), np.dtype(dtype))
    # a stand-in value of the number's type: it decides Python's types (int + float),
    # never the result (read() refuses)
    return TracedNumber(value, python(1), frozenset((ITEM,)), ITEM_READS)


class Reads:
    """The labels of the number arguments whose values one trace read, and the recipes
    that must compute without an error for its graph to hold (`required`: [(recipe,
    sources)]). Once the trace is over (`close`), a stand-in kept somewhere cannot be
    read unnoticed: that raises."""

    __slots__ = ("labels", "open", "required")

    def __init__(self):
        self.labels, self.open, self.required = set(), True, []

    def require(self, number):
        """The graph computes `number` where Python may raise (a division by a fed number,
        math.sqrt of one): each call checks first that Python would not (`Conditions`)."""
        self.required.append((number.recipe, number.sources))

    def note(self, sources):
        if ITEM in sources:
            from ..user_code import value_error
            raise value_error("using the number .item() gave inside compiled code as a value "
                              "(a branch, a format, float()); returning it, storing it or "
                              "computing with it is fine")
        if not self.open:
            raise RuntimeError(
                "tracecomp.compile: a number argument's value was read after its function "
                "was traced (a stand-in for it was kept); please report this")
        self.labels.update(sources)

    def close(self):
        self.open = False


ITEM_READS = Reads()     # item numbers' reads: every one raises (note)


class Conditions:
    """What a compiled graph needs of the fed numbers it computes with: that Python would
    compute each of `recipes` from this call's inputs without an error (a division by a
    fed number that is 0 raises ZeroDivisionError where the graph gives inf;
    math.sqrt(-1.0) raises ValueError where it gives NaN). `hold(arrays)` is checked
    before each call; where it fails, the numbers `labels` are compiled in instead (the
    trace then meets Python's error, as the code run eagerly does)."""

    __slots__ = ("labels", "recipes")

    def __init__(self, required):
        self.recipes = [recipe for recipe, _ in required]
        self.labels = frozenset().union(*[sources for _, sources in required])

    def hold(self, arrays):
        try:
            for recipe in self.recipes:
                recipe(arrays)
        except (ArithmeticError, ValueError):
            return False
        return True


def _value(x):
    return x.read() if type(x) is TracedNumber else x


def _held(x):
    return x.value if type(x) is TracedNumber else x


def _arithmetic(name, python_op, tensor_op, reflected, checked=None):
    """A binary operator that a TracedNumber computes in the graph with another number
    (a TracedNumber, an int or a float); with a tensor it defers to the tensor's operator,
    and otherwise it reads the value. checked: where Python may raise (a traced divisor,
    any **), the graph computes it under a condition (Reads.require), and a number without
    a recipe (.item()'s) is read; "pow": under a
    condition where it can (an .item() number's ** gives inf where Python raises)."""
    def method(self, other):
        if isinstance(other, Tensor):
            return NotImplemented       # Tensor.__rmul__ ... takes the number (operands)
        a, b = (other, self) if reflected else (self, other)
        traced_other = type(other) is TracedNumber
        if not (traced_other or plain_number(other)):
            return python_op(_value(a), _value(b))
        recipe = derived(python_op, a, b)
        # a constant divisor raised now if it is 0; a traced one is checked each call
        required = checked == "pow" or checked is not None and type(b) is TracedNumber
        if required and recipe is None and checked != "pow":
            return python_op(_value(a), _value(b))
        # Python's own answer (or its error: a division by zero), without noting a read
        value = python_op(_held(a), _held(b))
        dtype = _dtype_of(value)
        out = tensor_op(_operand(a, dtype), _operand(b, dtype))
        sources = self.sources | other.sources if traced_other else self.sources
        number = TracedNumber(out, value, sources, self.reads, recipe)
        if required and recipe is not None:
            self.reads.require(number)
        return number
    method.__name__ = name
    return method


def _operand(x, dtype):
    """x for a number-with-number op computed in dtype: a TracedNumber's graph value cast
    to it, a Python number as it is (a 0-d tensor and a Python scalar compute in the
    tensor's dtype; a numpy scalar as its Python number: `dtype` holds what its own dtype
    makes of the result)."""
    if type(x) is not TracedNumber:
        return x.item() if isinstance(x, np.generic) else x
    return x.tensor if x.tensor._data.dtype == dtype else ew.cast(x.tensor, dtype)


def plain_number(x):
    """An int, a float or a numpy int or float scalar (not a bool, nor a TracedNumber,
    whose isinstance answers as its value's)."""
    return type(x) in (int, float) or issubclass(type(x), (np.integer, np.floating))


def _dtype_of(value):
    """The graph's dtype for a number-with-number result: float64 for a float, int64 for
    an int (Python's precision), a numpy scalar's own."""
    if isinstance(value, np.generic):
        return value.dtype
    return np.dtype(np.float64 if type(value) is float else np.int64)


# numpy's ufuncs that a TracedNumber computes in the graph (numpy gives inf or NaN where
# the graph does, warning instead of raising: no condition is needed)
_UFUNCS = {
    np.add: ew.add, np.subtract: ew.sub, np.multiply: ew.mul, np.true_divide: ew.div,
    np.maximum: ew.maximum, np.minimum: ew.minimum, np.negative: ew.neg,
    np.absolute: ew.abs, np.exp: ew.exp, np.log: ew.log, np.sqrt: ew.sqrt, np.cos: ew.cos,
    np.sin: ew.sin, np.tanh: ew.tanh,
}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """np.maximum(temp * np.exp(-rate * n), min_temp) with a fed temperature: a numpy
    ufunc of fed numbers and plain numbers is a TracedNumber holding numpy's result (its
    type and dtype, as numpy gives them), computed in the graph in that dtype; any other
    use (another ufunc, out=, an array operand) reads the values."""
    graph_op = _UFUNCS.get(ufunc)
    if method != "__call__" or kwargs or graph_op is None or not all(
            type(x) is TracedNumber and x.recipe is not None or plain_number(x)
            for x in inputs):
        return getattr(ufunc, method)(*[_value(x) for x in inputs], **kwargs)
    value = ufunc(*[_held(x) for x in inputs])
    if not isinstance(value, (np.integer, np.floating)):
        return getattr(ufunc, method)(*[_value(x) for x in inputs])
    out = graph_op(*[_operand(x, value.dtype) for x in inputs])
    if out._data.dtype != value.dtype:      # a Python number beside an int: numpy's float
        out = ew.cast(out, value.dtype)
    sources = frozenset().union(*[x.sources for x in inputs if type(x) is TracedNumber])
    return TracedNumber(out, value, sources, self.reads, derived(ufunc, *inputs))


TracedNumber.__array_ufunc__ = _array_ufunc


def _python_mod(a, b):
    """Python's `%`: torch's remainder (the divisor's sign), except that a zero result of
    floats takes the divisor's sign where torch keeps the dividend's (-0.0 % 2.0 is 0.0).
    The graph's floor_divide already gives Python's `//` of floats, zeros and infinities
    included (checked against Python on every pair of 300 values)."""
    out = ew.remainder(a, b)
    if out._data.dtype.kind != "f":
        return out
    return ew.where(ew.eq(out, 0), ew.copysign(out, b), out)


_ARITHMETIC = (     # name, Python's op, the graph's op, reflected, checked
    ("__add__", operator.add, ew.add, False, None),
    ("__radd__", operator.add, ew.add, True, None),
    ("__sub__", operator.sub, ew.sub, False, None),
    ("__rsub__", operator.sub, ew.sub, True, None),
    ("__mul__", operator.mul, ew.mul, False, None),
    ("__rmul__", operator.mul, ew.mul, True, None),
    ("__truediv__", operator.truediv, ew.div, False, "any"),
    ("__rtruediv__", operator.truediv, ew.div, True, "any"),
    ("__floordiv__", operator.floordiv, ew.floor_divide, False, "any"),
    ("__rfloordiv__", operator.floordiv, ew.floor_divide, True, "any"),
    ("__mod__", operator.mod, _python_mod, False, "any"),
    ("__rmod__", operator.mod, _python_mod, True, "any"),
)
for _name, _python, _graph, _reflected, _checked in _ARITHMETIC:
    setattr(TracedNumber, _name, _arithmetic(_name, _python, _graph, _reflected, _checked))


def _power(reflected):
    """`self ** other` (reflected: `other ** self`) in the graph where its result is a
    float for every value self may take: a positive constant base with a float or an int
    exponent (`beta1 ** step`; an int base needs a float exponent: `2 ** step` is an int,
    or a float for a negative step), or a float raised to a whole constant >= 0 (`x ** 2`);
    otherwise (a traced exponent of a traced base, `x ** 0.5` of a negative x: complex)
    the value is read."""
    name = "__rpow__" if reflected else "__pow__"
    graph = _arithmetic(name, pow, ew.pow, reflected, "pow")

    def method(self, other, modulo=None):
        if isinstance(other, Tensor):
            return NotImplemented
        if modulo is not None:
            return pow(self.read(), _value(other), modulo)
        float_self = type(self.value) is float
        if reflected:
            graphed = type(other) in (int, float) and other > 0 and (
                float_self or type(other) is float)
        else:
            graphed = float_self and type(other) is int and other >= 0
        if not graphed:
            return pow(other, self.read()) if reflected else pow(self.read(), _value(other))
        return graph(self, other)
    method.__name__ = name
    return method


TracedNumber.__pow__, TracedNumber.__rpow__ = _power(False), _power(True)


def _reading(name, fn, arity):
    """A use that needs the value: fn applied to it (and the other operand, reflected for
    an __r*__ operator); arity -1: any arguments after the number."""
    if arity == 2:
        def method(self, other):
            return fn(self.read(), _value(other))
    elif arity == -2:
        def method(self, other):
            return fn(_value(other), self.read())
    else:
        def method(self, *args):
            return fn(self.read(), *args)
    method.__name__ = name
    return method


_READING = (    # name, what it computes on the value, arity (2; -2 reflected; -1 any)
    ("__bool__", bool, -1), ("__int__", int, -1), ("__float__", float, -1),
    ("__complex__", complex, -1), ("__index__", operator.index, -1), ("__hash__", hash, -1),
    ("__str__", str, -1), ("__repr__", repr, -1), ("__format__", format, -1),
    ("__eq__", operator.eq, 2), ("__ne__", operator.ne, 2), ("__lt__", operator.lt, 2),
    ("__le__", operator.le, 2), ("__gt__", operator.gt, 2), ("__ge__", operator.ge, 2),
    ("__divmod__", divmod, 2), ("__rdivmod__", divmod, -2),
    ("__and__", operator.and_, 2), ("__rand__", operator.and_, -2),
    ("__or__", operator.or_, 2), ("__ror__", operator.or_, -2),
    ("__xor__", operator.xor, 2), ("__rxor__", operator.xor, -2),
    ("__lshift__", operator.lshift, 2), ("__rlshift__", operator.lshift, -2),
    ("__rshift__", operator.rshift, 2), ("__rrshift__", operator.rshift, -2),
    ("__invert__", operator.invert, -1),
)
for _name, _fn, _arity in _READING:
    setattr(TracedNumber, _name, _reading(_name, _fn, _arity))


_INT64 = np.dtype(np.int64)
_INT64_RANGE = range(-2 ** 63, 2 ** 63)


def _in_int64(value):
    """value, an int the graph computes in int64; OverflowError (a failed condition) where
    Python's int holds more."""
    if value not in _INT64_RANGE:
        raise OverflowError(f"{value} does not fit in int64")
    return value


def _rounding(name, python_fn, graph_op):
    """round(n), math.floor(n), math.ceil(n), math.trunc(n) of a fed float: an int in the
    graph (rounded in float64 as Python does: round() half to even; then made an int64),
    required to be what Python computes (Python raises for inf and NaN; an int64 holds
    less than Python's int); of a fed int: the int itself. round(n, ndigits) and a number
    without a recipe read the value."""
    def method(self, *ndigits):
        if ndigits not in ((), (None,)) or self.recipe is None:
            return python_fn(self.read(), *ndigits)
        if type(self.value) is int:
            return self
        value = python_fn(self.value)
        if value not in _INT64_RANGE:
            return python_fn(self.read())
        float_recipe = self.recipe
        number = TracedNumber(ew.cast(graph_op(self.tensor), _INT64), value, self.sources,
                              self.reads, lambda arrays: _in_int64(python_fn(float_recipe(
                                  arrays))))
        self.reads.require(number)
        return number
    method.__name__ = name
    return method


_ROUNDING = (   # name, Python's function, the graph's op
    ("__round__", round, ew.round), ("__floor__", math.floor, ew.floor),
    ("__ceil__", math.ceil, ew.ceil), ("__trunc__", math.trunc, ew.trunc),
)
for _name, _python, _graph in _ROUNDING:
    setattr(TracedNumber, _name, _rounding(_name, _python, _graph))


def has_number(args):
    for a in args:
        if type(a) is TracedNumber:
            return True
    return False


def number_operands(args):
    """A primitive's arguments with each TracedNumber as its graph value, cast to the dtype
    the op computes in with that Python number in its place; where that dtype cannot be
    told (an argument that is not a tensor or a number), the number's value is read."""
    values = [_held(a) for a in args]
    try:
        dtype = dtypes.result_type(*[a._data if isinstance(a, Tensor) else a for a in values
                                     if isinstance(a, (Tensor, bool, int, float))])
    except (TypeError, ValueError, KeyError):
        return [_value(a) for a in args]
    return [_operand(a, dtype) for a in args]
