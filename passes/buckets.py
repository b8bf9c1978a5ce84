"""Buckets: a compiled data-parallel step's gradient all-reduces merged into few messages,
each started as soon as its gradients exist and waited for only when its result is needed.

DistributedDataParallel's forward, traced, reads every parameter through an identity whose
backward all-reduces the gradient (tracecomp/distributed/traced.py): one `all_reduce` node
per parameter. Each is a message, and a message costs a latency (~8 us between two
processes on one machine, tens of us between machines) besides its bytes, so torch's DDP
sends gradients in buckets of about 25 MB (the first one 1 MB, so that the first message
leaves early). Here the all-reduces of one kind (same op, gate and dtype) are packed the
same way, in the order the gradients are computed (the last layer's first: torch fills its
buckets in reverse parameter order for that reason), and every message is split in two:

    before:  %7 = all_reduce(%5, op='avg', gate=g)        f32[10,16]
             %9 = all_reduce(%8, op='avg', gate=g)        f32[16]
    after:   %a = reshape(%5, shape=(160,))   %b = reshape(%8, shape=(16,))
             %c = cat(%a, %b)                 %s = all_reduce_start(%c, op='avg', gate=g)
             ... the rest of the backward ...
             %d = all_reduce_wait(%s)
             %7' = reshape(narrow(%d, 0, 0, 160), (10, 16))   %9' = narrow(%d, 0, 160, 16)

The start goes right after the bucket's last gradient is computed, the wait as late as the
nodes that read its results allow (everything that does not read a pending result runs
first; then the bucket started first is waited for first), and the communication thread
(distributed/comm_thread.py) sends the message while the native code between them runs.
A bucket with little work between the two places (less than OVERLAP_WORK: a model's
only bucket, which the optimizer's update reads at once) stays one `all_reduce` there
instead: handing a message to the thread costs more than it could hide.
The nodes are ordered again: a stable topological order in which every other node keeps
its place relative to the rest. Elementwise reductions (sum, avg, max, min, product) of a
concatenation are the concatenation of the reductions, so the values are unchanged. A
bucket never holds the reduction of another member's result (depths differ), so the
buckets can always be ordered.
"""
from tracecomp import grad_mode
from tracecomp.distributed.bucketing import DEFAULT_BUCKET_MB, FIRST_BUCKET_BYTES, assign
from tracecomp.ir import Graph, Node, clone_node
from tracecomp.tracing.tracer import Tracer, wrap

# the cap of all-reduces without a DDP (a DDP's gate gives its own bucket_cap_mb)
BUCKET_BYTES = DEFAULT_BUCKET_MB * 2**20
# What a split must be able to hide to pay for itself: handing the message to the
# communication thread wakes it (~20-100 us; up to ~0.5 ms on a small VM), about the time
# of 2**20 multiply-adds or elements written on one core.
OVERLAP_WORK = 2**20


def run(graph: Graph) -> Graph:
    buckets = plan(graph)
    if not buckets:
        return graph
    order = _order(graph, buckets)
    split = _worth_splitting(order, buckets)
    if not split and all(len(b) == 1 for b in buckets):
        return graph
    from tracecomp.composite import cat
    from tracecomp.ops import collective
    new, mapping, started = Graph(graph.name), {}, {}
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
            what, k = item
            members = buckets[k]
            tracer.source_override = members[0].source
            try:
                if what == "start":
                    flat = [wrap(mapping[m.inputs[0]]) for m in members]
                    flat = flat[0] if len(flat) == 1 else cat([f.reshape(-1) for f in flat])
                    reduce = collective.all_reduce_start if k in split else collective.all_reduce
                    started[k] = reduce(flat, **members[0].params)
                    continue
                reduced, offset = started.pop(k), 0
                if k in split:
                    reduced = collective.all_reduce_wait(reduced)
                for m in members:
                    part = reduced if len(members) == 1 else \
                        reduced.narrow(0, offset, m.size).reshape(m.shape)
                    mapping[m] = tracer.lift(part)
                    mapping[m].requires_grad = m.requires_grad
                    offset += m.size
            finally:
                tracer.source_override = None
    new.outputs = [mapping[o] if isinstance(o, Node) else o for o in graph.outputs]
    return new


