"""Arming __torch_function__: every public function and Tensor method made to dispatch.

torch_function.py says when this runs (the first override of the protocol) and why not
before. Arming keeps each public function object: its code is replaced by a trampoline
that calls `body`, a copy of the function as it was, when every positional argument is of a
type known to be plain and no mode is entered, else `dispatch(func, body, args, kwargs)`. So a
reference taken anywhere before (`from tracecomp import relu`, `F.linear` inside nn.Linear,
`HANDLED_FUNCTIONS[torch.mean]`) still names the function that dispatches, and `func` is the
object the program knows. Tensor's methods and property getters are armed in place too,
dispatching as `Tensor.<name>` and `Tensor.<name>.__get__` as torch's do, except one that
is also a public function or another method (torch tells `Tensor.add` from `torch.add`):
that one gets a copy of its own.

Operators dispatch as the method torch names (`a + b` as Tensor.add, `2 * a` as
Tensor.mul with a first, `2 - a` as Tensor.__rsub__): OPERATOR_FUNCS, read off torch 2.13.
"""
import functools
import types
import warnings

from . import torch_function
from .tensor import Tensor

# Tensor operators that torch hands to __torch_function__ as another method
OPERATOR_FUNCS = {
    "__abs__": "abs", "__add__": "add", "__radd__": "add", "__div__": "div",
    "__truediv__": "div", "__rtruediv__": "__rdiv__", "__ge__": "ge", "__gt__": "gt",
    "__le__": "le", "__lt__": "lt", "__ne__": "ne", "__iadd__": "add_", "__idiv__": "div_",
    "__itruediv__": "div_", "__ifloordiv__": "floor_divide_", "__imod__": "remainder_",
    "__imul__": "mul_", "__ipow__": "pow_", "__isub__": "sub_", "__long__": "__int__",
    "__matmul__": "matmul", "__mod__": "remainder", "__mul__": "mul", "__rmul__": "mul",
    "__neg__": "neg", "__nonzero__": "__bool__", "__pos__": "positive", "__pow__": "pow",
    "__rand__": "bitwise_and", "__ror__": "bitwise_or", "__rxor__": "bitwise_xor",
    "__sub__": "sub",
}

# Tensor attributes that never dispatch (torch's get_ignored_functions, and Python's own
# protocol methods that must work on any tensor); names with one leading _ are internal
NOT_DISPATCHED = frozenset((
    "__init__", "__init_subclass__", "__subclasshook__", "__getattribute__", "__getattr__",
    "__setattr__", "__delattr__", "__dir__", "__hash__", "__iter__", "__delitem__",
    "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__deepcopy__",
    "__copy__", "__del__", "__class_getitem__", "__array__", "__array_wrap__",
    "as_subclass", "new", "new_empty", "new_empty_strided", "new_full", "new_ones",
    "new_tensor", "new_zeros", "stride", "unflatten", "to_sparse_coo",
))

# public functions (dotted names) that answer about types, modes and settings, not about
# tensors (torch's are plain Python or ignored); public_names leaves out is_tensor's kind
NOT_DISPATCHED_FUNCTIONS = frozenset(f"tracecomp.{name}" for name in (
    "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "fork_rng",
    "is_grad_enabled", "set_grad_enabled", "is_inference_mode_enabled", "get_num_threads",
    "set_num_threads", "set_printoptions", "promote_types", "can_cast", "typename",
    "get_default_device", "set_default_device", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "set_float32_matmul_precision",
    "get_float32_matmul_precision", "vmap", "broadcast_shapes", "cond",
))

_TRAMPOLINES = {}       # number of free variables -> the trampoline's code, unbound
BODIES = {}             # id(armed function) -> the function's own code, as a function

# The trampoline, in which each capitalised name is a constant put in by arm_function (a
# global would be looked up in the module of the function armed; PROTOCOL is
# torch_function, whose mode stack and PLAIN set are read as attributes: a constant's truth
# would be folded by the compiler before it is replaced, and a code object holding a set
# could not be hashed): a call whose positional
# arguments are all of types known not to override the protocol, with no keyword arguments
# and no mode entered, goes straight to the body (one frame more than before arming);
# anything else to dispatch.
_BODY = """\
        if not kwargs and not PROTOCOL.modes:
            for a in args:
                if TYPE(a) not in PROTOCOL.PLAIN:
                    break
            else:
                return BODY(*args)
        return DISPATCH(args, kwargs)
"""
_MARKS = ("PROTOCOL", "TYPE", "BODY", "DISPATCH")


