"""custom_op and CustomOpDef: a Python function made an operator, with its registrations.

Calling the operator runs its kernel (the function, or a per-device one from
register_kernel) on its tensor inputs without their history and checks that no output
aliases an input, as torch does. With grad mode on and an input that requires grad, the
call goes through an autograd.Function generated for the operator: its backward is the
formula given to register_autograd, or, with none, torch's error when a backward reaches
it. The fake implementation (register_fake) only gives output metadata; opcheck compares
it with the kernel's outputs.
"""
import inspect

from .. import context, grad_mode
from ..autograd.function import Function
from ..tensor import Tensor

_OPS = {}      # "namespace::name" -> CustomOpDef, for the registrations that take a name


def _qualname(name):
    namespace, sep, opname = name.partition("::")
    if not sep or not namespace or not opname.isidentifier():
        raise ValueError(f"custom_op: the operator's name must be 'namespace::name' with a "
                         f"Python identifier after '::' (e.g. 'mylib::crop'); got {name!r}")
    return namespace, opname


def _check_annotations(fn):
    """torch infers a schema from the annotations: every parameter and the return need one."""
    sig = inspect.signature(fn)
    for param in sig.parameters.values():
        if param.annotation is inspect.Parameter.empty:
            raise ValueError(f"infer_schema(func): Parameter {param.name} must have a type "
                             f"annotation. Got func with signature {sig})")
    if sig.return_annotation is inspect.Signature.empty:
        raise ValueError(f"infer_schema(func): No return type annotation was provided. "
                         f"Please add one. Got func with signature {sig})")
    return sig


def _mutated(mutates_args, sig, qualname):
    if mutates_args == "unknown":
        return frozenset(sig.parameters)
    if isinstance(mutates_args, str):
        raise ValueError(f"custom_op({qualname!r}): mutates_args must be 'unknown' or an "
                         f"iterable of argument names, e.g. ('out',); got the string "
                         f"{mutates_args!r}")
    names = frozenset(mutates_args)
    unknown = sorted(names - set(sig.parameters))
    if unknown:
        raise ValueError(f"custom_op({qualname!r}): mutates_args names {unknown}, which are "
                         f"not arguments of the function {tuple(sig.parameters)}")
    return names


def _tensors(values):
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors(v)


def _plain(value):
    """value with tensors stripped of their history (same data, same version counter), so
    the kernel may call .numpy() on an input that requires grad, as torch's kernels may."""
    if isinstance(value, Tensor):
        return Tensor._make(value._data, False, None, value._vc)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class CustomOpDef:
    """What @custom_op returns: call it like the function; register the rest on it."""

    def __init__(self, namespace, name, fn, mutated):
        self._namespace, self._name = namespace, name
        self._init_fn, self._signature, self._mutated = fn, inspect.signature(fn), mutated
        self._kernels = {}                 # device type -> kernel (register_kernel)
        self._abstract_fn = None           # register_fake
        self._backward_fn = self._setup_context_fn = None
        self._function = _generated_function(self)
        self.__name__, self.__doc__ = name, fn.__doc__

    def __repr__(self):
        return f"<CustomOpDef({self._namespace}::{self._name})>"

    @property
    def _qualname(self):
        return f"{self._namespace}::{self._name}"

    def register_fake(self, fn):
        """fn(*args) gives outputs with the right shapes and dtypes (opcheck checks it)."""
        self._abstract_fn = fn
        return fn

    @staticmethod
    def _no_outputs(*args, **kwargs):
        """The fake of an operator annotated to return None."""

    def register_kernel(self, device_types, fn=None):
        """fn runs instead of the function on inputs on these devices ('cpu', 'cuda')."""
        def register(fn):
            for device in [device_types] if isinstance(device_types, str) else device_types:
                self._kernels[device] = fn
            return fn
        return register if fn is None else register(fn)

    def register_autograd(self, backward, /, *, setup_context=None):
        """backward(ctx, *grads) gives one gradient (or None) per positional input;
        setup_context(ctx, inputs, output) saves what it needs."""
        self._backward_fn, self._setup_context_fn = backward, setup_context

    def __call__(self, *args, **kwargs):
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        inputs = tuple(bound.args)
        if grad_mode.state.enabled and any(t._requires_grad for t in _tensors(inputs)):
            return self._function.apply(*inputs, bound.kwargs)
        return self._run(inputs, bound.kwargs)

    def _run(self, inputs, keyword_only):
        devices = {t.device.type for t in _tensors(inputs)}
        kernel = next((self._kernels[d] for d in devices if d in self._kernels), self._init_fn)
        # while tracing, the arguments it writes go as they are: there a tensor's value is
        # rebound, not written, so an alias's update would not reach the caller's tensor
        # (eagerly the alias writes the same array)
        mutated = self._mutated if context.current() is not None else frozenset()
        names = list(self._signature.parameters)
        args = [v if name in mutated else _plain(v) for name, v in zip(names, inputs)]
        kwargs = {k: v if k in mutated else _plain(v) for k, v in keyword_only.items()}
        with grad_mode.no_grad():
            output = kernel(*args, **kwargs)
        self._check_no_alias(inputs, output)
        return output

    def _check_no_alias(self, inputs, output):
        given = {id(t._data) for t in _tensors(inputs)}
        if any(id(t._data) in given for t in _tensors([output])):
            raise RuntimeError(f"{self._name} (with implementation in {self._init_fn.__module__})"
                               f": The output of this custom operator (1) must not also be an "
                               f"input to this custom operator and (2) may not alias any inputs "
                               f"to this custom operator or other returns. The most common way "
                               f"to trigger this error is if we have y = custom_op(x) and y and "
                               f"x are the same Tensor. Please instead return a clone of the "
                               f"offending output tensor(s) (e.g. return x.clone()) or refactor "
                               f"the custom operator to not return y.")


