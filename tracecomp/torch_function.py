"""__torch_function__: torch's protocol for Tensor subclasses, Tensor-like classes and modes.

A public function or Tensor method called with an argument whose type overrides
`__torch_function__` (a Tensor subclass, other than Parameter's kind that disables it, or
any other class that defines it), or while a TorchFunctionMode is entered, is handed to
those instead of running: `handle(func, overloaded, args, kwargs)` is torch's
handle_torch_function (the innermost mode first, then the arguments' types, subclasses
before their bases, until one returns something other than NotImplemented). Tensor's own
`__torch_function__` runs the function with subclass dispatch disabled and gives results
the subclass's type (torch's _convert).

What it costs: nothing until it is needed. torch checks every call in C++; a check in
Python costs a frame per op here (~0.5 us on a ~4.5 us small op, measured). So the public
functions and Tensor methods stay plain until the first class that overrides the protocol
is defined (Tensor.__init_subclass__ sees subclasses; a class statement defining
`__torch_function__` elsewhere is seen by the class-building hook below, which removes
itself then), a mode is entered or an fx Proxy is made: then `arm()`
(torch_function_arm.py) routes every one of them through a trampoline that calls `dispatch`
when an argument is not of a type known to be plain, keeping each function object (code
that holds `tracecomp.add` or `F.relu`, and dicts keyed by them, see the dispatching
function). A Tensor-like class defined before tracecomp is imported is seen once one of
tracecomp.overrides' functions runs.
"""
import builtins
import functools
import threading
import types

from . import context
from .errors import TraceError, torch_own_function
from .tensor import Tensor

ENABLED, SUBCLASSES_DISABLED, ALL_DISABLED = 0, 1, 2
# Per thread, as torch's: the state DisableTorchFunction(Subclass) set, and the mode stack
# (innermost last). `modes` holds the stack of each thread that has one, so that an armed
# call tests one dict for emptiness to know that no mode is entered anywhere.
_local = threading.local()
modes = {}              # thread ident -> its TorchFunctionMode stack
armed = [False]


def current_state():
    return getattr(_local, "state", ENABLED)


def thread_modes() -> list:
    """This thread's mode stack, innermost last (empty when none is entered)."""
    return modes.get(threading.get_ident(), [])


def push_mode(mode):
    modes.setdefault(threading.get_ident(), []).append(mode)


def pop_mode(mode=None):
    """Take the innermost mode (or `mode`) off this thread's stack."""
    me = threading.get_ident()
    stack = modes[me]
    if mode is None:
        mode = stack.pop()
    else:
        stack.remove(mode)
    if not stack:
        del modes[me]
    return mode


def modes_on() -> bool:
    return bool(modes) and threading.get_ident() in modes and current_state() != ALL_DISABLED


def _disabled_torch_function_impl(func, types, args=(), kwargs=None):
    """A class's `__torch_function__` that turns the protocol off for it (Parameter's, as
    torch's): its instances are plain tensors to every function."""
    with DisableTorchFunctionSubclass():
        return func(*args, **(kwargs or {}))


_DISABLED = _disabled_torch_function_impl
_KIND = {Tensor: False}     # type -> whether it overrides __torch_function__ (cached)
# the types met that do not override it and hold no arguments (not lists or tuples): an
# armed function called with only these goes straight to its body (torch_function_arm.py)
PLAIN = {Tensor, int, float, bool, str, type(None)}


def _overrides(kind) -> bool:
    """Whether arguments of type kind go to its __torch_function__: it has one, not the
    disabling one, and it is not torch's own tensor (torch's handlers would call our
    function back under torch's switches, not ours: errors.foreign_operand names it)."""
    impl = getattr(kind, "__torch_function__", None)
    found = impl is not None and getattr(impl, "__func__", impl) is not _DISABLED and \
        not any(b.__name__ == "TensorBase" and b.__module__ == "torch._C" for b in kind.__mro__)
    _KIND[kind] = found
    if not found and kind is not list and kind is not tuple:
        PLAIN.add(kind)
    return found


def _add(found, arg):
    """Put arg in the overloaded list: once per type, before any argument of a base
    class (torch's ordering: subclasses before superclasses, else first come)."""
    kind = type(arg)
    if any(type(a) is kind for a in found):
        return
    for k, old in enumerate(found):
        if issubclass(kind, type(old)):
            found.insert(k, arg)
            return
    found.append(arg)