def _template(nfree):
    """The trampoline's code with nfree free variables (a function's code may only be
    replaced by code with as many); its constants are the marks' names, as strings."""
    code = _TRAMPOLINES.get(nfree)
    if code is None:
        free = [f"free{k}" for k in range(nfree)]
        keep = f"        if False:\n            {', '.join(free)},\n" if free else ""
        body = _BODY
        for mark in _MARKS:
            body = body.replace(mark, repr(f"<{mark}>"))
        source = (f"def outer({', '.join(free)}):\n"
                  f"    def trampoline(*args, **kwargs):\n{keep}{body}"
                  f"    return trampoline\n")
        space = {}
        with warnings.catch_warnings():     # calling a str constant: replaced when armed
            warnings.simplefilter("ignore")
            exec(compile(source, "<__torch_function__ dispatch>", "exec"), space)
        code = _TRAMPOLINES[nfree] = space["outer"](*range(nfree)).__code__
    return code


def _copy(fn):
    """A new function object with fn's code, defaults, closure and names."""
    body = BODIES.get(id(fn))
    if body is not None:
        fn = body
    new = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                             fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__, new.__module__, new.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    new.__dict__.update(fn.__dict__)
    return new


def _named_copy(fn, name):
    """A copy of fn to be Tensor's method `name`, named so (torch's func.__name__)."""
    method = _copy(fn)
    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    return method


def arm_function(fn, func, dispatch):
    """fn (changed in place) runs body, fn as it was, or dispatch(func, body, args, kwargs)
    (the trampoline says when). inspect.signature still reads fn's own parameters (through
    __wrapped__)."""
    body = _copy(fn)
    marks = {"<PROTOCOL>": torch_function, "<TYPE>": type, "<BODY>": body,
             "<DISPATCH>": functools.partial(dispatch, func, body)}
    own = fn.__code__
    template = _template(len(own.co_freevars))
    # fn's own file and line: tracebacks point there, and the compiler's search for the
    # user's line (user_code.py) passes over it as tracecomp's
    fn.__code__ = template.replace(
        co_consts=tuple(marks.get(c, c) if type(c) is str else c
                        for c in template.co_consts),
        co_name=own.co_name, co_qualname=own.co_qualname, co_filename=own.co_filename,
        co_firstlineno=own.co_firstlineno)
    fn.__dict__.setdefault("__wrapped__", body)
    BODIES[id(fn)] = body


def _dispatchable(fn):
    return type(fn) is types.FunctionType and id(fn) not in BODIES and \
        not fn.__code__.co_flags & (0x20 | 0x80 | 0x200)   # generators, coroutines


def _own(fn, name, shared):
    """fn to arm as Tensor's method `name`: fn itself when nothing else holds it (so
    `Tensor.add` taken before arming is still the method), else a copy."""
    if id(fn) not in shared:
        fn.__name__, fn.__qualname__ = name, f"Tensor.{name}"
        return fn
    return _named_copy(fn, name)


def _arm_methods(dispatch):
    """Tensor's methods and property getters, dispatching as torch names them; then
    operators as the method torch reports (OPERATOR_FUNCS). One that is also a public
    function or another method is armed as a copy of its own."""
    from .fx import public_names
    seen = [id(v.fget if isinstance(v, property) else v) for v in vars(Tensor).values()]
    shared = set(public_names.table()) | {i for i in seen if seen.count(i) > 1}
    for name, value in list(vars(Tensor).items()):
        if name in NOT_DISPATCHED or (name.startswith("_") and not name.startswith("__")):
            continue
        if isinstance(value, property) and _dispatchable(value.fget):
            prop = value
            if id(value.fget) in shared:
                prop = property(_copy(value.fget), value.fset, value.fdel, value.__doc__)
                setattr(Tensor, name, prop)
            arm_function(prop.fget, prop.__get__, dispatch)
            torch_function.TENSOR_METHODS.add(prop.__get__)
            if name in torch_function.NOWRAP_PROPERTIES:
                torch_function.NOWRAP.add(prop.__get__)
        elif _dispatchable(value) and name not in OPERATOR_FUNCS:
            method = _own(value, name, shared)
            arm_function(method, method, dispatch)
            setattr(Tensor, name, method)
            torch_function.TENSOR_METHODS.add(method)
    for name, reported in OPERATOR_FUNCS.items():
        value = vars(Tensor).get(name)
        if _dispatchable(value):
            method = _own(value, name, shared)
            arm_function(method, vars(Tensor).get(reported, method), dispatch)
            setattr(Tensor, name, method)


def _arm_functions(dispatch):
    """The public functions of tracecomp and its torch-like namespaces, in place."""
    from .fx import public_names
    for dotted, fn in public_names.table().values():
        if dotted not in NOT_DISPATCHED_FUNCTIONS and _dispatchable(fn) and \
                fn.__module__ != "tracecomp.overrides":     # the protocol's own
            arm_function(fn, fn, dispatch)


def arm_all(dispatch):
    _arm_methods(dispatch)
    _arm_functions(dispatch)
