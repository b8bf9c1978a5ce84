"""Constant folding: a node whose operands are all known at compile time is computed now
and replaced by a constant node holding the result.

    graph(%x: f32[3]) {
      %0: f32[3] = constant([1., 1., 1.])
      %1: f32[3] = mul(%0, 2)
      %2: f32[3] = add(%x, %1)
      return (%2)
    }
    ->
    graph(%x: f32[3]) {
      %0: f32[3] = constant([2., 2., 2.])
      %1: f32[3] = add(%x, %0)
      return (%1)
    }

"Known" means every node operand is a constant (Python scalar operands are literals), so
primitives without operands, `full` and `arange`, fold too. The value is what the
reference interpreter would compute: the primitive's numpy impl, cast to the node's dtype
(the dtype rule is the authority). Folding chains within one sweep, and constants left
unread afterwards are removed by DCE.

Not folded:
  - nodes tagged "random": each run must draw afresh;
  - results of more than LITERAL_MAX_ELEMENTS elements: a small expression like expand(c, big
    shape) would become a big literal, making graphs and generated code heavy for no
    speed-up, so the node stays (it is not even evaluated);
  - ops computing on bfloat16 (but casts and views): eager computes them in float32
    (dispatch.widen_bf16), their impls on bfloat16 arrays would round after each numpy
    step; they fold once passes/widen_bf16.py has written them as float32 ops and casts;
  - nodes whose impl raises (an out-of-range index, say): the error then surfaces at run
    time with the interpreter's message and the user's line, as it would unfolded.
Numpy's floating-point warnings (1/0 and the like) are silenced while folding: the result
(inf, nan) is the same one the graph would produce when run.
"""
import numpy as np

from tracecomp.ir import CONSTANT, LITERAL_MAX_ELEMENTS, Node

from . import dce, widen_bf16
from .rewrite import sweep


def run(graph):
    """A copy of graph with every small all-constant computation replaced by its value."""
    return dce.run(sweep(graph.copy(), _fold, "constant_folding"))


def _fold(node, sweep_state):
    if node.op == CONSTANT or "random" in node.prim.tags or node.size > LITERAL_MAX_ELEMENTS:
        return None
    if any(i.op != CONSTANT for i in node.node_inputs()):
        return None
    if _on_bf16(node):
        return None
    operands = [i.params["value"] if isinstance(i, Node) else i for i in node.inputs]
    try:
        with np.errstate(all="ignore"):
            value = node.prim.impl(*operands, **node.params)
            if getattr(value, "dtype", None) != node.dtype:
                value = node.prim.as_dtype(value, operands, node.params, node.dtype)
    except Exception:  # noqa: BLE001 - any failure: leave it to run time, with its message
        return None
    # a fresh, contiguous array in the node's dtype: never a view into another constant
    value = np.array(value, dtype=node.dtype, order="C")
    if value.shape != node.shape:
        return None
    return sweep_state.constant(value, node)


def _on_bf16(node):
    """Whether node computes on bfloat16 or float16 (a cast or a view only moves its bits):
    its impl would compute there, where eager computes in float32 (dispatch.widen_reduced)."""
    return node.op != "cast" and not node.prim.is_view and widen_bf16.on_reduced(node)
