"""What symbolic tracing swaps in while it runs, and puts back after (torch.fx's _Patcher).

tracecomp's functions are plain Python functions (torch reaches its own through
__torch_function__, which tracecomp does not have), so for the length of a trace the public
functions of tracecomp, tracecomp.nn.functional, .special, .linalg and .fft are replaced by
wrappers that record a call_function node (on the original function) when an argument is a
Proxy and otherwise call through. The same wrappers replace those functions where model
code imported them by name (`from tracecomp.nn.functional import relu`): in the globals of
each forward that runs. A real tensor's operators and methods record a call_method node
when an operand is a Proxy (`buffer + proxy` -> add), as torch's do.
"""
import builtins
import functools
import importlib
import types

from . import public_names
from .proxy import Proxy
from .public_names import NAMESPACES

_originals = None   # {id(fn): (fn, wrapper)} once built
active = 0          # how many patchings are in force (a trace, a Transformer.transform)


def find_proxy(a):
    """The first Proxy inside a (nested tuples, lists, dicts), or None."""
    if isinstance(a, Proxy):
        return a
    if isinstance(a, (tuple, list)):
        items = a
    elif isinstance(a, dict):
        items = a.values()
    else:
        return None
    for x in items:
        found = find_proxy(x)
        if found is not None:
            return found
    return None


class recording:  # noqa: N801  (used like a decorator: recording(fn))
    """fn, recording a call_function node on fn when any argument is a Proxy. It compares
    and hashes equal to fn, so a Transformer's `if target == tracecomp.add` still holds
    while tracecomp.add is this wrapper. `wrapped`: fn is an fx.wrap or autowrap function,
    whose nodes torch marks meta['is_wrapped'] (the generated code re-registers them)."""

    __slots__ = ("__wrapped__", "wrapped")

    def __init__(self, fn, wrapped=False):
        self.__wrapped__, self.wrapped = fn, wrapped

    def __call__(self, *args, **kwargs):
        proxy = find_proxy(args)
        if proxy is None:
            proxy = find_proxy(kwargs)
        if proxy is not None:
            out = proxy.tracer.create_proxy("call_function", self.__wrapped__, args, kwargs)
            if self.wrapped:
                out.node.meta["is_wrapped"] = True
            return out
        return self.__wrapped__(*args, **kwargs)

    def __eq__(self, other):
        return other is self.__wrapped__ or other is self

    def __hash__(self):
        return hash(self.__wrapped__)

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)

    def __repr__(self):
        return repr(self.__wrapped__)


def _public_functions():
    """{id(fn): (fn, its recording wrapper)} for every public tracecomp function."""
    global _originals
    if _originals is None:
        _originals = {key: (fn, recording(fn)) for key, (_, fn) in public_names.table().items()}
    return _originals


class Patcher:
    """Replacements made during one trace; `restore` undoes them in reverse order."""

    def __init__(self, autowrap=()):
        self._undo = []
        self._seen_globals = set()
        # functions (by id) recorded wherever a forward's globals name them (math's)
        self._autowrap = {id(f): f for f in autowrap}

    def set(self, owner, name, value, use_dict=False):
        if use_dict:
            old = owner.get(name, _MISSING)
            self._undo.append((owner, name, old, True))
            owner[name] = value
        else:
            old = owner.__dict__.get(name, _MISSING)
            self._undo.append((owner, name, old, False))
            setattr(owner, name, value)

    def patch_namespaces(self):
        global active
        active += 1
        self._counted = True
        table = _public_functions()
        for ns in NAMESPACES:
            module = importlib.import_module(ns)
            for name, fn in list(vars(module).items()):
                hit = table.get(id(fn))
                if hit is not None and hit[0] is fn:
                    self.set(module, name, hit[1])

    def patch_globals(self, fn_globals, extra=()):
        """Wrap, in one module's globals, the tracecomp functions and autowrap functions
        imported by name, and the names in `extra` (registered with fx.wrap)."""
        for name in extra:
            value = fn_globals.get(name, getattr(builtins, name, None))
            if value is not None and not isinstance(value, recording):
                self.set(fn_globals, name, recording(value, wrapped=True), use_dict=True)
        if id(fn_globals) in self._seen_globals:
            return
        self._seen_globals.add(id(fn_globals))
        table = _public_functions()
        for name, value in list(fn_globals.items()):
            hit = table.get(id(value))
            if hit is not None and hit[0] is value:
                self.set(fn_globals, name, hit[1], use_dict=True)
            elif self._autowrap.get(id(value)) is value:
                self.set(fn_globals, name, recording(value, wrapped=True), use_dict=True)

    def patch_tensor_operators(self, tensor_cls):
        """A real tensor meeting a Proxy records the method call torch records: its
        operators (`buffer + proxy` -> call_method add, `t[proxy]` -> __getitem__) and its
        methods (`buffer.add(proxy)`)."""
        for attr, recorded_as in _tensor_methods(tensor_cls):
            self.set(tensor_cls, attr, _cached_recording(attr, recorded_as,
                                                         getattr(tensor_cls, attr)))

    def restore(self):
        global active
        if getattr(self, "_counted", False):
            active -= 1
            self._counted = False
        while self._undo:
            owner, name, old, use_dict = self._undo.pop()
            if old is _MISSING:
                if use_dict:
                    owner.pop(name, None)
                else:
                    delattr(owner, name)
            elif use_dict:
                owner[name] = old
            else:
                setattr(owner, name, old)


_MISSING = object()

# tensor <operator> proxy: the method torch records for it (its Tensor method's name)
TENSOR_OPERATOR_METHODS = {
    "add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "floordiv": "__floordiv__",
    "mod": "remainder", "pow": "pow", "matmul": "matmul", "and_": "__and__", "or_": "__or__",
    "xor": "__xor__", "lshift": "__lshift__", "rshift": "__rshift__", "eq": "eq", "ne": "ne",
    "lt": "lt", "le": "le", "gt": "gt", "ge": "ge", "getitem": "__getitem__"}


def _tensor_methods(tensor_cls):
    """(attribute, method name torch records) for each Tensor operator and public method."""
    found = [(f"__{op.strip('_')}__", method) for op, method in TENSOR_OPERATOR_METHODS.items()
             if hasattr(tensor_cls, f"__{op.strip('_')}__")]
    found += [(name, name) for name, fn in vars(tensor_cls).items()
              if isinstance(fn, types.FunctionType) and not name.startswith("_")]
    return found


_method_wrappers = {}   # attribute -> (original, wrapper): made once, not on every trace


def _cached_recording(attr, recorded_as, fn):
    hit = _method_wrappers.get(attr)
    if hit is None or hit[0] is not fn:
        hit = _method_wrappers[attr] = (fn, _method_recording(recorded_as, fn))
    return hit[1]


def _method_recording(name, fn):
    """A Tensor method that records a call_method node when an argument is a Proxy."""
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        proxy = find_proxy(args)
        if proxy is None:
            proxy = find_proxy(kwargs)
        if proxy is not None:
            return proxy.tracer.create_proxy("call_method", name, (self, *args), kwargs)
        return fn(self, *args, **kwargs)
    return method
