"""Partition a joint forward+backward graph into the forward graph a call runs and the
backward graph `loss.backward()` runs.

This is the simplest policy, "save what the backward reads": every node the forward
replayed stays in the forward; every node the VJP rules emitted goes to the backward;
each forward value the backward reads becomes a *saved* output of the forward and an
input of the backward (except views of graph inputs, like a weight's transpose, which
the backward recomputes from the input). Dead code on either side is left to DCE, which
runs next.
It is one replaceable step: a min-cut rematerialization partitioner can take its place
without touching autodiff or the backends.

    joint:                         forward:                    backward:
      %0 = mul(%x, %w)               %0 = mul(%x, %w)            (%saved.x, %grad.0)
      %1 = reduce_sum(%0)            %1 = reduce_sum(%0)         %0 = expand(%grad.0, ...)
      %2 = expand(%grad.0, ...)      return (%1, %x)             %1 = mul(%0, %saved.x)
      %3 = mul(%2, %x)                       ^ saved             return (%1)
      return (%1, %3)
"""
from dataclasses import dataclass

from tracecomp.ir import INPUT, Graph, Node, clone_node
from tracecomp.passes import ranges


@dataclass
class Split:
    forward: Graph      # outputs: the forward's own outputs, then the saved values
    backward: Graph     # inputs: the saved values, then the cotangents; outputs: gradients
    n_saved: int


def run(joint) -> Split:
    graph = joint.graph
    forward_nodes = graph.nodes[:joint.n_forward]
    backward_nodes = graph.nodes[joint.n_forward:]
    in_forward = set(forward_nodes) | {n for n in graph.inputs if not _is_cotangent(n)}
    cotangents = [n for n in graph.inputs if _is_cotangent(n)]

    grad_outputs = graph.outputs[joint.n_forward_outputs:]
    recomputed = _views_to_recompute(backward_nodes + grad_outputs, in_forward, graph.inputs)
    saved = []          # forward values the backward reads, in forward order
    seen = set()
    read_by_node = set(recomputed) | set(backward_nodes)    # sets: graphs have 1e5 nodes
    recomputed_set = set(recomputed)
    for n in recomputed + backward_nodes + grad_outputs:
        reads = n.node_inputs() if n in read_by_node else [n]
        for i in reads:
            if i in in_forward and i not in seen and i not in recomputed_set:
                seen.add(i)
                saved.append(i)
    order = {n: k for k, n in enumerate(graph.inputs + forward_nodes)}
    saved.sort(key=order.__getitem__)

    forward = Graph("forward")
    forward.inputs = [n for n in graph.inputs if not _is_cotangent(n)]
    forward.nodes = list(forward_nodes)
    forward.outputs = list(graph.outputs[:joint.n_forward_outputs]) + saved

    backward, mapping = Graph("backward"), {}
    for k, n in enumerate(saved):
        name = f"saved.{n.name}" if n.op == INPUT else f"saved.{k}"
        mapping[n] = backward.add_input(name, n.shape, n.dtype)
        known = ranges.bounds(n)
        if known is not None:
            # what the backward may rely on: the saved values' range (max pooling's and
            # cross_entropy's backward scatter with saved indices; a backend can then skip
            # the bounds check)
            mapping[n].params["value_range"] = known
    for n in cotangents:
        mapping[n] = backward.add_input(n.name, n.shape, n.dtype)
    for n in recomputed + backward_nodes:
        mapping[n] = clone_node(n, mapping)
        backward.nodes.append(mapping[n])
    backward.outputs = [mapping[n] for n in grad_outputs]
    return Split(forward, backward, len(saved))


def _views_to_recompute(consumers, in_forward, inputs):
    """Views (transpose, reshape, ...) of graph inputs that the backward reads: the backward
    recomputes them from the input (free: a view is index arithmetic) instead of the
    forward storing a second copy. A weight's transpose is the common case."""
    inputs = set(inputs)
    views = {}          # an ordered set
    for n in consumers:
        reads = n.node_inputs() if n.op != INPUT else []
        for i in reads + ([n] if n in in_forward else []):
            if i in in_forward and i not in inputs and i not in views and i.op != INPUT \
                    and i.op != "constant" and i.prim.is_view \
                    and all(x in inputs for x in i.node_inputs()):
                views[i] = None
    return list(views)


def _is_cotangent(node: Node) -> bool:
    return node.op == INPUT and node.name.startswith("grad.")
