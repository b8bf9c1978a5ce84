"""Whether a template serves a graph traced at new sizes (compiler/dynamic.py): the graph must
be the template's at those sizes, op for op, every shape, param and number, except the
template's RuntimeNumbers, which are read from it. Correctness of a dynamic graph rests on
this check, not on the guess from a few sizes."""
import numpy as np

from ..dtypes import np_kind
from ..ir import CONSTANT, Node
from ..symbolic import RuntimeNumber, generated, value_at
from . import size_sources


def same(x, y):
    """Whether two params or numbers are equal (arrays by value, NaN equal to NaN)."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and \
            x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=
                                                                          np_kind(x.dtype) in "fc")
    if isinstance(x, (tuple, list)):
        return type(x) is type(y) and len(x) == len(y) and all(map(same, x, y))
    if isinstance(x, dict):
        return isinstance(y, dict) and list(x) == list(y) and all(same(x[k], y[k]) for k in x)
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    try:
        return bool(x == y)
    except Exception:       # an object whose == is not a truth value: not known equal
        return False



# --- a graph at new sizes -> the sizes, if a template serves them ------------------------------
def match(t, graph):
    """(sizes, numbers): the sizes (one per symbol) at which template t's graph is `graph`
    (which has its structure), and the values of its RuntimeNumbers there; None where they
    differ in anything else."""
    s = tuple(size_sources.read(graph, w) for w in t.where)
    if None in s or any(not low <= v <= high for v, low, high in zip(s, t.domain.lows, t.highs)):
        return None
    numbers = {}
    position = {n: k for k, n in enumerate(graph.inputs + graph.nodes)}
    mine = {n: k for k, n in enumerate(t.graph.inputs + t.graph.nodes)}
    for x, y in zip(t.graph.inputs, graph.inputs):
        if value_at(x.shape, s) != y.shape or not same(value_at(x.params, s), y.params):
            return None
    for x, y in zip(t.graph.nodes, graph.nodes):
        if value_at(x.shape, s) != y.shape or x.requires_grad != y.requires_grad:
            return None
        for p, q in zip(x.inputs, y.inputs):
            if isinstance(p, Node):
                if not isinstance(q, Node) or mine[p] != position[q]:
                    return None
            elif isinstance(p, RuntimeNumber):
                if not isinstance(q, float):
                    return None
                numbers[p.index] = q
            elif isinstance(q, Node) or not same(value_at(p, s), q):
                return None
        if x.op == CONSTANT and "value" not in x.params:
            if not same(generated(x.params, y.shape, y.dtype), y.params["value"]):
                return None
        elif not same(value_at(x.params, s), y.params):
            return None
    if [mine[o] for o in t.graph.outputs] != [position[o] for o in graph.outputs]:
        return None
    return s, tuple(numbers[k] for k in sorted(numbers))
