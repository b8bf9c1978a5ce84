"""The IR that the tracer, the passes and the backends share: a Graph of Nodes in SSA form.

A Node is one value. Its `op` is one of a small closed set:

    input     a graph input (a user argument, a parameter, a buffer, a saved value, a
              cotangent); `name` says which
    constant  a literal array baked into the graph; `params["value"]` holds it
    <prim>    a call of the primitive of that name (tracecomp.ops.registry.PRIMITIVES)

`inputs` holds Nodes and Python scalars (literal operands like the 0.5 of `x * 0.5`).
Every node carries its shape, numpy dtype, whether it needs a gradient, and the user's
source location (file:line and module path). `graph.nodes` lists the non-input nodes in
topological order; `graph.outputs` names the results.

Text form, one deterministic line per node (names are assigned at print time, params are
sorted):

    graph(%x: f32[64,784], %fc1.weight: f32[256,784]) {
      %0: f32[256,784] = permute(%fc1.weight, dims=(1, 0))   # model.py:12 fc1
      %1: f32[64,256] = matmul(%x, %0)                       # model.py:12 fc1
      return (%1)
    }

`verify` checks the invariants every pass must keep (listed in its docstring);
`to_networkx` exports the dataflow for graph algorithms.
"""
import math

import numpy as np

from . import dtypes
from .dtypes import np_kind
from .errors import IRError, TracecompError, compiled_error
from .ops.registry import PRIMITIVES
from .symbolic import Sym

INPUT, CONSTANT = "input", "constant"
# a graph holds literal arrays of at most this many elements where a smaller expression
# makes them (expand(c, big shape) stays an expand): passes/constant_folding.py, and the
# tracer's one-value constants (tracing/tracer.py)
LITERAL_MAX_ELEMENTS = 65536


class Node:
    """One SSA value: its op, inputs, params, shape and dtype. (While tracing, a subclass
    stands in for a tensor's numpy array: tracing/value.py.)"""

    __slots__ = (
        "__weakref__",
        "dtype",
        "inputs",
        "name",
        "op",
        "params",
        "requires_grad",
        "shape",
        "source",
    )

    def __init__(self, op, inputs, params, shape, dtype, requires_grad=False, source=None,
                 name=None):
        self.op = op
        self.inputs = tuple(inputs)
        self.params = params
        # a dynamic graph's dims may be Syms (symbolic.py: polynomials in its size s)
        self.shape = tuple(d if type(d) is Sym else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.requires_grad = requires_grad
        self.source = source            # (file, line, module path) or None
        self.name = name                # inputs only: "x", "fc1.weight", "saved.3", ...

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def prim(self):
        return PRIMITIVES[self.op]

    def node_inputs(self):
        return [i for i in self.inputs if isinstance(i, Node)]

    def spec(self):
        return f"{dtypes.short_name(self.dtype)}{list(self.shape)}".replace(" ", "")

    def __repr__(self):
        return f"<Node {self.op} {self.spec()}>"


class Graph:
    """Inputs, nodes in topological order, and outputs."""

    def __init__(self, name="graph"):
        self.name = name
        self.node_type = Node           # a Tracer makes its graph's nodes TracedValues
        self.inputs: list[Node] = []
        self.nodes: list[Node] = []
        self.outputs: list[Node] = []

    # --- building ---------------------------------------------------------------------------
    def add_input(self, name, shape, dtype, requires_grad=False):
        node = self.node_type(INPUT, (), {}, shape, dtype, requires_grad, name=name)
        self.inputs.append(node)
        return node

    def add_constant(self, value, source=None):
        value = np.asarray(value)
        if value.flags.writeable:           # the graph's own read-only copy
            value = value.copy()
            value.flags.writeable = False
        node = self.node_type(CONSTANT, (), {"value": value}, value.shape, value.dtype, False,
                              source)
        self.nodes.append(node)
        return node

    def add(self, op, inputs, params, shape, dtype, requires_grad=False, source=None):
        node = self.node_type(op, inputs, params, shape, dtype, requires_grad, source)
        self.nodes.append(node)
        return node

    def copy(self, name=None):
        """A structural copy with fresh nodes and params dicts (constants' arrays, which
        are read-only, are shared)."""
        new, mapping = Graph(name or self.name), {}
        for n in self.inputs:
            mapping[n] = new.add_input(n.name, n.shape, n.dtype, n.requires_grad)
            mapping[n].params = dict(n.params)      # facts about an input (value_range)
        for n in self.nodes:
            mapping[n] = clone_node(n, mapping)
            new.nodes.append(mapping[n])
        new.outputs = [mapping[o] for o in self.outputs]
        return new

    # --- queries ------------------------------------------------------------------------
    def users(self):
        """node -> list of nodes that read it (in order)."""
        users = {n: [] for n in self.inputs + self.nodes}
        for n in self.nodes:
            for i in n.node_inputs():
                users[i].append(n)
        return users

    def op_count(self):
        """How many nodes compute something (inputs and constants excluded)."""
        return sum(1 for n in self.nodes if n.op != CONSTANT)

    def __str__(self):
        return format_graph(self)

    def __repr__(self):
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes>"


def clone_node(node, mapping, node_type=Node):
    """node with its inputs renamed through mapping."""
    # fields set directly: node's shape and dtype are normal already, and every pass copies
    # its graph, so Node.__init__'s checks here were ~half of a warm compile's copying
    clone = object.__new__(node_type)
    clone.op, clone.params = node.op, dict(node.params)
    clone.inputs = tuple(mapping[i] if isinstance(i, Node) else i for i in node.inputs)
    clone.shape, clone.dtype, clone.requires_grad = node.shape, node.dtype, node.requires_grad
    clone.source, clone.name = node.source, None
    return clone


# --- printing ----------------------------------------------------------------------------
def _fmt_param(v):
    if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
        return dtypes.short_name(np.dtype(v))
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, np.ndarray):
        return f"<{dtypes.short_name(v.dtype)}{list(v.shape)}>".replace(" ", "")
    return repr(v)


