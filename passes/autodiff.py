"""Graph autodiff: from a forward graph, build the joint forward+backward graph with the
same VJP rules the eager tape uses.

The forward nodes are replayed into a new graph; then, walking them in reverse, each
differentiable node's primitive VJP is called on tensors that stand for graph values,
with the tracer active, so the rule's public ops record backward nodes (exactly as they
would run eagerly). Broadcasting and dtype promotion are undone once, by the eager
engine's own `fit_grad`. Backward nodes keep the source line of the forward node they
differentiate.

    before (forward):                    after (joint):
      graph(%x: f32[3], %w: f32[3]) {      joint(%x, %w, %grad.0: f32[]) {
        %0 = mul(%x, %w)                     %0 = mul(%x, %w)
        %1 = reduce_sum(%0, dims=(0,))       %1 = reduce_sum(%0, dims=(0,))
        return (%1)                          %2 = reshape(%grad.0, shape=(1,))
      }                                      %3 = expand(%2, shape=(3,))
                                             %4 = mul(%3, %x)
                                             return (%1, %4)      # value, d/dw
                                           }

Which inputs get gradients: those with requires_grad that some differentiable output
depends on (an unused parameter gets none, so its `.grad` stays None). Which outputs
take a cotangent: the floating (and complex) outputs that require grad. The result says
both, and how many leading nodes are the forward's, so a partitioner can split the joint
graph.

Custom autograd.Functions: their outputs pass through `custom_vjp` markers (tags "grouped"
and "grad_marker", see tracecomp/autograd/custom_vjp.py). The markers of one call form a
group, whose VJP (the user's backward) runs once, when the reverse walk reaches the group's
first member (by then every consumer of every member has handed in its gradient), with the
members' gradients and outputs as lists. A marker is the identity on its first operand and
has no other role, so the replay maps it to that operand instead of copying it.
"""

from tracecomp import grad_mode
from tracecomp.autograd.engine import fit_grad
from tracecomp.dtypes import np_kind
from tracecomp.ir import CONSTANT, Graph, Node, clone_node
from tracecomp.tracing.tracer import Tracer, wrap


class Joint:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, graph, n_forward, n_forward_outputs, grad_inputs, cotangent_outputs,
                 input_slots=None):
        # inputs: forward inputs + cotangents; outputs: forward outputs + gradients
        self.graph = graph
        self.n_forward = n_forward      # graph.nodes[:n_forward] replay the forward
        self.n_forward_outputs = n_forward_outputs
        self.grad_inputs = grad_inputs  # indices of the forward inputs that get a gradient
        # indices of the forward outputs that take a cotangent input
        self.cotangent_outputs = cotangent_outputs
        # per grad input: the cotangent slots whose outputs it feeds
        self.input_slots = input_slots


def run(forward: Graph) -> Joint:
    joint, mapping = Graph("joint"), {}
    tracer = Tracer(joint)          # from here on, joint's nodes are traced values
    for n in forward.inputs:
        mapping[n] = joint.add_input(n.name, n.shape, n.dtype, n.requires_grad)
    for n in forward.nodes:
        if n.op != CONSTANT and "grad_marker" in n.prim.tags:
            mapping[n] = mapping[n.inputs[0]]       # an identity: nothing to replay
            continue
        mapping[n] = clone_node(n, mapping, joint.node_type)
        joint.nodes.append(mapping[n])
    n_forward = len(joint.nodes)

    grads, cotangent_outputs = {}, []
    with tracer, grad_mode.no_grad():
        for k, out in enumerate(forward.outputs):
            if out.requires_grad and np_kind(out.dtype) in "fc":   # bfloat16 too
                cot = joint.add_input(f"grad.{k}", out.shape, out.dtype)
                cotangent_outputs.append(k)
                # recorded: one value returned twice sums its two cotangents in the graph
                _accumulate(grads, out, wrap(cot))
        backpropagate(forward.nodes, grads, mapping, tracer)
        # An input no output depends on (through differentiable ops) gets no gradient at
        # all, not zeros: as on torch's tape, its .grad stays None, so momentum and weight
        # decay leave an unused parameter alone.
        grad_inputs = [k for k, n in enumerate(forward.inputs)
                       if n.requires_grad and n in grads]
        results = [tracer.lift(grads[forward.inputs[k]]) for k in grad_inputs]
    joint.outputs = [mapping[o] for o in forward.outputs] + results
    reach = _slots_reaching(forward, cotangent_outputs)
    return Joint(joint, n_forward, len(forward.outputs), grad_inputs, cotangent_outputs,
                 [frozenset(reach.get(forward.inputs[k], ())) for k in grad_inputs])


