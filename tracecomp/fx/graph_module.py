"""GraphModule: an nn.Module whose forward is Python code generated from an FX Graph.

`GraphModule(root, graph)` copies from root (a Module, or a dict of name -> value) the
submodules, parameters and buffers that the graph's call_module / get_attr nodes name, at
the same dotted paths (so state_dict keys are the original model's), and compiles the
graph's code into forward. After editing `gm.graph`, `gm.recompile()` regenerates it.

Each GraphModule gets a class of its own (named like the traced model), as in torch, so
that setting forward on one does not change another. Deep copies get a fresh class too;
pickling saves the state and the generated code and rebuilds the graph by tracing that
code with every submodule kept as a leaf (torch's scheme), so a pickled GraphModule comes
back with an equal graph.
"""
import copy
import importlib
import linecache
from types import ModuleType

from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor
from .graph import Graph

_SOURCE_COUNT = [0]


def _fresh_class(base, name):
    return type(name, (base,), {})


def _get_attr(src, target):
    for part in target.split("."):
        src = getattr(src, part)
    return src


def _assign_attr(value, dst, target):
    """Set value on dst at dotted path target, making empty Modules for the path parts dst
    lacks (as torch does); a tensor that is not a Parameter becomes a buffer."""
    *prefix, field = target.split(".")
    for part in prefix:
        nxt = getattr(dst, part, None)
        if not isinstance(nxt, Module):
            nxt = Module()
            setattr(dst, part, nxt)
        dst = nxt
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        dst.register_buffer(field, value)
    else:
        setattr(dst, field, value)


class GraphModule(Module):
    """See the module docstring."""

    def __new__(cls, *args, **kwargs):
        # one class per instance: forward is set on the class by recompile()
        if cls.__dict__.get("_is_fresh"):
            return super().__new__(cls)
        fresh = _fresh_class(cls, cls.__name__)
        fresh._is_fresh = True
        return super().__new__(fresh)

    def __init__(self, root, graph, class_name="GraphModule"):
        super().__init__()
        type(self).__name__ = class_name
        type(self).__qualname__ = class_name
        if isinstance(root, Module):
            if hasattr(root, "training"):
                self.training = root.training
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    _assign_attr(_get_attr(root, node.target), self, node.target)
        elif isinstance(root, dict):
            for node in graph.nodes:
                if node.op in ("get_attr", "call_module"):
                    if node.target not in root:
                        raise RuntimeError(f"Node {node} referenced target {node.target} "
                                           "but that target was not provided in ``root``!")
                    _assign_attr(root[node.target], self, node.target)
        else:
            raise RuntimeError(f"Unsupported type {type(root)} passed for root!")
        self.meta = dict(getattr(root, "meta", {}) or {})
        self.graph = graph

    # --- the graph and its code -----------------------------------------------------------
    @property
    def graph(self):
        return self.__dict__["_graph"]

    @graph.setter
    def graph(self, g):
        if not isinstance(g, Graph):
            raise TypeError(f"GraphModule.graph must be an fx.Graph, got {type(g).__name__}")
        object.__setattr__(self, "_graph", g)
        g.owning_module = self
        self.recompile()

    @property
    def code(self):
        return self.__dict__["_code"]

    def recompile(self):
        """Regenerate forward from self.graph (call after editing the graph)."""
        pc = self.graph.python_code("self")
        object.__setattr__(self, "_code", pc.src)
        type(self).forward = _compile_forward(pc.src, pc.globals)
        return pc

    def print_readable(self, print_output=True):
        body = self.code.strip("\n").rstrip()
        text = f"class {type(self).__name__}(tracecomp.nn.Module):\n" + \
            "\n".join(("    " + line).rstrip() for line in body.split("\n")) + "\n"
        if print_output:
            print(text)
        return text

    def __str__(self):
        return super().__str__() + "\n\n\n" + self.code.lstrip("\n")

    # --- submodules -----------------------------------------------------------------------
    def add_submodule(self, target, m):
        """Install m at dotted path target, making empty parent Modules as needed."""
        *prefix, field = target.split(".")
        mod = self
        for part in prefix:
            nxt = getattr(mod, part, None)
            if nxt is None:
                nxt = Module()
                mod.add_module(part, nxt)
            elif not isinstance(nxt, Module):
                return False
            mod = nxt
        mod.add_module(field, m)
        return True

    def delete_submodule(self, target):
        *prefix, field = target.split(".")
        mod = self
        for part in prefix:
            mod = getattr(mod, part, None)
            if not isinstance(mod, Module):
                return False
        if field not in mod._modules:
            return False
        delattr(mod, field)
        return True

    def delete_all_unused_submodules(self):
        """Delete submodules no call_module / get_attr node reaches (their parents stay)."""
        used = set()
        for node in self.graph.nodes:
            if node.op in ("call_module", "get_attr"):
                parts = node.target.split(".")
                used.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                if node.op == "call_module":
                    sub = self.get_submodule(node.target)
                    used.update(f"{node.target}.{n}" for n, _ in sub.named_modules() if n)
        for name, _ in list(self.named_modules()):
            if name and name not in used:
                self.delete_submodule(name)

    # --- copies ---------------------------------------------------------------------------
    def __deepcopy__(self, memo):
        new = super().__deepcopy__(memo)
        fresh = _fresh_class(type(self).__bases__[0], type(self).__name__)
        fresh._is_fresh = True
        new.__class__ = fresh
        new.graph = new.__dict__["_graph"]
        return new

    def __copy__(self):
        new = type(self).__bases__[0](self, self.graph, type(self).__name__)
        new.meta = dict(self.meta)
        return new

    def __reduce__(self):
        state = {k: v for k, v in self.__getstate__().items()
                 if k not in ("_graph", "_code") and not isinstance(v, Graph)}
        pc = self.graph.python_code("self")
        modules = {k: v.__name__ for k, v in pc.globals.items() if isinstance(v, ModuleType)}
        others = {k: v for k, v in pc.globals.items() if k not in modules}
        return (_rebuild, (state, pc.src, (modules, others), type(self).__name__))


def _compile_forward(src, globals_):
    """The forward function of src; the source is registered with linecache so tracebacks
    through generated code show its lines."""
    _SOURCE_COUNT[0] += 1
    filename = f"<eval_with_key>.{_SOURCE_COUNT[0]}"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    scope = dict(globals_)
    exec(compile(src, filename, "exec"), scope)
    return scope["forward"]


def _rebuild(state, src, globals_, class_name):
    """Unpickle: the module state back, and the graph traced from the saved code (its
    globals: modules by name, other values pickled), as a GraphModule of the class name it
    had (a subclass comes back as a GraphModule, as in torch)."""
    from .tracer import Tracer
    modules, others = globals_
    globals_ = {k: importlib.import_module(v) for k, v in modules.items()} | others

    class _CodeOnly(Module):
        forward = _compile_forward(src, globals_)

    holder = _CodeOnly.__new__(_CodeOnly)
    holder.__setstate__(copy.copy(state))

    class _KeepModules(Tracer):
        def is_leaf_module(self, m, name):
            return True

    # functions the code calls by a global name (fx.wrap'd, autowrapped math) stay calls
    called = [v for v in others.values() if callable(v) and not isinstance(v, type)]
    graph = _KeepModules(autowrap_functions=called).trace(holder)
    gm = GraphModule(holder, graph, class_name)
    for k, v in state.items():
        if k not in gm.__dict__:
            object.__setattr__(gm, k, v)
    return gm