def _generated_function(op):
    """The autograd.Function a differentiable call of `op` goes through: its last input is
    the dict of keyword-only arguments, which gets no gradient."""

    class Generated(Function):
        @staticmethod
        def forward(*args):
            return op._run(args[:-1], args[-1])

        @staticmethod
        def setup_context(ctx, inputs, output):
            if op._setup_context_fn is None:
                return
            if len(inspect.signature(op._setup_context_fn).parameters) == 4:
                op._setup_context_fn(ctx, inputs[:-1], inputs[-1], output)
            else:
                op._setup_context_fn(ctx, inputs[:-1], output)

        @staticmethod
        def backward(ctx, *grads):
            if op._backward_fn is None:
                raise RuntimeError(f"Trying to backward through {op._namespace}.{op._name}"
                                   f".default but no autograd formula was registered. Please "
                                   f"use register_autograd to add one.")
            result = op._backward_fn(ctx, *grads)
            return (*(result if isinstance(result, tuple) else (result,)), None)

    Generated.__name__ = f"GeneratedBackwardFor_{op._namespace}_{op._name}_default"
    return Generated


def custom_op(name, fn=None, /, *, mutates_args, device_types=None, schema=None, tags=None):
    """Make fn (annotated: each parameter and the return) the operator `namespace::name`.
    mutates_args names the arguments fn writes in place ("unknown": any of them)."""
    namespace, opname = _qualname(name)

    def wrap(fn):
        op = CustomOpDef(namespace, opname, fn, _mutated(mutates_args, _check_annotations(fn),
                                                         name))
        if device_types is not None:
            op.register_kernel(device_types, fn)
        _OPS[name] = op
        return op
    return wrap if fn is None else wrap(fn)


def get_op(qualname):
    """The CustomOpDef named 'namespace::name'."""
    if qualname not in _OPS:
        raise ValueError(f"Could not find the operator {qualname}. Please make sure you have "
                         f"already registered the operator with custom_op; known: "
                         f"{sorted(_OPS) or 'none'}")
    return _OPS[qualname]


def _op(op):
    return get_op(op) if isinstance(op, str) else op


def register_fake(op, func=None, /, *, lib=None, _stacklevel=1):
    """torch.library.register_fake(op or 'ns::name', fn), or as a decorator."""
    def register(func):
        return _op(op).register_fake(func)
    return register if func is None else register(func)


def register_autograd(op, backward, /, *, setup_context=None, lib=None):
    _op(op).register_autograd(backward, setup_context=setup_context)


def register_kernel(op, device_types, func=None, /, *, lib=None):
    return _op(op).register_kernel(device_types, func)