def _fmt_constant(value):
    if value.size <= 8:
        body = np.array2string(value, separator=", ", threshold=8).replace("\n", "")
        return f"constant({body})"
    return f"constant(<{value.size} values>)"


def format_source(source):
    if source is None:
        return ""
    file, line, module = source
    where = f"{file.rsplit('/', 1)[-1]}:{line}"
    return f"{where} {module}" if module else where


def execution_error(exc, node, names, where=""):
    """What to raise when node's numpy impl failed inside compiled code.

    A guard's own error is raised as it is (its message speaks to the user, and eager code
    raises the same error), with the user's line added as a note. Any other keeps its class
    (an IndexError stays an IndexError, so `except IndexError` written for eager or torch
    code still catches it) and is also a TracecompError; its message adds the node that
    raised it and `where`, the user's source line (the node's own when not given). Where
    eager code would raise a RuntimeError for the same failure, it is a RuntimeError too."""
    where = where or format_source(node.source)
    if "guard" in node.prim.tags:
        if where and hasattr(exc, "add_note"):
            exc.add_note(f"While executing {node.op}   # {where}")
        return exc
    if isinstance(exc, _PASS_THROUGH):
        return exc
    context = f"While executing {format_node(node, names)}" + (f"   # {where}" if where else "")
    # eager dispatch raises our errors and IndexErrors as they are, and anything else as a
    # RuntimeError naming the op (dispatch.explain_failure), as torch would
    also = None if isinstance(exc, (TracecompError, IndexError)) else RuntimeError
    return compiled_error(exc, context, also)


# running out of memory or stack is not an error of the compiled code: raised as it is
_PASS_THROUGH = (MemoryError, RecursionError)


def format_node(node, names):
    operands = [names[i] if isinstance(i, Node) else _fmt_param(i) for i in node.inputs]
    if node.op == CONSTANT and "value" in node.params:    # else described: symbolic.py
        call = _fmt_constant(node.params["value"])
    else:
        params = [f"{k}={_fmt_param(v)}" for k, v in sorted(node.params.items())]
        call = f"{node.op}({', '.join(operands + params)})"
    return f"{names[node]}: {node.spec()} = {call}"


def node_names(graph):
    names = {n: f"%{n.name}" for n in graph.inputs}
    for k, n in enumerate(graph.nodes):
        names[n] = f"%{k}"
    return names


ALIGN_LIMIT = 88


