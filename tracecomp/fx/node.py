"""Node: one instruction of an FX graph (torch.fx.Node), and the helpers that walk arguments.

A node has an `op` from a closed set (OPCODES), a `target` whose meaning depends on the op
(the placeholder's argument name, the attribute path of get_attr / call_module, the callable
of call_function, the method name of call_method, 'output' for output), `args` / `kwargs`
that may hold other nodes inside lists, tuples, dicts and slices, and a unique `name`.

Nodes of a graph form a doubly linked list (`prev` / `next`, with the graph's root sentinel
closing the ring), so insertion and erasure anywhere are O(1). Each node keeps its users
(nodes that read it, in insertion order, like torch's dict) so `replace_all_uses_with` and
dead-code elimination need not scan the graph.
"""
import builtins
import importlib
import operator
from collections.abc import Callable
from typing import Any

from .public_names import public_name

# torch.fx.node's annotation types (pytorch/examples' fx tracers annotate create_proxy's
# `target: torch.fx.node.Target`); an argument is anything a node's args may hold
Target = Callable[..., Any] | str
Argument = Any

OPCODES = ("placeholder", "get_attr", "call_function", "call_method", "call_module",
           "output", "root")


def map_aggregate(a, fn):
    """a with fn applied to every leaf inside tuples, lists, dicts and slices (types kept:
    a namedtuple stays one)."""
    if isinstance(a, tuple):
        items = tuple(map_aggregate(x, fn) for x in a)
        return type(a)(*items) if hasattr(a, "_fields") else items
    if isinstance(a, list):
        return [map_aggregate(x, fn) for x in a]
    if isinstance(a, dict):
        return {k: map_aggregate(v, fn) for k, v in a.items()}
    if isinstance(a, slice):
        return slice(map_aggregate(a.start, fn), map_aggregate(a.stop, fn),
                     map_aggregate(a.step, fn))
    return fn(a)


def map_arg(a, fn):
    """a with fn applied to every Node inside it (other leaves stay)."""
    return map_aggregate(a, lambda x: fn(x) if isinstance(x, Node) else x)


def _nodes_in(a):
    found = {}
    map_arg(a, lambda n: found.setdefault(n, None))
    return list(found)


def qualified_name(fn) -> str:
    """The dotted name a callable target prints as (and the generated code calls)."""
    if isinstance(fn, str):
        return fn
    known = public_name(fn)
    if known is not None:
        return known
    name = getattr(fn, "__name__", None) or type(fn).__name__
    if getattr(operator, name, None) is fn:
        return f"operator.{name}"
    if getattr(builtins, name, None) is fn:
        return f"builtins.{name}"
    module = getattr(fn, "__module__", None) or "__main__"
    return f"{module}.{getattr(fn, '__qualname__', name)}"


class _PublicName(str):
    """A pickled node target: the dotted public name of a tracecomp function."""

    def resolve(self):
        module, _, name = self.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _format_arg(a) -> str:
    if isinstance(a, Node):
        return f"%{a.name}"
    if isinstance(a, tuple) and not hasattr(a, "_fields"):
        inner = ", ".join(_format_arg(x) for x in a)
        return f"({inner},)" if len(a) == 1 else f"({inner})"
    if isinstance(a, list):
        return "[" + ", ".join(_format_arg(x) for x in a) + "]"
    if isinstance(a, dict):
        return "{" + ", ".join(f"{k}: {_format_arg(v)}" for k, v in a.items()) + "}"
    return str(a)


