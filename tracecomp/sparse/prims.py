"""A primitive called on a sparse tensor: the sparse op that computes it, or torch's error.

Dense ops reach a sparse tensor through the ordinary functions and operators (`adj @ x`,
`torch.mm(adj, x)`, `2 * adj`, `torch.sum(adj)`): they bind a primitive, whose numpy impl
cannot read a sparse tensor's data (sparse_data.py). bind (eager) and the tracer then call
`on_sparse`, which runs the sparse op of this table, or raises NotImplementedError naming
the op and the layout: no op ever densifies a sparse tensor silently.
"""
from ..ops.elementwise import cast
from ..sparse_data import SparseData, unsupported
from ..tensor import Tensor
from . import ops
from .base import made_by
from .conversions import is_sparse


def _matmul(a, b):
    return ops.mm(a, b)


def _sum(x, dims, keepdim, **_):
    if keepdim:
        raise NotImplementedError("sum(keepdim=True) of a sparse tensor is not supported by "
                                  "tracecomp; use torch.sparse.sum")
    if len(dims) == x.ndim:
        return ops.sparse_sum(x)
    return ops.sparse_sum(x, tuple(dims))


def _sub(a, b):
    return ops.add(a, ops.neg(b) if is_sparse(b) else -b)


# primitive name -> the sparse op, called with the primitive's operands and params
RULES = {
    "matmul": _matmul,
    "mul": ops.mul,
    "add": ops.add,
    "sub": _sub,
    "div": ops.div,
    "neg": ops.neg,
    "reduce_sum": _sum,
    "cast": lambda x, dtype: x._with_values(cast(x._vals, dtype)),
}


# primitive name -> torch's name of the gradient node of its sparse result
NODE_NAMES = {"mul": "MulBackward0", "add": "AddBackward0", "sub": "SubBackward0",
              "div": "DivBackward0", "neg": "NegBackward0", "cast": "ToCopyBackward0"}


def on_sparse(prim, args, params):
    """prim(*args, **params) where an operand is a sparse tensor."""
    rule = RULES.get(prim.name)
    if rule is None:
        layout = next(a._data.layout for a in args
                      if isinstance(a, Tensor) and type(a._data) is SparseData)
        raise unsupported(prim.name, layout)
    out = rule(*args, **params)
    return made_by(out, NODE_NAMES[prim.name]) if is_sparse(out) else out
