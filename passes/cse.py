"""Common subexpression elimination: a node that computes what an earlier node already
computed (same op, same operands, same params) is replaced by that earlier node.

    graph(%x: f32[3], %y: f32[3]) {
      %0: f32[3] = add(%x, %y)
      %1: f32[3] = add(%y, %x)
      %2: f32[3] = mul(%0, %1)
      return (%2)
    }
    ->
    graph(%x: f32[3], %y: f32[3]) {
      %0: f32[3] = add(%x, %y)
      %1: f32[3] = mul(%0, %0)
      return (%1)
    }

What counts as "the same":
  - node operands by identity (after earlier merges, so chains of duplicates collapse in
    one sweep); Python scalar operands by type and value (`x * 1` is not `x * 1.0` nor
    `x * True`; floats by repr, so -0.0 differs from 0.0 and nan equals nan);
  - for ops tagged "commutative" the operands are put in a fixed order first, so
    add(x, y) and add(y, x) meet;
  - params recursively (tuples, lists, dicts, numpy dtypes, slices); arrays in params, and
    so constants' values, by value (dtype, shape and bytes) up to SMALL_ARRAY elements and
    by identity above it, where comparing would cost more than it saves;
  - the gradient requirement: a copy of `x * w` recorded under no_grad needs no gradient
    and must not stand in for one that does.

Nodes tagged "random" are never merged: two draws are two different samples.
"""
import numpy as np

from tracecomp.ir import CONSTANT, Node

from .rewrite import sweep

SMALL_ARRAY = 256       # constants up to this many elements are compared by value


def run(graph):
    """A copy of graph in which every repeated computation is done once."""
    graph = graph.copy()
    position = {n: k for k, n in enumerate(graph.inputs + graph.nodes)}
    seen = {}

    def visit(node, _sweep):
        if node.op != CONSTANT and "random" in node.prim.tags:
            return None
        key = _node_key(node, position)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = node
        return earlier

    return sweep(graph, visit, "cse")


def _node_key(node, position):
    operands = [(0, position[i], "") if isinstance(i, Node) else (1, type(i).__name__, repr(i))
                for i in node.inputs]
    if node.op != CONSTANT and "commutative" in node.prim.tags:
        operands.sort()
    return node.op, tuple(operands), _freeze(node.params), node.requires_grad


def _freeze(value):
    """A hashable stand-in for a param value that is equal exactly when the values are."""
    if isinstance(value, np.ndarray):
        if value.size <= SMALL_ARRAY:
            return "array", value.dtype.str, value.shape, value.tobytes()
        return "array-id", id(value)
    if isinstance(value, np.dtype) or (isinstance(value, type)
                                       and issubclass(value, np.generic)):
        return "dtype", np.dtype(value).str
    if isinstance(value, (tuple, list)):
        return type(value).__name__, tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return "dict", tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, slice):
        return "slice", _freeze(value.start), _freeze(value.stop), _freeze(value.step)
    if isinstance(value, (float, np.generic)):
        return type(value).__name__, repr(value)
    try:
        hash(value)
    except TypeError:
        return "id", id(value)
    return type(value).__name__, value