class Node:
    """One instruction; see the module docstring for what each field means."""

    def __init__(self, graph, name, op, target, args, kwargs, type_expr=None):
        if op not in OPCODES:
            raise ValueError(f"fx.Node: op must be one of {OPCODES[:-1]}, got {op!r}")
        if op == "call_function" and not callable(target):
            raise ValueError(f"Node [graph = {graph}, name = '{name}'] target {target} has "
                             f"type {type(target).__name__} but a Callable is expected")
        if op in ("get_attr", "call_method", "call_module", "placeholder") and \
                not isinstance(target, str):
            raise ValueError(f"Node [graph = {graph}, name = '{name}'] target {target} has "
                             f"type {type(target).__name__} but a str is expected")
        self.graph, self.name, self.op, self.target = graph, name, op, target
        self.type = type_expr
        self.users = {}
        self.meta = {}
        self._input_nodes = {}
        self._args, self._kwargs = (), {}
        self._prev = self._next = self
        self._erased = False
        self.__update_args_kwargs(tuple(args), dict(kwargs))

    # --- arguments ------------------------------------------------------------------------
    @property
    def args(self):
        return self._args

    @args.setter
    def args(self, value):
        self.__update_args_kwargs(tuple(value), self._kwargs)

    @property
    def kwargs(self):
        return self._kwargs

    @kwargs.setter
    def kwargs(self, value):
        self.__update_args_kwargs(self._args, dict(value))

    def __update_args_kwargs(self, args, kwargs):
        for old in self._input_nodes:
            old.users.pop(self, None)
        self._args, self._kwargs = args, kwargs
        self._input_nodes = dict.fromkeys(_nodes_in((args, kwargs)))
        for n in self._input_nodes:
            n.users.setdefault(self, None)

    @property
    def all_input_nodes(self):
        """The nodes this one reads, in the order they appear in args then kwargs."""
        return list(self._input_nodes)

    def update_arg(self, idx, arg):
        args = list(self._args)
        args[idx] = arg
        self.args = args

    def update_kwarg(self, key, arg):
        self.kwargs = {**self._kwargs, key: arg}

    def replace_input_with(self, old, new):
        """Every read of `old` by this node reads `new` instead."""
        swap = lambda n: new if n is old else n   # noqa: E731
        self.__update_args_kwargs(map_arg(self._args, swap), map_arg(self._kwargs, swap))

    def replace_all_uses_with(self, replace_with, delete_user_cb=lambda user: True, *,
                              propagate_meta=False):
        """Every user of this node reads `replace_with` instead; returns the users changed."""
        if propagate_meta:
            for k, v in self.meta.items():
                replace_with.meta.setdefault(k, v)
        changed = [u for u in list(self.users) if delete_user_cb(u)]
        for user in changed:
            user.replace_input_with(self, replace_with)
        return changed

    @property
    def stack_trace(self):
        """The user source that made this node, where a tracer recorded it (else None)."""
        return self.meta.get("stack_trace")

    @stack_trace.setter
    def stack_trace(self, trace):
        self.meta["stack_trace"] = trace

    # --- position in the graph ------------------------------------------------------------
    @property
    def next(self):
        return self._next

    @property
    def prev(self):
        return self._prev

    def prepend(self, x):
        """Move node x to just before this one."""
        if x is self:
            return
        x._remove_from_list()
        p = self._prev
        p._next, x._prev, x._next, self._prev = x, p, self, x

    def append(self, x):
        """Move node x to just after this one."""
        self._next.prepend(x)

    def _remove_from_list(self):
        p, n = self._prev, self._next
        p._next, n._prev = n, p
        self._prev = self._next = self

    # --- printing -------------------------------------------------------------------------
    def format_node(self):
        """One line of the graph listing, in torch's layout."""
        head = f"%{self.name} : [num_users={len(self.users)}] = {self.op}"
        if self.op == "output":
            return f"return {self.args[0]!r}"
        if self.op == "placeholder":
            default = f"(default={_format_arg(self.args[0])})" if self.args else ""
            return f"{head}[target={self.target}]{default}"
        if self.op == "get_attr":
            return f"{head}[target={self.target}]"
        return (f"{head}[target={qualified_name(self.target)}](args = "
                f"{_format_arg(self.args)}, kwargs = {_format_arg(self.kwargs)})")

    def __repr__(self):
        return self.name

    def __getstate__(self):
        # a tracecomp function is pickled by its public name: some (tracecomp.flatten) are
        # wrappers that pickle cannot find under their __qualname__
        state = dict(self.__dict__)
        known = public_name(self.target) if callable(self.target) else None
        if known is not None:
            state["target"] = _PublicName(known)
        return state

    def __setstate__(self, state):
        if isinstance(state["target"], _PublicName):
            state["target"] = state["target"].resolve()
        self.__dict__.update(state)

    def is_impure(self):
        """Whether dead-code elimination must keep this node although nothing reads it."""
        if self.op in ("placeholder", "output"):
            return True
        if self.op == "call_function":
            return self.target in SIDE_EFFECTS or \
                getattr(self.target, "__name__", "") in _IMPURE_NAMES
        if self.op == "call_module":
            root = self.graph.owning_module
            return root is not None and getattr(root.get_submodule(self.target),
                                                "_is_impure", False)
        return False


# functions registered with fx.has_side_effect: dead-code elimination keeps their calls
SIDE_EFFECTS = set()


def has_side_effect(fn):
    """Mark fn as having a side effect, so eliminate_dead_code keeps calls of it whose
    result nobody reads (torch.fx.has_side_effect); returns fn (usable as a decorator)."""
    SIDE_EFFECTS.add(fn)
    return fn


# functions whose effect is the point (an assertion, an in-place write, a random draw);
# like torch, a call_method is taken as pure whatever its name
_IMPURE_NAMES = frozenset(("_assert", "setitem", "print", "rand", "randn", "randint",
                           "rand_like", "randn_like", "randint_like", "randperm",
                           "bernoulli", "multinomial", "normal", "poisson", "dropout"))
