"""Widen bfloat16 and float16: every bfloat16 or float16 op written as its float32 op
between casts, as eager computes it, so that backends compute in float32 and hold bfloat16
and float16 only in memory. (Below bfloat16 stands for both.)

Eager bfloat16 (dispatch.widen_reduced, torch's CPU kernels) widens each bfloat16 operand to
float32, runs the op there (sums and matmuls accumulate in float32) and rounds the result
to bfloat16 once. This pass makes each of those steps a node: the widening a cast to
float32 (exact), the op its float32 node, the rounding a cast to bfloat16 (to nearest even,
NaN kept NaN). A fused kernel then rounds where eager rounds, after every op whose eager
result is bfloat16, so compiled and eager give the same bits. What stays bfloat16: inputs,
constants, the casts and views (reshape, permute, expand, slice: no arithmetic). An op whose
eager bfloat16 kernel rounds partial results (log_softmax) is written as its
`Primitive.bf16`, those roundings cast pairs too.

    before:  %2: bf16[4,3] = mul(%0: bf16[4,3], %1: bf16[4,3])
             %3: bf16[]    = reduce_sum(%2, dims=(0, 1))
    after:   %a: f32[4,3] = cast(%0, dtype=float32)
             %b: f32[4,3] = cast(%1, dtype=float32)
             %c: f32[4,3] = mul(%a, %b)
             %2: bf16[4,3] = cast(%c, dtype=bfloat16)
             %d: f32[4,3] = cast(%2, dtype=float32)
             %e: f32[]     = reduce_sum(%d, dims=(0, 1))
             %3: bf16[]    = cast(%e, dtype=bfloat16)

It runs after autodiff (the backward graph's ops are eager's VJP ops, on bfloat16 where the
tape's are), before decompose (softmax's parts are then float32 ops) and simplification,
which never merges a cast pair that rounds (algebra folds cast(x, x.dtype) only). The
tracer refuses what this pass cannot write (tracer._bf16_refusal), as a graph break. A
graph without bfloat16 comes back as it is.
"""
import numpy as np

from tracecomp import grad_mode
from tracecomp.dispatch import bind, round_scalars
from tracecomp.dtypes import REDUCED
from tracecomp.errors import IRError
from tracecomp.ir import Graph, Node, clone_node, format_node, node_names
from tracecomp.ops.elementwise import cast
from tracecomp.tensor import Tensor
from tracecomp.tracing.tracer import Tracer, wrap

F32 = np.dtype(np.float32)
KEPT = ("cast", "constant")     # bfloat16 as they are (views too: Primitive.is_view)


def on_reduced(node):
    """Whether node's result or an operand is bfloat16 or float16."""
    return node.dtype in REDUCED or any(getattr(i, "dtype", None) in REDUCED
                                        for i in node.inputs)


def _widens(node):
    """Whether node computes on bfloat16 or float16 (its result or an operand is): not a
    cast, constant or view, which only move bits, nor a primitive that rounds itself."""
    if node.op in KEPT or node.prim.is_view or "own_rounding" in node.prim.tags:
        return False
    return on_reduced(node)


def rounds_itself(node):
    """Whether node's impl computes its bfloat16/float16 operands in their dtype, as torch's
    kernel does (Primitive tag "own_rounding": prod, nll_loss): kept whole, not widened."""
    return "own_rounding" in node.prim.tags and on_reduced(node)


def run(graph: Graph) -> Graph:
    """graph with each bfloat16 op as its float32 op between casts (see above)."""
    if not any(_widens(n) for n in graph.nodes):
        return graph
    new, mapping = Graph(graph.name), {}
    tracer = Tracer(new)
    for n in graph.inputs:
        mapping[n] = new.add_input(n.name, n.shape, n.dtype, n.requires_grad)
        mapping[n].params = dict(n.params)
    with tracer, grad_mode.set_grad_enabled(False):
        for n in graph.nodes:
            if not _widens(n):
                mapping[n] = clone_node(n, mapping, new.node_type)
                new.nodes.append(mapping[n])
                continue
            args = [wrap(mapping[i]) if isinstance(i, Node) else i for i in n.inputs]
            tracer.source_override = n.source
            try:
                mapping[n] = tracer.lift(_widened(n, args))
            finally:
                tracer.source_override = None
            got = mapping[n]
            if got.dtype != n.dtype or tuple(got.shape) != tuple(n.shape):
                raise IRError(f"widen_bf16: {format_node(n, node_names(graph))} became "
                              f"{got.dtype}{list(got.shape)} in float32")
            got.requires_grad = n.requires_grad
    new.outputs = [mapping[o] if isinstance(o, Node) else o for o in graph.outputs]
    return new


def _widened(node, args, rule=None):
    """node's value from tensors standing for its operands: float32 in, rounded out.
    rule(*operands, **params): what computes node in float32 (its primitive's bind, or
    decompose's parts of it)."""
    if node.prim.bf16 is not None:
        return node.prim.bf16(*args, **node.params)
    data = [a._data if isinstance(a, Tensor) else a for a in args]
    wide = [cast(a, F32) if isinstance(a, Tensor) and a._data.dtype in REDUCED else r
            for a, r in zip(args, round_scalars(node.prim, data))]
    out = rule(*wide, **node.params) if rule else bind(node.prim, *wide, **node.params)
    return cast(out, node.dtype) if node.dtype in REDUCED else out


def in_float32(node, rule):
    """rule (decompose's parts of node), computed as eager computes node when node is on
    bfloat16: in float32, rounded once (decompose on a graph this pass has not run on:
    torch.export's run_decompositions)."""
    if not _widens(node):
        return rule
    return lambda *args, **params: _widened(node, args, rule)
