"""Algebraic simplification: a table of local rewrite rules, one small function per rule.

    graph(%x: f32[2,3]) {
      %0: f32[3,2] = permute(%x, dims=(1, 0))
      %1: f32[2,3] = permute(%0, dims=(1, 0))
      %2: f32[2,3] = mul(%1, 1)
      %3: f32[4,2,3] = expand(%2, shape=(4, 2, 3))
      %4: f32[2,3] = reduce_sum(%3, dims=(0,), keepdim=False)
      return (%4)
    }
    ->
    graph(%x: f32[2,3]) {
      %0: f32[2,3] = mul(%x, 4)
      return (%0)
    }

RULES maps an op to its rules. A rule looks at one node (whose operands are already
simplified: the sweep goes forward) and returns the value that replaces it, an earlier
node or one it builds with `_make`, or None. A node a rule builds is simplified at once (a
reshape of a reshape back to x's own shape ends as x). What a rule returns counts only
when it has the node's shape, dtype and gradient requirement (rewrite.same_value_type), so
`x * 1` stays when the 1 broadcasts or promotes x. Nodes left unread are removed by DCE at
the end.

Floating-point notes: `x + 0 -> x` keeps a -0.0 that adding +0.0 would turn into +0.0
(the values compare equal); `sum(expand(x)) -> x * n` rounds once where the sum rounds n
times, so results agree to rounding, not bit for bit.
"""
import math

import numpy as np

from tracecomp.ir import CONSTANT, Node

from . import dce
from .rewrite import same_value_type, sweep


def run(graph):
    """A copy of graph with the rules of RULES applied everywhere, dead nodes removed."""
    graph = graph.copy()
    uses = _use_counts(graph)

    def visit(node, state):
        state.uses = uses           # rules that would duplicate work check the use counts
        return _simplify(node, state)
    return dce.run(sweep(graph, visit, "algebra"))


def _use_counts(graph):
    counts = {}
    for n in graph.nodes:
        for i in n.node_inputs():
            counts[i] = counts.get(i, 0) + 1
    for o in graph.outputs:
        counts[o] = counts.get(o, 0) + 1
    return counts


def _simplify(node, sweep_state):
    """What the first rule that fires turns node into, or None to keep it. Only a value
    that can stand in for node counts as firing."""
    for rule in RULES.get(node.op, ()):
        new = rule(node, sweep_state)
        if new is not None and new is not node and same_value_type(node, new):
            return new
    return None


def _make(sweep_state, op, inputs, params, like):
    """A node a rule builds, itself simplified: reshape(reshape(x)) may end as x."""
    node = sweep_state.add(op, inputs, params, like)
    new = _simplify(node, sweep_state)
    return node if new is None else new


# --- operand tests -----------------------------------------------------------------------
def _is(value, c):
    """Is value the literal c everywhere: a Python scalar, or a small constant node?"""
    if isinstance(value, Node):
        if value.op != CONSTANT or value.size > 64:
            return False
        return bool(np.all(value.params["value"] == c))
    return value == c


# --- the rules -----------------------------------------------------------------------------
def _right_unit(c):
    """op(x, c) -> x"""
    def rule(node, _):
        x, y = node.inputs
        return x if isinstance(x, Node) and _is(y, c) else None
    return rule


def _left_unit(c):
    """op(c, x) -> x"""
    def rule(node, _):
        y, x = node.inputs
        return x if isinstance(x, Node) and _is(y, c) else None
    return rule


def _permute_permute(node, s):                          # permute(permute(x, a), b) -> ...
    inner = node.inputs[0]
    if not isinstance(inner, Node) or inner.op != "permute":
        return None
    a, b = inner.params["dims"], node.params["dims"]
    dims = tuple(a[d] for d in b)
    x = inner.inputs[0]
    if dims == tuple(range(len(dims))):
        return x                                        # ... -> x when they cancel
    return _make(s, "permute", (x,), {"dims": dims}, node)  # ... -> permute(x, a[b])


