"""Buckets: a compiled data-parallel step's gradient all-reduces merged into few messages.

DistributedDataParallel's forward, traced, reads every parameter through an identity whose
backward all-reduces the gradient (tracecomp/distributed/traced.py): one `all_reduce` node
per parameter. Each is a message, and a message costs a latency (~8 us between two
processes on one machine, tens of us between machines) besides its bytes, so torch's DDP
sends gradients in buckets of about 25 MB. Here the all-reduces of one kind (same op, gate
and dtype) are packed the same way, in reverse graph order as torch fills its buckets (the
last layer's gradients are ready first):

    before:  %7 = all_reduce(%5, op='avg', gate=g)        f32[10,16]
             %9 = all_reduce(%8, op='avg', gate=g)        f32[16]
    after:   %a = reshape(%5, shape=(160,))   %b = reshape(%8, shape=(16,))
             %c = cat(%a, %b)                 %d = all_reduce(%c, op='avg', gate=g)
             %7' = reshape(narrow(%d, 0, 0, 160), (10, 16))   %9' = narrow(%d, 0, 160, 16)

A bucket's node waits for all its gradients, so the nodes are ordered again (a stable
topological order: every other node keeps its place relative to the rest). Elementwise
reductions (sum, avg, max, min, product) of a concatenation are the concatenation of the
reductions, so the values are unchanged. A graph with fewer than two all-reduces of a kind
comes back as it is.
"""
import networkx as nx

from tracecomp import grad_mode
from tracecomp.distributed.bucketing import DEFAULT_BUCKET_MB, assign
from tracecomp.ir import Graph, Node, clone_node
from tracecomp.tracing.tracer import Tracer, wrap

# the cap of all-reduces without a DDP (a DDP's gate gives its own bucket_cap_mb)
BUCKET_BYTES = DEFAULT_BUCKET_MB * 2**20


def run(graph: Graph) -> Graph:
    buckets = plan(graph)
    if not buckets:
        return graph
    from tracecomp.composite import cat
    from tracecomp.ops import collective
    bucket_of = {n: k for k, members in enumerate(buckets) for n in members}
    order = _order(graph, buckets, bucket_of)
    new, mapping = Graph(graph.name), {}
    tracer = Tracer(new)
    for n in graph.inputs:
        mapping[n] = new.add_input(n.name, n.shape, n.dtype, n.requires_grad)
        mapping[n].params = dict(n.params)
    with tracer, grad_mode.no_grad():
        for item in order:
            if isinstance(item, Node):
                mapping[item] = clone_node(item, mapping, new.node_type)
                new.nodes.append(mapping[item])
                continue
            members = buckets[item]
            first = members[0]
            tracer.source_override = first.source
            try:
                flat = cat([wrap(mapping[m.inputs[0]]).reshape(-1) for m in members])
                reduced = collective.all_reduce(flat, **first.params)
                start = 0
                for m in members:
                    part = reduced.narrow(0, start, m.size).reshape(m.shape)
                    mapping[m] = tracer.lift(part)
                    mapping[m].requires_grad = m.requires_grad
                    start += m.size
            finally:
                tracer.source_override = None
    new.outputs = [mapping[o] if isinstance(o, Node) else o for o in graph.outputs]
    return new


def plan(graph):
    """[[all_reduce nodes of one bucket], ...]: nodes of one kind (op, gate, dtype) in
    reverse graph order, in buckets of the DDP's bucket_cap_mb (BUCKET_BYTES without one),
    by distributed/bucketing.py's rule; buckets of one node are left out (nothing to merge).
    No small first bucket: the buckets' messages do not overlap the backward here."""
    nodes = [n for n in reversed(graph.nodes)
             if n.op == "all_reduce" and isinstance(n.inputs[0], Node)]
    gates = {id(n.params.get("gate")): n.params.get("gate") for n in nodes}

    def kind(n):
        return n.params.get("op"), id(n.params.get("gate")), n.dtype

    def cap(k):
        gate = gates[k[1]]
        return BUCKET_BYTES if gate is None else gate.bucket_bytes(BUCKET_BYTES)
    buckets = assign(nodes, lambda n: n.size * n.dtype.itemsize, kind, cap)
    return [b for b in buckets if len(b) > 1]


def _order(graph, buckets, bucket_of):
    """The graph's nodes with each bucket as one item, in a topological order that keeps
    the original order wherever the dependencies allow (networkx's lexicographic sort by
    position; a bucket sits at its last member's position)."""
    position = {n: k for k, n in enumerate(graph.nodes)}

    def item(n):
        return bucket_of.get(n, n)
    rank = {n: position[n] for n in graph.nodes if n not in bucket_of}
    rank.update({k: max(position[m] for m in members) for k, members in enumerate(buckets)})
    deps = nx.DiGraph()
    deps.add_nodes_from(rank)
    for n in graph.nodes:
        for x in n.node_inputs():
            if x in position and item(x) != item(n):
                deps.add_edge(item(x), item(n))
    return list(nx.lexicographical_topological_sort(deps, key=rank.__getitem__))


def message_count(graph):
    """How many all-reduce messages a call of graph sends (for tests and logs)."""
    return sum(1 for n in graph.nodes if n.op == "all_reduce")

