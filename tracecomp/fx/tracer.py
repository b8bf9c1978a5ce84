"""Tracer and symbolic_trace: run a module's forward on Proxies and record an FX Graph.

The tracer makes one placeholder per forward argument (a `concrete_args` value is passed
in as itself, with a placeholder and an equality assertion in its place, as torch does),
then calls forward with the patching of patching.py in force (fx.wrap's and autowrap
functions; tracecomp's own functions record Proxies through __torch_function__, proxy.py).
Calls of submodules go
through `call_module`: a leaf module (tracecomp.nn's own layers, not Sequential; override
`is_leaf_module` to choose) becomes one call_module node, any other runs its forward so its
insides are recorded. A Parameter read off a module becomes a get_attr node; any other
tensor an operation meets is found among the module's attributes (get_attr) or kept on
the root as `_tensor_constant<n>`.
"""
import enum
import inspect
import math
import types
from collections import OrderedDict

from ..dtypes import DType
from ..nn.module import Module
from ..nn.modules.container import Sequential
from ..nn.parameter import Parameter
from ..tensor import Tensor, device
from .graph import Graph
from .patching import Patcher
from .proxy import Attribute, ParameterProxy, Proxy, TraceError

# fx.wrap registrations: (id of the caller's globals, function name) -> those globals (a
# GraphModule's code registers its wrapped functions each time it is compiled)
_WRAPPED = {}


def wrap(fn_or_name):
    """Record calls of a module-level function as call_function nodes instead of tracing
    through it; call at module scope with the function or its name."""
    caller = inspect.currentframe().f_back
    if caller.f_code.co_name != "<module>":
        raise NotImplementedError("wrap must be called at the top level of a module")
    name = fn_or_name if isinstance(fn_or_name, str) else fn_or_name.__code__.co_name
    _WRAPPED[id(caller.f_globals), name] = caller.f_globals
    return fn_or_name


class PH:
    """A concrete_args value that asks for a placeholder in its place (torch.fx.PH)."""