def plan(graph):
    """[[all_reduce nodes of one bucket], ...]: nodes of one kind (op, gate, dtype) in the
    order their operands are computed (the gradients' order of readiness), in buckets of
    the DDP's bucket_cap_mb (BUCKET_BYTES without one) and a first bucket of
    FIRST_BUCKET_BYTES, by distributed/bucketing.py's rule."""
    position = {n: k for k, n in enumerate(graph.nodes)}
    nodes = sorted((n for n in graph.nodes
                    if n.op == "all_reduce" and isinstance(n.inputs[0], Node)),
                   key=lambda n: (position.get(n.inputs[0], -1), position[n]))
    gates = {id(n.params.get("gate")): n.params.get("gate") for n in nodes}
    depth = _reductions_above(graph)

    def kind(n):    # the depth: a bucket never holds a reduction of another's result
        return n.params.get("op"), id(n.params.get("gate")), n.dtype, depth[n]

    def cap(k):
        gate = gates[k[1]]
        return BUCKET_BYTES if gate is None else gate.bucket_bytes(BUCKET_BYTES)
    return assign(nodes, lambda n: n.size * n.dtype.itemsize, kind, cap, FIRST_BUCKET_BYTES)


def _worth_splitting(order, buckets):
    """The buckets whose start and wait would have at least OVERLAP_WORK of arithmetic
    between them; the others stay one blocking all_reduce where the start would be."""
    started, work = {}, {}
    for item in order:
        if isinstance(item, Node):
            for k in started:
                work[k] += _work(item)
        elif item[0] == "start":
            started[item[1]], work[item[1]] = True, 0
        else:
            del started[item[1]]
    return {k for k in range(len(buckets)) if work[k] >= OVERLAP_WORK}


def _work(node):
    """A node's arithmetic, roughly: a product's multiply-adds, else the elements it writes."""
    if node.op == "matmul":
        return node.size * node.inputs[0].shape[-1]
    return node.size


def _reductions_above(graph):
    """{node: the most all-reduces on one path from the inputs to it, itself excluded}.
    Two all-reduces of the same depth never read each other's result, so neither do two
    buckets of them, and the buckets can be ordered."""
    depth = {}
    for n in graph.nodes:
        depth[n] = max((depth.get(x, 0) + (x.op == "all_reduce") for x in n.node_inputs()),
                       default=0)
    return depth


def _order(graph, buckets):
    """The graph's nodes, with each bucket's members replaced by ("start", k) and
    ("wait", k), in a topological order that keeps the original order wherever the
    dependencies allow (networkx's lexicographic sort by position): a start just after its
    last operand is computed (the autodiff may have put the all-reduces themselves at the
    end of the backward), a wait once nothing else can run (ranked after every node), the
    buckets started first waited for first."""
    # here, not at the top: every compile runs this pass, and importing networkx took ~0.1 s
    # of the first compile of a process that has no all-reduce to bucket
    import networkx as nx
    position = {n: k for k, n in enumerate(graph.nodes)}
    bucket_of = {n: k for k, members in enumerate(buckets) for n in members}
    rank = {n: position[n] for n in graph.nodes if n not in bucket_of}
    for k, members in enumerate(buckets):
        rank["start", k] = max(position.get(m.inputs[0], -1) for m in members) + 0.5
        rank["wait", k] = len(graph.nodes) + rank["start", k]
    deps = nx.DiGraph()
    deps.add_nodes_from(rank)
    for k in range(len(buckets)):
        deps.add_edge(("start", k), ("wait", k))
    for n in graph.nodes:
        reader = ("start", bucket_of[n]) if n in bucket_of else n
        for x in n.node_inputs():
            if x in position:
                deps.add_edge(("wait", bucket_of[x]) if x in bucket_of else x, reader)
    return list(nx.lexicographical_topological_sort(deps, key=lambda item: rank[item]))


def message_count(graph):
    """How many all-reduce messages a call of graph sends (for tests and logs)."""
    return sum(1 for n in graph.nodes if n.op in ("all_reduce", "all_reduce_start"))

