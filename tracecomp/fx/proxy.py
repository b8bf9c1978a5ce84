"""Proxy: the stand-in value model code runs on during symbolic tracing (torch.fx.Proxy).

Every operation on a Proxy records a node through its tracer and returns a new Proxy:
operators become call_function nodes on the `operator` function (`x + y` -> operator.add),
`x.view(...)` a call_method node, `x.shape` a getattr node made only when the attribute is
used as a value (so `x.view` called at once is one call_method node). Control flow cannot
be recorded: `bool(proxy)`, iteration and `len` raise the errors torch raises, except that
unpacking (`a, b = proxy`) into a known number of names records that many getitem nodes.
"""
import dis
import inspect
import operator

from ..errors import TraceError as _TracecompTraceError
from ..overrides import is_tensor_method_or_property
from ..torch_function import arm as _arm
from ..torch_function import armed as _armed


class TraceError(_TracecompTraceError, ValueError):
    """Model code did something symbolic tracing cannot record (torch.fx.proxy.TraceError,
    a ValueError there; also tracecomp's TraceError)."""


class Proxy:
    """A traced value: `node` is the graph node that computes it."""

    def __init__(self, node, tracer=None):
        if tracer is None:
            from .tracer import GraphAppendingTracer
            tracer = GraphAppendingTracer(node.graph)
        self.tracer, self.node = tracer, node
        if not _armed[0]:
            _arm()      # tracecomp's functions hand Proxies to __torch_function__ below

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """A tracecomp function or Tensor method called with a Proxy among its arguments,
        in a trace or not: a call_method node for a Tensor method (`buffer + proxy` ->
        add), else a call_function node on the function (torch.fx's)."""
        kwargs = kwargs or {}
        tracers = {}
        _walk((args, kwargs), lambda a: tracers.setdefault(a.tracer) if isinstance(a, Proxy)
              else None)
        if len(tracers) > 1:
            raise RuntimeError(f"Found multiple different tracers {list(tracers)} while "
                               f"trying to trace operations {func}")
        tracer = next(iter(tracers))
        if is_tensor_method_or_property(func):
            return tracer.create_proxy("call_method", func.__name__, args, kwargs)
        return tracer.create_proxy("call_function", func, args, kwargs)

    def __repr__(self):
        return f"Proxy({self.node.name})"

    def __getattr__(self, k):
        if k.startswith("__") and k.endswith("__"):
            raise AttributeError(k)     # copy/pickle probes must not become graph nodes
        return Attribute(self, k)

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, d):
        self.__dict__ = d

    def __call__(self, *args, **kwargs):
        return self.tracer.create_proxy("call_method", "__call__", (self, *args), kwargs)

    def __iter__(self):
        frame = inspect.currentframe().f_back
        for inst in dis.get_instructions(frame.f_code):
            if inst.offset == frame.f_lasti and inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
        return self.tracer.iter(self)

    def __bool__(self):
        return self.tracer.to_bool(self)

    def __len__(self):
        raise RuntimeError("'len' is not supported in symbolic tracing by default. If you "
                           "want this call to be recorded, please call tracecomp.fx.wrap("
                           "'len') at module scope")

    def keys(self):
        return self.tracer.keys(self)


def _walk(value, visit):
    """visit every leaf of nested tuples, lists and dicts."""
    if isinstance(value, (tuple, list)):
        for v in value:
            _walk(v, visit)
    elif isinstance(value, dict):
        for v in value.values():
            _walk(v, visit)
    else:
        visit(value)


class Attribute(Proxy):
    """`proxy.attr`: a call_method when called, a getattr node when used as a value."""

    def __init__(self, root, attr):
        self.root, self.attr, self.tracer = root, attr, root.tracer
        self._node = None

    @property
    def node(self):
        if self._node is None:
            self._node = self.tracer.create_proxy("call_function", getattr,
                                                  (self.root, self.attr), {}).node
        return self._node

    def __call__(self, *args, **kwargs):
        return self.tracer.create_proxy("call_method", self.attr, (self.root, *args), kwargs)


class ParameterProxy(Proxy):
    """A parameter's proxy under Tracer(param_shapes_constant=True): shape, size(), dim(),
    ndim, numel() and nelement() are the parameter's own values, not graph nodes."""

    def __init__(self, tracer, node, name, param):
        super().__init__(node, tracer)
        self.name, self.param = name, param

    def __repr__(self):
        return f"ParameterProxy({self.name})"

    @property
    def shape(self):
        return self.param.shape

    def size(self, dim=None):
        return self.param.size() if dim is None else self.param.size(dim)

    def dim(self):
        return self.param.dim()

    @property
    def ndim(self):
        return self.param.ndim

    def numel(self):
        return self.param.numel()

    def nelement(self):
        return self.param.numel()


# operator functions that Proxy's dunder methods record (torch's list); the reflectable
# ones also get __r<name>__ with the operands swapped back into order
REFLECTABLE = ("add", "sub", "mul", "floordiv", "truediv", "mod", "pow", "lshift",
               "rshift", "and_", "or_", "xor", "getitem", "matmul")
MAGIC = REFLECTABLE + ("eq", "ne", "lt", "gt", "le", "ge", "pos", "neg", "invert")


def _define(method):
    target = getattr(operator, method)

    def impl(*args, **kwargs):
        return args[0].tracer.create_proxy("call_function", target, args, kwargs)

    impl.__name__ = method
    setattr(Proxy, f"__{method.strip('_')}__", impl)


def _define_reflected(method):
    target = getattr(operator, method)

    def impl(self, lhs):
        return self.tracer.create_proxy("call_function", target, (lhs, self), {})

    impl.__name__ = f"__r{method.strip('_')}__"
    setattr(Proxy, impl.__name__, impl)


for _m in MAGIC:
    _define(_m)
for _m in REFLECTABLE:
    if _m != "getitem":
        _define_reflected(_m)
# `==` is recorded, so proxies compare by identity in dicts and sets
Proxy.__hash__ = object.__hash__


def __getattr__(name):
    """torch.fx.proxy.GraphAppendingTracer, defined in tracer.py (a Tracer: it imports this
    module), read here lazily where programs name it."""
    if name == "GraphAppendingTracer":
        from .tracer import GraphAppendingTracer
        return GraphAppendingTracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