def _transpose_of_matmul(node, s):                      # (a @ b)^T -> b^T @ a^T
    """The weight gradient comes out of autodiff as (x^T g)^T: computing g^T x instead
    saves the transpose copy (the inner transposes fold into the BLAS call)."""
    mm = node.inputs[0]
    if not isinstance(mm, Node) or mm.op != "matmul" or node.params["dims"] != (1, 0) \
            or mm.ndim != 2 or any(not isinstance(i, Node) or i.ndim != 2 for i in mm.inputs) \
            or s.uses.get(mm, 0) != 1:
        return None
    a, b = mm.inputs
    bt = _make(s, "permute", (b,), {"dims": (1, 0)}, node)
    at = _make(s, "permute", (a,), {"dims": (1, 0)}, node)
    return _make(s, "matmul", (bt, at), {}, node)


def _permute_identity(node, _):                         # permute(x, (0, 1, ..)) -> x
    dims = node.params["dims"]
    return node.inputs[0] if tuple(dims) == tuple(range(len(dims))) else None


def _reshape_reshape(node, s):                          # reshape(reshape(x)) -> reshape(x)
    inner = node.inputs[0]
    if not isinstance(inner, Node) or inner.op != "reshape":
        return None
    return _make(s, "reshape", (inner.inputs[0],), {"shape": node.shape}, node)


def _reshape_same(node, _):                             # reshape(x, x.shape) -> x
    x = node.inputs[0]
    return x if isinstance(x, Node) and x.shape == node.shape else None


def _cast_same(node, _):                                # cast(x, x.dtype) -> x
    x = node.inputs[0]
    return x if isinstance(x, Node) and x.dtype == np.dtype(node.params["dtype"]) else None


def _neg_neg(node, _):                                  # neg(neg(x)) -> x
    inner = node.inputs[0]
    return inner.inputs[0] if isinstance(inner, Node) and inner.op == "neg" else None


def _sum_of_expand(node, s):                            # sum(expand(x), expanded) -> x * n
    e = node.inputs[0]
    if not isinstance(e, Node) or e.op != "expand" or not isinstance(e.inputs[0], Node):
        return None
    x, dims = e.inputs[0], node.params["dims"]
    dims = set(range(e.ndim) if dims is None else dims)
    lead = e.ndim - x.ndim
    grown = {d for d in range(e.ndim) if d < lead or x.shape[d - lead] != e.shape[d]}
    # every grown dim is summed, and every other summed dim has size 1: each output
    # element is then n copies of one element of x, in x's own order
    if not grown <= dims or any(e.shape[d] != 1 for d in dims - grown):
        return None
    count = math.prod(e.shape[d] for d in dims)
    if count == 0:
        return None                 # an empty sum is 0, but x * 0 keeps x's nans
    y = x if x.shape == node.shape else _make(s, "reshape", (x,), {"shape": node.shape}, node)
    return y if count == 1 else _make(s, "mul", (y, count), {}, node)


def _marker_done(node, _):                              # custom_vjp(y, ...) -> y
    """A custom Function's output marker is the identity on y; once autodiff has run (its
    gradient flag is cleared) it has no role left (tracecomp/autograd/custom_vjp.py)."""
    y = node.inputs[0]
    return y if isinstance(y, Node) and not node.requires_grad else None


def _pad_identity(node, _):                             # pad(x, 0) -> x
    x = node.inputs[0]
    return x if isinstance(x, Node) and all(tuple(c) == (0, 0, 0)
                                            for c in node.params["config"]) else None


def _leading_block(node):
    """(x, low) when node zero-pads x along dim 0 only (x is rows low.. of the result)."""
    if not isinstance(node, Node) or node.op != "pad" or node.params["value"] != 0 or \
            node.ndim == 0:
        return None
    (low, high, interior), *rest = node.params["config"]
    if interior or low < 0 or high < 0 or any(tuple(c) != (0, 0, 0) for c in rest):
        return None
    return node.inputs[0], low