class Tracer:
    """Turns a module or function into a Graph; subclass it to change what is a leaf."""

    def __init__(self, autowrap_modules=(math,), autowrap_functions=(),
                 param_shapes_constant=False):
        # functions recorded (not run) where a forward imported them by name: the public
        # functions of autowrap_modules (`from math import sqrt`) and autowrap_functions
        self.autowrap = [f for m in autowrap_modules for k, f in vars(m).items()
                         if callable(f) and not k.startswith("_")] + list(autowrap_functions)
        # ... and the modules' own functions, for forwards that call math.sqrt
        self.autowrap_modules = tuple(autowrap_modules)
        self.param_shapes_constant = param_shapes_constant
        self.graph = None
        self.root = None
        self.module_stack = OrderedDict()

    # --- what a module call becomes -------------------------------------------------------
    def is_leaf_module(self, m, module_qualified_name):
        return type(m).__module__.startswith("tracecomp.nn") and not isinstance(m, Sequential)

    def path_of_module(self, mod):
        path = self._module_paths.get(id(mod))
        if path is None:
            raise NameError("module is not installed as a submodule")
        return path

    def call_module(self, m, forward, args, kwargs):
        path = self.path_of_module(m)
        # nodes made inside record the modules they came from (node.meta['nn_module_stack'])
        self.module_stack[path] = (path, type(m))
        try:
            if not self.is_leaf_module(m, path):
                return forward(*args, **kwargs)
            return self.create_proxy("call_module", path, args, kwargs)
        finally:
            self.module_stack.pop(path, None)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if not isinstance(attr_val, Parameter):
            return attr_val
        for name, p in self.root.named_parameters():
            if p is attr_val:
                if name not in parameter_proxy_cache:
                    # param_shapes_constant: the proxy answers shape questions with the
                    # parameter's own (no nodes), so code may branch on them
                    factory = (lambda node, p=p, n=name: ParameterProxy(self, node, n, p)) \
                        if self.param_shapes_constant else None
                    parameter_proxy_cache[name] = self.create_proxy(
                        "get_attr", name, (), {}, proxy_factory_fn=factory)
                return parameter_proxy_cache[name]
        return attr_val

    # --- nodes and arguments --------------------------------------------------------------
    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        return self.graph.create_node(kind, target, args, kwargs, name, type_expr)

    def proxy(self, node):
        return Proxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None,
                     proxy_factory_fn=None):
        node = self.create_node(kind, target, self.create_arg(args), self.create_arg(kwargs),
                                name, type_expr)
        if self.module_stack:
            node.meta["nn_module_stack"] = OrderedDict(self.module_stack)
        return self.proxy(node) if proxy_factory_fn is None else proxy_factory_fn(node)

    def create_arg(self, a):
        """a as a node argument: proxies become their nodes, tensors get_attr nodes."""
        if isinstance(a, Proxy):
            return a.node
        if isinstance(a, tuple):
            items = tuple(self.create_arg(x) for x in a)
            return type(a)(*items) if hasattr(a, "_fields") else items
        if isinstance(a, list):
            return [self.create_arg(x) for x in a]
        if isinstance(a, dict):
            return {k: self.create_arg(v) for k, v in a.items()}
        if isinstance(a, slice):
            return slice(self.create_arg(a.start), self.create_arg(a.stop),
                         self.create_arg(a.step))
        if isinstance(a, Parameter):
            for name, p in self.root.named_parameters():
                if p is a:
                    return self.create_node("get_attr", name, (), {})
            raise NameError("parameter is not a member of this module")
        if isinstance(a, Tensor):
            return self._tensor_arg(a)
        if a is None or a is Ellipsis or isinstance(a, (str, int, float, bool, complex,
                                                        DType, device, enum.Enum)):
            return a
        if callable(a) and not isinstance(a, Module):
            return a
        raise NotImplementedError(f"argument of type: {type(a)}")

    def _tensor_arg(self, a):
        path = self._tensor_paths.get(id(a))
        if path is None:
            i = 0
            while hasattr(self.root, f"_tensor_constant{i}"):
                i += 1
            path = f"_tensor_constant{i}"
            setattr(self.root, path, a)
            self._tensor_paths[id(a)] = path
        return self.create_node("get_attr", path, (), {})

    # --- control flow: what a Proxy cannot do ---------------------------------------------
    def to_bool(self, obj):
        raise TraceError("symbolically traced variables cannot be used as inputs to "
                         "control flow")

    def iter(self, obj):
        raise TraceError("Proxy object cannot be iterated. This can be attempted when the "
                         "Proxy is used in a loop or as a *args or **kwargs function "
                         "argument. See the torch.fx docs for a more detailed explanation "
                         "of what types of control flow can be traced, and check out the "
                         "Proxy docstring for help troubleshooting Proxy iteration errors")

    def keys(self, obj):
        return Attribute(obj, "keys")()

    # --- the trace ------------------------------------------------------------------------
    def trace(self, root, concrete_args=None):
        """The Graph of root's forward (root a Module) or of root (a function)."""
        if isinstance(root, Module):
            self.root, fn = root, type(root).forward
        else:
            self.root, fn = Module(), root
        self.graph = Graph(tracer_cls=type(self))
        self._module_paths = {id(m): name for name, m in self.root.named_modules()}
        self._tensor_paths = _tensor_attributes(self.root)
        patcher = Patcher(self.autowrap)
        try:
            call, args = self._placeholders(fn, isinstance(root, Module), concrete_args or {})
            self._install(patcher, fn)
            result = call(self.root, *args) if isinstance(root, Module) else call(*args)
            self.create_node("output", "output", (self.create_arg(result),), {},
                             type_expr=fn.__annotations__.get("return"))
        finally:
            patcher.restore()
        return self.graph

    def _install(self, patcher, fn):
        wrapped = {}
        for (key, name), g in _WRAPPED.items():
            wrapped.setdefault(key, (g, []))[1].append(name)
        for g, names in wrapped.values():
            patcher.patch_globals(g, names)
        patcher.patch_globals(fn.__globals__)
        for m in self.autowrap_modules:
            patcher.patch_globals(vars(m))
        tracer, orig_call, orig_getattr = self, Module.__call__, Module.__getattr__
        cache = {}

        def module_call(mod, *args, **kwargs):
            forward = getattr(type(mod), "forward", None)
            if forward is not None and hasattr(forward, "__globals__"):
                patcher.patch_globals(forward.__globals__)
            return tracer.call_module(mod, lambda *a, **k: orig_call(mod, *a, **k),
                                      args, kwargs)

        def module_getattr(mod, attr):
            return tracer.getattr(attr, orig_getattr(mod, attr), cache)

        patcher.set(Module, "__call__", module_call)
        patcher.set(Module, "__getattr__", module_getattr)

    def _placeholders(self, fn, is_module, concrete_args):
        """One placeholder (or concrete value) per argument of fn, in the order of its code's
        variables: positional, keyword-only, *args, **kwargs (torch's order); and fn made
        to take them all positionally, so `args` inside is the *args Proxy itself."""
        sig = inspect.signature(fn)
        co = fn.__code__
        n_var = bool(co.co_flags & inspect.CO_VARARGS) + \
            bool(co.co_flags & inspect.CO_VARKEYWORDS)
        names = co.co_varnames[:co.co_argcount + co.co_kwonlyargcount + n_var]
        names = names[1:] if is_module else names
        unknown = set(concrete_args) - set(names)
        if unknown:
            raise TraceError(f"concrete_args names {sorted(unknown)}, which are not "
                             f"arguments of {fn.__qualname__}{sig}")
        args = []
        for name in names:
            p = sig.parameters[name]
            if name in concrete_args:
                args.append(self._concrete(p, concrete_args[name]))
                continue
            prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
            default = () if p.default is p.empty else (p.default,)
            args.append(self.create_proxy("placeholder", prefix + name, default, {},
                                          type_expr=_annotation(p)))
        if n_var or co.co_kwonlyargcount:
            flat = co.replace(co_argcount=len(co.co_varnames[:co.co_argcount +
                                                            co.co_kwonlyargcount + n_var]),
                              co_kwonlyargcount=0,
                              co_flags=co.co_flags & ~(inspect.CO_VARARGS |
                                                       inspect.CO_VARKEYWORDS))
            fn = types.FunctionType(flat, fn.__globals__, fn.__name__, None, fn.__closure__)
        return fn, args

    def _concrete(self, param, value):
        """A concrete_args value: the value itself goes into forward; a placeholder named
        <name>_1 stays in the signature, guarded by an assertion that it equals the value."""
        default = () if param.default is param.empty else (param.default,)
        ph = self.create_proxy("placeholder", f"{param.name}_1", default, {})
        if isinstance(value, PH) or value is PH:
            return ph
        from .. import _assert
        if value is None:
            self.create_proxy("call_function", _assert_is_none, (
                ph, f"{param.name} has been specialized to have value None but got "
                    "another value"), {})
        elif type(value) in (bool, int, float, str):
            self.create_proxy("call_function", _assert, (
                ph == value, f"{param.name} has been specialized to have value {value} "
                             "but got another value"), {})
        return value


def _assert_is_none(value, msg):
    assert value is None, msg


def _annotation(p):
    return None if p.annotation is p.empty else p.annotation


def _tensor_attributes(root):
    """{id(tensor): its attribute path} for every tensor a module of root holds."""
    found = {}
    for prefix, m in root.named_modules():
        dot = f"{prefix}." if prefix else ""
        for k, v in list(vars(m).items()) + list(m._buffers.items()) + \
                list(m._parameters.items()):
            if isinstance(v, Tensor):
                found.setdefault(id(v), dot + k)
    return found


class GraphAppendingTracer(Tracer):
    """The tracer of a Proxy made over an existing graph (fx.Proxy(node)): appends to it."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.root = Module()
        self._tensor_paths = {}
        self._module_paths = {}


def symbolic_trace(root, concrete_args=None):
    """A GraphModule whose forward is root's (a Module or a function), traced on Proxies."""
    from .graph_module import GraphModule
    tracer = Tracer()
    graph = tracer.trace(root, concrete_args)
    name = type(root).__name__ if isinstance(root, Module) else root.__name__
    return GraphModule(tracer.root, graph, name)