def _slots_reaching(forward, cotangent_outputs):
    """{value: the cotangent slots of the outputs computed from it}. A call whose caller
    uses only some outputs (a GAN's discriminator returning validity and a label, the
    loss reading validity) leaves the parameters that feed only the others without a
    gradient, None as on torch's tape, not zeros (compiler/bridge.py)."""
    reach = {}
    for slot, k in enumerate(cotangent_outputs):
        stack = [forward.outputs[k]]
        while stack:
            v = stack.pop()
            slots = reach.setdefault(v, set())
            if slot not in slots:
                slots.add(slot)
                stack.extend(i for i in v.inputs if isinstance(i, Node))
    return reach


def backpropagate(nodes, grads, mapping, tracer):
    """Walk `nodes` (a graph's, in order) backwards; each node holding a gradient in
    `grads` (node -> tensor) runs its VJP and hands its operands their gradients. The VJP
    rules see the nodes' counterparts `mapping[node]` in the graph the tracer records into
    (the node itself when differentiating in place, see tracecomp.tracing.backward). What
    remains in `grads` afterwards are the gradients of inputs (and of constants)."""
    groups = {}             # a grouped primitive's call -> its members, in graph order
    for node in nodes:
        if node.op != CONSTANT and "grouped" in node.prim.tags:
            groups.setdefault(node.params["call"], []).append(node)
    for node in reversed(nodes):
        if node.op == CONSTANT or node.prim.vjp is None:
            continue
        if "grouped" in node.prim.tags:
            members = groups[node.params["call"]]
            if node is members[0] and any(m in grads for m in members):
                _backprop_group(members, grads, mapping, tracer)
        elif node in grads:
            _backprop(node, grads.pop(node), wrap(mapping[node], True), grads, mapping, tracer)


def _backprop_group(members, grads, mapping, tracer):
    """One VJP call for a group: gradients and outputs as lists by output index."""
    call = members[0].params["call"]
    cotangents, outs = [None] * call.n_outputs, [None] * call.n_outputs
    for m in members:
        k = m.params["index"]
        cotangents[k] = grads.pop(m, None)
        outs[k] = wrap(mapping[m], True)
    _backprop(members[0], cotangents, outs, grads, mapping, tracer)


def _backprop(node, cotangent, out, grads, mapping, tracer):
    """Run node's VJP on graph values; route each operand's gradient."""
    args = [wrap(mapping[i], i.requires_grad) if isinstance(i, Node) else i
            for i in node.inputs]
    # a custom Function's backward is user code: its ops keep its own lines
    tracer.source_override = None if "grouped" in node.prim.tags else node.source
    try:
        operand_grads = node.prim.vjp(cotangent, out, *args, **node.params)
    finally:
        tracer.source_override = None
    for operand, arg, g in zip(node.inputs, args, operand_grads):
        if g is None or not isinstance(operand, Node) or not operand.requires_grad:
            continue
        tracer.source_override = node.source
        try:
            _accumulate(grads, operand, fit_grad(g, arg))
        finally:
            tracer.source_override = None


def _accumulate(grads, node, g):
    hit = grads.get(node)
    grads[node] = g if hit is None else hit + g