def overloaded_args(args, kwargs=None):
    """The arguments (and the items of lists and tuples among them, keyword arguments
    too) whose types override __torch_function__, in the order torch tries them; [] while
    subclass dispatch is disabled."""
    found = []
    if current_state() != ENABLED:
        return found
    for a in (args if not kwargs else (*args, *kwargs.values())):
        kind = type(a)
        if kind is Tensor:
            continue
        if kind is list or kind is tuple:
            for b in a:
                k = type(b)
                if k is not Tensor and (_KIND.get(k) or k not in _KIND and _overrides(k)):
                    _add(found, b)
        elif _KIND.get(kind) or kind not in _KIND and _overrides(kind):
            _add(found, a)
    return found


def dispatch(func, body, args, kwargs):
    """What an armed function runs: its body, or the protocol's handlers when an argument
    overrides it or a mode is entered."""
    found = overloaded_args(args, kwargs)
    if found or modes_on():
        return handle(func, found, args, kwargs)
    return body(*args, **kwargs)


def handle(func, overloaded, args, kwargs, python_api=False):
    """torch's handle_torch_function: the innermost mode (taken off the stack while it
    runs), then each overloaded argument's __torch_function__, until one answers. When
    none does: a TypeError worded as torch's for its own functions, or (python_api) for a
    function of the program's own (overrides.handle_torch_function)."""
    types = tuple(type(a) for a in overloaded)
    if context.current() is not None and not _traced_through(types):
        # met inside code tracecomp.compile is tracing
        raise TraceError(f"{NOT_TRACED} ({getattr(func, '__name__', func)} on "
                         f"{[t.__name__ for t in types]}, or in a TorchFunctionMode)")
    mode = None
    if modes_on():
        mode = pop_mode()
        try:
            result = mode.__torch_function__(func, types, args, kwargs)
        finally:
            push_mode(mode)
        if result is not NotImplemented:
            return result
    for arg in overloaded:
        result = arg.__torch_function__(func, types, args, kwargs)
        if result is not NotImplemented:
            return result
    from .overrides import resolve_name
    name = resolve_name(func) or f"{getattr(func, '__module__', None)}." \
                                  f"{getattr(func, '__name__', func)}"
    if python_api:
        raise TypeError(f"no implementation found for '{name}' on types that implement "
                        f"__torch_function__: {list(types)}" +
                        (f" nor in mode {mode}" if mode is not None else ""))
    tried = [f"  - tensor subclass {t}" for t in types] + \
        ([f"  - mode object {mode}"] if mode is not None else [])
    raise TypeError(f"Multiple dispatch failed for '{name}'; all __torch_function__ handlers "
                    f"returned NotImplemented:\n\n" + "\n".join(tried))


def _traced_through(types):
    """Whether tracing may run these types' handlers: every one says so (a class of
    tracecomp's own whose handler only calls tracecomp functions on the other arguments,
    nn.attention.bias.CausalBias) and no mode is entered."""
    return bool(types) and not modes_on() and \
        all(getattr(t, "_tracecomp_traced_torch_function", False) for t in types)


NOT_COMPILED = ("compiled code does not trace through __torch_function__ (an argument's "
                "type overrides it, or a TorchFunctionMode is entered; torch.compile traces "
                "into it): the call runs eagerly, where the protocol runs as in torch")
NOT_TRACED = ("a __torch_function__ handler is met while tracing: compiled code does not "
              "trace through __torch_function__ (torch.compile traces into it); make the "
              "subclass or enter the mode outside the compiled function, or run it eagerly")


def in_use(args, kwargs) -> bool:
    """Whether a call with these arguments would reach a protocol handler that tracing
    refuses (compile asks): one of a type that does not opt in, or a mode."""
    found = overloaded_args(args, kwargs)
    return modes_on() or bool(found) and not _traced_through(tuple(type(a) for a in found))


class _StateSetter:
    """Sets the protocol's state for a with block and puts the old one back after."""

    level = ENABLED

    def __enter__(self):
        self._old = current_state()
        _local.state = max(self._old, self.level)
        return self

    def __exit__(self, *exc):
        _local.state = self._old


