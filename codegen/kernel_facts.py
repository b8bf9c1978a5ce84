"""What every kernel-emitting backend must agree on about a node, beyond its rule: the
dtype its rule computes in, the dtype each operand is converted to, and which index
operands a kernel may read through unchecked. Defined once here so that the llvm and cuda
backends cannot drift apart (the rules themselves stay in each backend).
"""
import numpy as np

from tracecomp import dtypes
from tracecomp.passes import ranges

BOOL = np.dtype(np.bool_)
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
LOGICAL = ("logical_and", "logical_or", "logical_xor", "logical_not")
INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))


def compute_dtype(node):
    """The dtype a node's rule computes in: comparisons in their operands' promoted dtype,
    logical ops in bool, isnan/isinf in their operand's, the rest in the node's own."""
    if node.op in COMPARISONS:
        return np.dtype(dtypes.result_type(*node.inputs))
    if node.op in LOGICAL:
        return BOOL
    if node.op in ("isnan", "isinf"):
        return node.inputs[0].dtype
    return node.dtype


def operand_dtypes(node):
    """The dtype each operand is converted to before the rule runs."""
    if node.op == "where":
        return [BOOL, node.dtype, node.dtype]
    return [compute_dtype(node)] * len(node.inputs)


def indexes_in_range(idx, dim, x):
    """Every value of idx provably indexes x along dim (passes/ranges.py: an argmax or
    argmin over dim, a checked class target, or a saved one of those), so a kernel may
    read through it unchecked."""
    known = ranges.bounds(idx)
    return idx.dtype in INDEX_DTYPES and known is not None and known[0] >= 0 \
        and known[1] < x.shape[dim]


def row_lookup(node):
    """Whether an `index` node is a row lookup x[idx]: one index tensor, on dim 0, whole
    slices after it (an embedding). input_guards.py checks such indices before the graph
    when they are an input; a kernel reads through them once they are rows_in_range."""
    if node.op != "index" or len(node.inputs) != 2:
        return False
    key = node.params["key"]
    return key[:1] == (0,) and all(k is None for k in key[1:]) \
        and node.inputs[1].dtype in INDEX_DTYPES


def rows_in_range(node):
    """Every index of row lookup `node` provably names a row of its x, counted from either
    end (numpy's and torch's negative indices)."""
    x, idx = node.inputs
    known = ranges.bounds(idx)
    return known is not None and -x.shape[0] <= known[0] and known[1] < x.shape[0]


def gather_gradient(node):
    """A scatter_add in a gather's gradient form: one in-range index per row along dim (an
    argmax per pooling window, a class per sample), src shaped like the index, so each
    output element is base plus at most one src element, found by a compare."""
    base, idx, src = node.inputs[:3]
    dim = node.params["dim"]
    return indexes_in_range(idx, dim, base) and idx.shape[dim] == 1 \
        and tuple(src.shape) == tuple(idx.shape) and base.shape == node.shape \
        and all(a == c for d, (a, c) in enumerate(zip(idx.shape, base.shape)) if d != dim)
