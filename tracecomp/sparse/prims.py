"""A primitive called on a sparse tensor: the sparse op that computes it, or torch's error.

Dense ops reach a sparse tensor through the ordinary functions and operators (`adj @ x`,
`torch.mm(adj, x)`, `2 * adj`, `torch.sum(adj)`): they bind a primitive, whose numpy impl
cannot read a sparse tensor's data (sparse_data.py). bind (eager) and the tracer then call
`on_sparse`, which runs the sparse op of this table, or raises NotImplementedError naming
the op and the layout: no op ever densifies a sparse tensor silently.
"""
from ..dispatch import bind
from ..ops.elementwise import cast
from ..sparse_data import ON_SPARSE, SparseData, unsupported
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


def _pow(x, exponent):
    """sparse ** a positive number: zero stays zero, so the values' powers (coalesced)."""
    if not is_sparse(x) or isinstance(exponent, Tensor) or not exponent > 0:
        raise unsupported("pow", x.layout if is_sparse(x) else exponent.layout)
    s = x.to_sparse_coo().coalesce()
    return s._with_values(s._vals ** exponent)


# primitive name -> the sparse op, called with the primitive's operands and params
RULES = {
    "pow": _pow,
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
              "div": "DivBackward0", "neg": "NegBackward0", "cast": "ToCopyBackward0",
              "pow": "PowBackward0"}


# unary primitives that map 0 to 0: on a sparse tensor, applied to its values once it is
# coalesced (a duplicate position's values summed first), as torch's
ZERO_PRESERVING = {"abs", "sqrt", "sign", "sin", "tan", "tanh", "sinh", "asin", "atan",
                   "asinh", "atanh", "relu", "log1p", "expm1", "floor", "ceil", "round",
                   "trunc"}


def _values_mapped(prim, x, params):
    s = x.to_sparse_coo().coalesce()
    return s._with_values(bind(prim, s._vals, **params))


def on_sparse(prim, args, params):
    """prim(*args, **params) where an operand is a sparse tensor."""
    if prim.name in ZERO_PRESERVING:
        return made_by(_values_mapped(prim, args[0], params),
                       prim.name.capitalize() + "Backward0")
    rule = RULES.get(prim.name)
    if rule is None:
        layout = next(a._data.layout for a in args
                      if isinstance(a, Tensor) and type(a._data) is SparseData)
        raise unsupported(prim.name, layout)
    out = rule(*args, **params)
    name = NODE_NAMES.get(prim.name)      # (mm names its own)
    return made_by(out, name) if name is not None and is_sparse(out) else out


ON_SPARSE.append(on_sparse)
