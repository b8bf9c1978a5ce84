"""Rematerialization within one graph: a cheap value read early and again much later is
computed a second time just before the late reads, so its buffer is free in between.

A whole training step compiled as one graph (forward, loss, backward and update traced
together) has no forward/backward split for partition.py to cut: the backward's reads of
forward values are plain uses, late in the same graph, and the arena keeps each value from
its first to its last use. LeNet's step kept the first convolution's im2col columns (4.8 MB
at batch 64) from the forward product to the weight gradient at the very end, and the
second's (3.7 MB) across the whole backward. Under `memory_budget` (tracecomp.compile's
option) this pass recomputes such values from what is alive at the late use anyway:

    %1 = unfold(%x)  ...forward product reads %1...  [60 nodes]  %90 = matmul(%88, %1)
    ->
    %1 = unfold(%x)  ...forward product reads %1...  [60 nodes]  %1' = unfold(%x)
                                                                  %90 = matmul(%88, %1')

A value qualifies when partition.py would recompute it under a budget (elementwise and
movement ops, unfolds), the gap between its early and late reads spans at least MIN_GAP of
the graph's nodes, it is at least MIN_BYTES, and what its recomputation must keep alive
across the gap (the values it is made from that would otherwise die earlier) is at most
1/GAIN of its size. memory_budget=1.0 recomputes nothing; 0.0 every value that qualifies;
a budget in between the values that free the most bytes first, until they free
(1 - budget) of what all of them would. The clones come right before the first late read,
after simplification (CSE would merge them back), and the pass log says what was
recomputed.
"""
from tracecomp.ir import CONSTANT, INPUT, Node, clone_node
from tracecomp.passes.partition import recomputable

MIN_GAP = 0.2           # of the graph's nodes between the early and the late reads
MIN_BYTES = 1 << 16
GAIN = 4                # bytes freed over bytes kept alive longer


def run(graph, memory_budget):
    """(a copy of graph with long-lived cheap values recomputed before their late reads,
    log lines)."""
    graph = graph.copy()
    if memory_budget is None or memory_budget >= 1.0:
        return graph, []
    plans = sorted(_plans(graph), key=lambda p: -p[0])
    allowed = (1.0 - memory_budget) * sum(freed for freed, *_ in plans)
    log, done = [], 0
    for freed, value, chain, late in plans:
        if done >= allowed:
            break
        _apply(graph, value, chain, late)
        done += freed
        log.append(f"  recomputed  {value.op} {'x'.join(map(str, value.shape))} "
                   f"({freed / 2**20:.2f} MB free between its reads, {len(chain)} nodes "
                   f"computed again)")
    head = f"remat: memory_budget={memory_budget}: recomputed {len(log)} values, " \
           f"{done / 2**20:.2f} MB not held across the graph"
    return graph, [head] + log


def _plans(graph):
    """(bytes freed, value, its recompute chain, the late readers) per value worth it."""
    order = {n: k for k, n in enumerate(graph.nodes)}
    users = graph.users()
    outputs = set(graph.outputs)
    span = max(1, round(MIN_GAP * len(graph.nodes)))
    plans = []
    for v in graph.nodes:
        if v in outputs or not recomputable(v, windows=True) or _nbytes(v) < MIN_BYTES:
            continue
        reads = sorted({order[u] for u in users[v]})
        if len(reads) < 2:
            continue
        gap, cut = max((b - a, b) for a, b in zip(reads, reads[1:]))
        if gap < span:
            continue
        late = [u for u in users[v] if order[u] >= cut]
        chain, kept = _chain(v, cut, order, users, outputs)
        if kept * GAIN <= _nbytes(v):
            plans.append((_nbytes(v), v, chain, late))
    return plans


def _chain(value, cut, order, users, outputs):
    """(the nodes to compute again, in graph order, ending with value; the bytes of the
    values they read that are not recomputable and that recomputing keeps alive up to
    position `cut`). What is alive there anyway (inputs, constants, values read later) is
    read as it is."""
    chain, kept, stack, seen = [], 0, [value], set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n is not value and _alive_at(n, cut, order, users, outputs):
            continue
        if n is value or recomputable(n, windows=True):
            chain.append(n)
            stack.extend(n.node_inputs())
        else:
            kept += _nbytes(n)      # not recomputable: held until the late reads
    return sorted(chain, key=order.__getitem__), kept


def _alive_at(node, at, order, users, outputs):
    """Whether node's buffer is held at position `at` without this pass."""
    return node.op in (INPUT, CONSTANT) or node in outputs or \
        any(order[u] >= at for u in users[node])


def _apply(graph, value, chain, late):
    """Clone chain before the first late reader and make the late readers read the clone."""
    mapping = {}
    clones = []
    for n in chain:
        clone = clone_node(n, _Through(mapping))
        mapping[n] = clone
        clones.append(clone)
    at = graph.nodes.index(min(late, key=graph.nodes.index))
    graph.nodes[at:at] = clones
    for u in late:
        u.inputs = tuple(mapping[value] if x is value else x for x in u.inputs)


class _Through(dict):
    """A mapping that leaves nodes it does not hold as they are."""

    def __missing__(self, key):
        return key


def _nbytes(node: Node):
    return node.size * node.dtype.itemsize