def format_graph(graph, names=None):
    names = names or node_names(graph)
    args = ", ".join(f"{names[n]}: {n.spec()}" for n in graph.inputs)
    lines = [format_node(n, names) for n in graph.nodes]
    # source comments line up, at most at ALIGN_LIMIT: one long line (a guard's message)
    # must not push every other line's comment out of sight
    width = min(max((len(s) for s in lines), default=0), ALIGN_LIMIT)
    body = []
    for n, text in zip(graph.nodes, lines):
        where = format_source(n.source)
        body.append(f"  {text:<{width}}   # {where}" if where else f"  {text}")
    outs = ", ".join(names.get(o, "%?") for o in graph.outputs)
    return "\n".join([f"{graph.name}({args}) {{", *body, f"  return ({outs})", "}"])


# --- verification --------------------------------------------------------------------------
def verify(graph, context="verify"):
    """Check the invariants every pass keeps, raising IRError with the lines around the
    first violation:

    1. every operand of a node is a graph input, a constant or an earlier node (define
       before use), and no node appears twice;
    2. every op is `input`, `constant` or a registered primitive;
    3. each node's shape and dtype are what its primitive's shape and dtype rules give;
    4. only floating (or complex) nodes of differentiable primitives (and inputs) require
       grad, which is
       what graph autodiff relies on;
    5. every output is a node of this graph.
    """
    names = node_names(graph)
    defined = set(graph.inputs)
    if len(defined) != len(graph.inputs) or any(n.op != INPUT for n in graph.inputs):
        raise IRError(f"{context}: graph inputs must be distinct `input` nodes")
    for k, node in enumerate(graph.nodes):
        problem = _node_problem(node, defined)
        if problem:
            raise IRError(f"{context}: {problem}\n{_around(graph, k, names)}")
        defined.add(node)
    for o in graph.outputs:
        if o not in defined:
            raise IRError(f"{context}: output {o!r} is not defined in the graph (a dangling "
                          f"output: the pass removed or replaced its node without updating "
                          f"graph.outputs)")


def _node_problem(node, defined):
    if node in defined:
        return "node appears twice in graph.nodes"
    for i in node.node_inputs():
        if i not in defined:
            return (f"operand {i!r} is used before it is defined (or belongs to another "
                    f"graph); passes must keep graph.nodes in topological order")
    if node.op == CONSTANT:
        value = node.params.get("value")
        ok = isinstance(value, np.ndarray) and value.shape == node.shape \
            and value.dtype == node.dtype and not node.requires_grad
        return None if ok else "constant's value does not match its shape/dtype (or it " \
            "claims to require grad)"
    if node.op not in PRIMITIVES:
        return f"unknown op {node.op!r} (not input, constant or a registered primitive)"
    prim = node.prim
    shapes = [i.shape if isinstance(i, Node) else () for i in node.inputs]
    try:
        shape = tuple(prim.shape(*shapes, **node.params))
        dtype = np.dtype(prim.dtype(*node.inputs, **node.params))
    except Exception as exc:  # noqa: BLE001 - any rule failure is reported as IR damage
        return f"{node.op}'s shape/dtype rule rejects its operands: {exc}"
    if shape != node.shape:
        return f"shape {list(node.shape)} but {node.op}'s rule gives {list(shape)}"
    if dtype != node.dtype:
        return f"dtype {node.dtype} but {node.op}'s rule gives {dtype}"
    if node.requires_grad and (prim.vjp is None or np_kind(dtype) not in "fc"):
        return f"{node.op} node requires grad but has no gradient (non-differentiable op or " \
               f"non-floating dtype)"
    return None


def _around(graph, k, names, context=3):
    lines = []
    for j in range(max(0, k - context), min(len(graph.nodes), k + context + 1)):
        try:
            text = format_node(graph.nodes[j], names)
        except KeyError:
            text = f"<{graph.nodes[j].op} with an operand from elsewhere>"
        lines.append(("> " if j == k else "  ") + text)
    return "\n".join(lines)


# --- export --------------------------------------------------------------------------------
def to_networkx(graph):
    """A DiGraph over the graph's values: node ids are the printed names (%x, %0, ...),
    attributes `op`, `shape`, `dtype`; an edge a -> b means b reads a. Outputs carry
    `output=True`."""
    import networkx as nx  # here, not at the top: it costs 0.1 s of `import tracecomp`

    names = node_names(graph)
    g = nx.DiGraph(name=graph.name)
    outputs = set(graph.outputs)
    for n in graph.inputs + graph.nodes:
        g.add_node(names[n], op=n.op, shape=n.shape, dtype=str(n.dtype), output=n in outputs)
        for i in n.node_inputs():
            g.add_edge(names[i], names[n])
    return g