def _sum_of_blocks(node, s):                            # pad(a) + pad(b) -> pad(cat(a, b))
    """Zero-padded blocks side by side along dim 0, added: that is their concatenation.
    The gradient of a tensor cut into pieces along dim 0 (unbind, split: an RNN's time
    steps) is such a sum, and n full-size adds become one copy. Inner dims are left alone:
    there the few pieces (a gate's chunks) fuse into one kernel, while a concat has no llvm
    kernel (it runs as a numpy step between native calls)."""
    blocks = [_leading_block(x) for x in node.inputs]
    if None in blocks or any(s.uses.get(x, 0) > 1 for x in node.inputs) or \
            node.inputs[0].shape != node.inputs[1].shape:
        return None
    (a, low), (b, low_b) = sorted(blocks, key=lambda block: block[1])
    if low + a.shape[0] != low_b:                       # not adjacent: a gap or an overlap
        return None
    parts = [p for x in (a, b) for p in (x.inputs if x.op == "concat" and x.params["dim"] == 0
                                         and s.uses.get(x, 0) <= 1 else (x,))]
    joined = _make(s, "concat", tuple(parts), {"dim": 0}, node)
    config = ((low, node.shape[0] - low - joined.shape[0], 0),) + ((0, 0, 0),) * (node.ndim - 1)
    return _make(s, "pad", (joined,), {"config": config,
                                       "value": node.inputs[0].params["value"]}, node)


def _gather_of_argmax(node, s):                         # gather(x, argmax(x)) -> max(x)
    """Max pooling picks each window's maximum through its argmax (which its gradient
    needs). Where nothing else reads the argmax (inference) the gathered value is the
    window's max: one reduction, which reads windows that are views of its input
    (nn/functional_conv.py `_tiles`) in the kernel that computes that input, instead of
    an argmax and a gather that each read them.
    Not while the node still wants a gradient: reduce_max's splits it among tied maxima,
    max pooling's goes to the first one. A NaN is picked by both."""
    x, idx = node.inputs
    dim = node.params["dim"]
    if node.requires_grad or not isinstance(idx, Node) or idx.op != "argmax" or \
            idx.inputs[0] is not x or idx.params["dim"] != dim or \
            not idx.params["keepdim"] or s.uses.get(idx, 0) != 1:
        return None
    return _make(s, "reduce_max", (x,), {"dims": (dim,), "keepdim": True}, node)


RULES = {
    "mul": (_right_unit(1), _left_unit(1)),             # x*1 -> x, 1*x -> x
    "add": (_right_unit(0), _left_unit(0),              # x+0 -> x, 0+x -> x
            _sum_of_blocks),                            # pad(a) + pad(b) -> pad(cat(a, b))
    "pad": (_pad_identity,),                            # pad(x, 0) -> x
    "sub": (_right_unit(0),),                           # x-0 -> x
    "div": (_right_unit(1),),                           # x/1 -> x
    "neg": (_neg_neg,),                                 # --x -> x
    "permute": (_permute_identity, _permute_permute,    # permute(x, id) -> x, p(p(x)) -> p(x)
                _transpose_of_matmul),                  # (a @ b)^T -> b^T @ a^T
    "reshape": (_reshape_same, _reshape_reshape),       # r(x, x.shape) -> x, r(r(x)) -> r(x)
    "cast": (_cast_same,),                              # cast(x, x.dtype) -> x
    "reduce_sum": (_sum_of_expand,),                    # sum(expand(x)) -> x * n
    "custom_vjp": (_marker_done,),                      # marker(y, ...) -> y, differentiated
    "gather": (_gather_of_argmax,),                     # gather(x, argmax(x)) -> max(x)
}
