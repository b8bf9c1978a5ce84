"""torch.overrides: the public face of __torch_function__ (torch_function.py runs it).

has_torch_function* and handle_torch_function let a function of the program's own take
part (torch's `if has_torch_function(args): return handle_torch_function(f, args, ...)`);
TorchFunctionMode sees every tracecomp function called while it is entered; the lists of
overridable functions are read off what torch_function_arm.py arms.
"""
import contextlib
import functools

from . import torch_function as tf
from .tensor import Tensor
from .torch_function import _disabled_torch_function_impl  # noqa: F401  (torch's name)

__all__ = ["get_ignored_functions", "get_overridable_functions", "handle_torch_function",
           "has_torch_function", "has_torch_function_unary", "has_torch_function_variadic",
           "is_tensor_like", "is_tensor_method_or_property", "wrap_torch_function",
           "enable_reentrant_dispatch", "TorchFunctionMode", "BaseTorchFunctionMode",
           "resolve_name"]


def has_torch_function(relevant_args) -> bool:
    """Whether a call with these arguments goes to __torch_function__: one of them (or of
    the lists among them) overrides it, or a mode is entered."""
    tf.arm()        # a Tensor-like class defined before tracecomp was imported is one
    return bool(tf.overloaded_args(tuple(relevant_args))) or _mode_on()


def has_torch_function_unary(arg) -> bool:
    return has_torch_function((arg,))


def has_torch_function_variadic(*args) -> bool:
    return has_torch_function(args)


def handle_torch_function(public_api, relevant_args, *args, **kwargs):
    """torch's: call the modes' and relevant_args' __torch_function__ for public_api."""
    tf.arm()
    return tf.handle(public_api, tf.overloaded_args(tuple(relevant_args)), args, kwargs,
                     python_api=True)


def wrap_torch_function(dispatcher):
    """Decorator: the function goes to __torch_function__ when dispatcher(*args, **kwargs)
    (the relevant arguments) has an overriding one."""
    def wrap(func):
        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            relevant = dispatcher(*args, **kwargs)
            if has_torch_function(relevant):
                return handle_torch_function(wrapped, relevant, *args, **kwargs)
            return func(*args, **kwargs)
        return wrapped
    return wrap


def is_tensor_like(inp) -> bool:
    """A Tensor (of any subclass), or an object whose type has __torch_function__."""
    return type(inp) is Tensor or hasattr(inp, "__torch_function__")


def is_tensor_method_or_property(func) -> bool:
    """Whether func is one of Tensor's methods or property getters (as passed to
    __torch_function__), not a function of a namespace."""
    tf.arm()
    return func in tf.TENSOR_METHODS or getattr(func, "__name__", None) == "__get__"


def get_overridable_functions():
    """{namespace: [its functions that dispatch]} (Tensor: its methods and getters)."""
    tf.arm()
    import importlib

    from . import torch_function_arm
    from .fx import public_names
    found = {}
    for dotted, fn in public_names.table().values():
        if id(fn) in torch_function_arm.BODIES:
            namespace = importlib.import_module(dotted.rsplit(".", 1)[0])
            found.setdefault(namespace, []).append(fn)
    found[Tensor] = sorted(tf.TENSOR_METHODS, key=lambda f: getattr(f, "__qualname__", ""))
    return found


def get_ignored_functions():
    """The public functions and Tensor methods that never dispatch."""
    tf.arm()
    from . import torch_function_arm
    from .fx import public_names
    ignored = {fn for dotted, fn in public_names.table().values()
               if id(fn) not in torch_function_arm.BODIES}
    ignored.update(getattr(Tensor, name) for name in torch_function_arm.NOT_DISPATCHED
                   if name in vars(Tensor))
    return ignored


def resolve_name(f):
    """The dotted name of an overridable function (torch.overrides.resolve_name)."""
    if f in tf.TENSOR_METHODS:
        return f"tracecomp.Tensor.{f.__name__}"
    from .fx import public_names
    return public_names.public_name(f)


@contextlib.contextmanager
def enable_reentrant_dispatch():
    """torch's context for __torch_dispatch__ code calling back into the dispatcher; the
    protocol here keeps no per-dispatch state to restore, so it changes nothing."""
    yield


def _mode_on():
    return tf.modes_on()


class TorchFunctionMode:
    """A context manager whose __torch_function__(func, types, args, kwargs) is called for
    every tracecomp function and Tensor method while it is entered (innermost first; a
    mode is off the stack while its own __torch_function__ runs, so calls it makes go on
    to the modes below and to the arguments' types)."""

    def __init__(self):
        pass

    def __torch_function__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError

    def __enter__(self):
        tf.arm()
        tf.push_mode(self)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        tf.pop_mode(self)

    @classmethod
    def push(cls, *args, **kwargs):
        return cls(*args, **kwargs)


class BaseTorchFunctionMode(TorchFunctionMode):
    """A mode that calls each function as it is (subclass it to watch calls)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _get_current_function_mode_stack():
    return list(tf.thread_modes())


def _get_current_function_mode():
    stack = tf.thread_modes()
    return stack[-1] if stack else None
