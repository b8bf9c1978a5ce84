"""Partition a joint forward+backward graph into the forward graph a call runs and the
backward graph `loss.backward()` runs.

This is the simplest policy, "save what the backward reads": every node the forward
replayed stays in the forward; every node the VJP rules emitted goes to the backward;
each forward value the backward reads becomes a *saved* output of the forward and an
input of the backward. Dead code on either side is left to DCE, which runs next.
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

    saved = []          # forward values the backward reads, in forward order
    seen = set()
    grad_outputs = graph.outputs[joint.n_forward_outputs:]
    for n in backward_nodes + grad_outputs:
        for i in (n.node_inputs() if n in backward_nodes else [n]):
            if i in in_forward and i not in seen:
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
    for n in cotangents:
        mapping[n] = backward.add_input(n.name, n.shape, n.dtype)
    for n in backward_nodes:
        mapping[n] = clone_node(n, mapping)
        backward.nodes.append(mapping[n])
    backward.outputs = [mapping[n] for n in grad_outputs]
    return Split(forward, backward, len(saved))


def _is_cotangent(node: Node) -> bool:
    return node.op == INPUT and node.name.startswith("grad.")