class DisableTorchFunctionSubclass(_StateSetter):
    """torch._C.DisableTorchFunctionSubclass: arguments' __torch_function__ are not called
    (modes still are)."""
    level = SUBCLASSES_DISABLED


class DisableTorchFunction(_StateSetter):
    """torch._C.DisableTorchFunction: neither arguments' __torch_function__ nor modes."""
    level = ALL_DISABLED


# what Tensor.__torch_function__ returns as it is, not as the subclass (torch's
# get_default_nowrap_functions: a subclass's .grad is the gradient as computed): the
# armed getters of these properties, filled by arm
NOWRAP_PROPERTIES = ("grad", "_base", "_grad")
NOWRAP = set()
TENSOR_METHODS = set()      # the armed Tensor methods and property getters (torch's
                            # is_tensor_method_or_property), filled by arm


def _tensor_torch_function(cls, func, types, args=(), kwargs=None):
    """Tensor.__torch_function__, torch's default: func with subclass dispatch disabled,
    its tensors given type cls; NotImplemented when another type is not a base of cls."""
    if not all(issubclass(cls, t) for t in types):
        return NotImplemented
    foreign = torch_own_function(func)
    if foreign is not None:
        raise foreign
    with DisableTorchFunctionSubclass():
        ret = func(*args, **(kwargs or {}))
        if func in NOWRAP:
            return ret
        return convert(ret, cls)


def convert(ret, cls):
    """ret with its tensors of type cls (torch's _convert): one that is not a cls already
    becomes one with as_subclass; tuples and lists (return types too) are rebuilt."""
    if cls is Tensor:
        return ret
    if isinstance(ret, Tensor) and not isinstance(ret, cls):
        return ret.as_subclass(cls)
    if isinstance(ret, (tuple, list)):
        items = [convert(r, cls) for r in ret]
        kind = type(ret)
        make = getattr(kind, "_make", None)     # a namedtuple's from an iterable
        return make(items) if make is not None else kind(items)
    return ret


def _on_subclass(cls, **kwargs):
    """Tensor.__init_subclass__: a subclass that keeps the protocol arms it."""
    super(Tensor, cls).__init_subclass__(**kwargs)
    if not armed[0] and getattr(cls.__torch_function__, "__func__",
                                cls.__torch_function__) is not _DISABLED:
        arm()


Tensor.__torch_function__ = classmethod(_tensor_torch_function)
Tensor.__init_subclass__ = classmethod(_on_subclass)


def arm():
    """Route every public function and Tensor method through dispatch (once)."""
    if armed[0]:
        return
    armed[0] = True
    if builtins.__build_class__ is _watching_build_class:
        builtins.__build_class__ = _build_class
    from . import torch_function_arm
    torch_function_arm.arm_all(dispatch)


_build_class = builtins.__build_class__


@functools.wraps(_build_class)
def _watching_build_class(func, name, *bases, **kwargs):
    """The class statement while nothing is armed: a class of the program's own that
    defines __torch_function__ (a Tensor-like such as torch's ScalarTensor example) arms
    the protocol. Classes of tracecomp's own arm it when first used (fx's Proxy)."""
    cls = _build_class(func, name, *bases, **kwargs)
    if not armed[0] and isinstance(cls, type) and "__torch_function__" in cls.__dict__ and \
            not cls.__module__.startswith("tracecomp.") and not issubclass(cls, Tensor) \
            and _sees_tracecomp(func.__globals__):
        arm()
    return cls


def _sees_tracecomp(namespace):
    """Whether a class statement ran in a module that imported tracecomp or something of
    it (a program whose torch imports became tracecomp's). torch's own modules, and
    libraries built on torch, define Tensor-likes for torch: importing torch after
    tracecomp (as `tracecomp bench` and tests against torch do) armed the protocol, and
    every small op then paid its trampoline (~15 %)."""
    for value in list(namespace.values()):
        try:
            where = value.__name__ if type(value) is types.ModuleType else \
                getattr(value, "__module__", None)
        except Exception:       # an object whose attributes raise: not tracecomp's
            continue
        if isinstance(where, str) and where.partition(".")[0] == "tracecomp":
            return True
    return False


builtins.__build_class__ = _watching_build_class
