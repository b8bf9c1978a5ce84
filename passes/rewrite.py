"""What the simplification passes share: renaming uses, and one forward rewrite sweep.

Every pass works on a private `graph.copy()`, so renaming operands in place there never
touches the caller's graph. `sweep` visits the nodes in order and asks the pass, for each
one, whether it keeps the node or which value replaces it. Before the pass sees a node,
the node's operands are renamed through the replacements made so far, so rewrites chain
in one sweep (permute(permute(permute(x))) folds to one permute or to x). A pass may build
the replacement with `Sweep.add` / `Sweep.constant`: the new node lands just before the
node it replaces, after all of that node's operands, so topological order holds with no
re-sort. A replaced node is dropped at once; operands that lose their last use are left
for DCE.

A replacement must stand for the same value as the node: same shape, dtype and
`requires_grad`. The sweep checks this once, for every pass and rule, and keeps the node
when the candidate differs: `x * 1` where the 1 broadcasts x to a larger shape, or
promotes an int x to float, is not x; neither is `y = x * 1` recorded under no_grad
(y needs no gradient, x does).
"""
import numpy as np

from tracecomp.errors import IRError
from tracecomp.ir import CONSTANT, Node, format_node, format_source, node_names
from tracecomp.ops.registry import PRIMITIVES


def resolve(mapping, value):
    """value after the replacements in mapping, followed to the end of a chain (a -> b -> c);
    Python scalars and unreplaced nodes come back as they are."""
    while isinstance(value, Node) and value in mapping:
        value = mapping[value]
    return value


def replace_uses(graph, mapping):
    """Point every operand and output of graph that is a key of mapping at its replacement,
    in place (so only on a graph the pass owns)."""
    for node in graph.nodes:
        _rename_operands(node, mapping)
    graph.outputs = [resolve(mapping, o) for o in graph.outputs]
    return graph


def _rename_operands(node, mapping):
    if any(isinstance(i, Node) and i in mapping for i in node.inputs):
        node.inputs = tuple(resolve(mapping, i) for i in node.inputs)


def same_value_type(a, b):
    """Can b replace node a? b must be a node with a's shape, dtype and gradient
    requirement."""
    return (isinstance(b, Node) and a.shape == b.shape and a.dtype == b.dtype
            and a.requires_grad == b.requires_grad)


class Sweep:
    """The state of one forward rewrite: the nodes kept or built so far, in order, and the
    replacements made so far."""

    def __init__(self):
        self.nodes = []
        self.mapping = {}

    def add(self, op, inputs, params, like):
        """A new `op` node placed here, typed by the primitive's rules; it takes the source
        line and gradient requirement of `like`, the node it is built to replace."""
        prim = PRIMITIVES[op]
        shapes = [i.shape if isinstance(i, Node) else () for i in inputs]
        shape = prim.shape(*shapes, **params)
        dtype = np.dtype(prim.dtype(*inputs, **params))
        node = Node(op, inputs, params, shape, dtype, like.requires_grad, like.source)
        self.nodes.append(node)
        return node

    def constant(self, value, like):
        """A new constant node placed here, with the source line of `like`."""
        value = np.asarray(value)
        node = Node(CONSTANT, (), {"value": value}, value.shape, value.dtype, False,
                    like.source)
        self.nodes.append(node)
        return node


def sweep(graph, visit, pass_name):
    """Rewrite graph (a copy the pass owns) in one forward pass and return it.

    visit(node, sweep) returns None to keep the node, or the node that replaces it: an
    earlier value, or one built with sweep.add / sweep.constant. An exception inside visit
    becomes an IRError that names the pass and the node being rewritten."""
    names = _Names(node_names(graph))
    state = Sweep()
    for node in graph.nodes:
        _rename_operands(node, state.mapping)
        try:
            new = visit(node, state)
        except Exception as exc:
            where = format_source(node.source)
            raise IRError(f"{pass_name}: {type(exc).__name__}: {exc}\nwhile rewriting "
                          f"{format_node(node, names)}" + (f"   # {where}" if where else "")
                          ) from exc
        if new is None or new is node or not same_value_type(node, new):
            state.nodes.append(node)
        else:
            state.mapping[node] = new
    graph.nodes = state.nodes
    return replace_uses(graph, state.mapping)      # the outputs (operands are done)


class _Names(dict):
    """Printed names of the graph as it was before the sweep; a node built during the sweep
    has none yet."""

    def __missing__(self, node):
        return "%new"
