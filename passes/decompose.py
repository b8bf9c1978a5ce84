"""Decompose: replace each node of a primitive that native code computes as several simpler
primitives by those primitives, after autodiff, before a backend fuses the graph.

A few primitives (softmax, log_softmax and its backward, nll_loss, mse_loss, cross_entropy
and their backwards) are one node for the eager tape and for autodiff, so one VJP serves
both and the tape stays short, but a kernel computes them best as their parts, which
fusion groups with their neighbours.
RULES holds, per primitive, the function that builds its parts from tensors; it is replayed
here with the tracer on, as autodiff replays VJP rules, so shapes and dtypes come from the
primitives' own rules. Nodes keep the source line of the node they replace.

    before:  %1 = log_softmax(%x, dim=1)
    after:   %1 = reduce_max(%x, dims=(1,), keepdim=True)
             %2 = sub(%x, %1)
             %3 = exp(%2)
             %4 = reduce_sum(%3, dims=(1,), keepdim=True)
             %5 = log(%4)
             %6 = sub(%2, %5)

A graph without such nodes comes back as it is.
"""
from tracecomp import grad_mode
from tracecomp.ir import Graph, Node, clone_node
from tracecomp.ops import cross_entropy, mse, nll, softmax
from tracecomp.tracing.tracer import Tracer, wrap

from . import widen_bf16

# primitive name -> parts(*operands, **params) -> tensor, on tensors standing for values
RULES = {
    "softmax": softmax.softmax_parts,
    "log_softmax": softmax.log_softmax_parts,
    "log_softmax_backward": softmax.log_softmax_backward_parts,
    "nll_loss": nll.parts,
    "nll_loss_backward": nll.backward_parts,
    "mse_loss": mse.parts,
    "mse_loss_backward": mse.backward_parts,
    "cross_entropy": cross_entropy.parts,
    "cross_entropy_backward": cross_entropy.backward_parts,
}


def run(graph: Graph, keep_gradients=False) -> Graph:
    """graph with each node RULES splits written as its parts. After autodiff (the
    pipeline) the parts are traced with gradients off; keep_gradients=True traces them with
    gradients on, so they carry the gradients the node did (torch.export's
    run_decompositions, on a forward graph that may still be differentiated)."""
    if not any(n.op in RULES for n in graph.nodes):
        return graph
    new, mapping = Graph(graph.name), {}
    tracer = Tracer(new)
    for n in graph.inputs:
        mapping[n] = new.add_input(n.name, n.shape, n.dtype, n.requires_grad)
        mapping[n].params = dict(n.params)      # facts about an input (value_range)
    with tracer, grad_mode.set_grad_enabled(keep_gradients):
        for n in graph.nodes:
            rule = RULES.get(n.op)
            if rule is not None and widen_bf16.rounds_itself(n):
                rule = None     # its impl works in bfloat16/float16 (nll_loss's sum)
            if rule is not None:
                rule = widen_bf16.in_float32(n, rule)
            if rule is None:
                mapping[n] = clone_node(n, mapping, new.node_type)
                new.nodes.append(mapping[n])
                continue
            args = [wrap(mapping[i], keep_gradients and i.requires_grad)
                    if isinstance(i, Node) else i for i in n.inputs]
            tracer.source_override = n.source
            try:
                mapping[n] = tracer.lift(rule(*args, **n.params))
            finally:
                tracer.source_override = None
            mapping[n].requires_grad = n.requires_grad
    new.outputs = [mapping[o] if isinstance(o, Node) else o for o in graph.outputs]
    return new
