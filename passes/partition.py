"""Partition a joint forward+backward graph into the forward graph a call runs and the
backward graph `loss.backward()` runs, choosing what the forward saves for the backward and
what the backward recomputes (min-cut rematerialization, as AOTAutograd's partitioner).

Every node the forward replayed stays in the forward; every node the VJP rules emitted goes
to the backward, except elementwise ones that need no cotangent (ReLU's mask `out <= 0`):
those may be made in the forward and saved instead of what they read, when that is
smaller (a bool mask, a quarter of ReLU's float output, where nothing else in the backward
reads that output: a pool after it). A forward value the backward reads is either *saved*
(an extra output of the forward, an input of the backward, held in memory from one to the
other) or *recomputed* in the backward from values that are saved. Only cheap values are recomputed:
elementwise ops and movement ops (views, pad, flip, concat), never products, reductions,
windows, sorts or random draws. The choice is a minimum cut (min_cut.py) of a flow graph in
which each forward value v is an edge v.in -> v.out whose capacity is the cost of saving v,
its bytes (a graph input or a forward output costs nothing: it is held anyway); a value
that may not be recomputed hangs from the source, each value the backward reads leads to
the sink, and recomputing a value costs a small penalty (so equal memory is kept without
recomputing). Recomputed elementwise values fuse into the backward's kernels, where they
cost arithmetic on values those kernels read anyway.

    joint:                          forward:                  backward:
      %0 = matmul(%x, %w)             %0 = matmul(%x, %w)       (%saved.0, %grad.0)
      %1 = tanh(%0)                   %1 = tanh(%0)             %0 = tanh(%saved.0)
      %2 = mul(%1, %1)                %2 = mul(%1, %1)          ... reads %0, 1 - %0 * %0
      ...backward reads %1...         return (%2, %0)                  ^ recomputed
                                                  ^ saved: %0 (not %1 and %2)

memory_budget (tracecomp.compile's option; torch's activation_memory_budget) trades speed
for memory: None, the default, saves the fewest bytes that needs no recomputation beyond
what saves memory; 1.0 recomputes nothing but views of inputs and constants (the saved
values are exactly what the backward reads); 0.0 saves the fewest bytes the cut can reach,
recomputing whatever that takes; a value in between saves at most
    fewest + budget * (what the backward reads - fewest)
bytes, recomputing as little as that allows. Under a budget, an unfold (a convolution's
im2col columns, which only move data: 5 MB for LeNet's first layer at batch 64) may be
recomputed too; without one it is saved, as recomputing it costs a pass over memory that
the default never pays, except for columns that conv2d multiplies in chunks of samples (a
large batch): the backend then makes them a chunk at a time before each product anyway.
"""
import functools
import math

from tracecomp.ir import CONSTANT, INPUT, Graph, Node, clone_node
from tracecomp.ops.conv import chunk_samples
from tracecomp.passes import ranges
from tracecomp.passes.min_cut import FlowGraph

RECOMPUTABLE = frozenset({"elementwise", "movement"})
NOT_RECOMPUTABLE = frozenset({"window", "random", "guard", "index", "reduce", "matmul",
                              "scan", "sort"})
UNFOLD = frozenset({"window", "movement"})     # the tags of an unfold (im2col)
SAVE_WEIGHT = 16        # the cost of saving a byte, against recomputing an element (1)
MAX_CANDIDATES = 20_000  # values beyond which the cut is not tried (its time grows faster)


class Split:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, forward, backward, n_saved, log=None):
        self.forward = forward      # outputs: the forward's own outputs, then the saved values
        # inputs: the saved values, then the cotangents; outputs: gradients
        self.backward = backward
        self.n_saved = n_saved
        self.log = [] if log is None else log   # what was saved and recomputed, for dumps


def run(joint, memory_budget=None) -> Split:
    graph = joint.graph
    forward_nodes = graph.nodes[:joint.n_forward]
    in_forward = set(forward_nodes) | {n for n in graph.inputs if not _is_cotangent(n)}
    # backward nodes that need no cotangent may be made in the forward and saved instead
    # of what they read: ReLU's mask (`out <= 0`, bool) rather than its float output
    early = _early(graph.nodes[joint.n_forward:], in_forward)
    backward_nodes = [n for n in graph.nodes[joint.n_forward:] if n not in early]
    in_forward |= set(early)
    cotangents = [n for n in graph.inputs if _is_cotangent(n)]
    grad_outputs = graph.outputs[joint.n_forward_outputs:]
    held = set(graph.inputs) | set(graph.outputs[:joint.n_forward_outputs])
    order = {n: k for k, n in enumerate(graph.inputs + forward_nodes + list(early))}
    reads = _backward_reads(backward_nodes, grad_outputs, in_forward)
    saved, recomputed, how = choose(reads, held, order, memory_budget)

    forward = Graph("forward")
    forward.inputs = [n for n in graph.inputs if not _is_cotangent(n)]
    # the early nodes the saved values need, after the forward's own
    made = _made_from(saved, early)
    forward.nodes = list(forward_nodes) + [n for n in early if n in made]
    forward.outputs = list(graph.outputs[:joint.n_forward_outputs]) + saved

    backward, mapping = Graph("backward"), {}
    for k, n in enumerate(saved):
        name = f"saved.{n.name}" if n.op == INPUT else f"saved.{k}"
        # a leaf keeps its requires_grad: the backward computes its gradient, and
        # lowering.differentiated marks it `trained` (an optimizer's update writes it after)
        mapping[n] = backward.add_input(name, n.shape, n.dtype,
                                        n.op == INPUT and n.requires_grad)
        if n.op != INPUT:
            # computed by the forward for this backward alone: a backend may reuse its
            # memory once it is read (codegen/llvm/runtime/lodging.py)
            mapping[n].params["residual"] = True
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
    log = [how, f"saved {len(saved)} values, {_mb(saved, held)} MB beyond inputs and "
                f"outputs; recomputed {len(recomputed)} in the backward"]
    log += [f"  saved       {describe(n)}" for n in saved]
    log += [f"  recomputed  {describe(n)}" for n in recomputed]
    return Split(forward, backward, len(saved), log)


def choose(reads, held, order, memory_budget=None):
    """(saved values, recomputed values, how it was decided), each in forward order, for
    the forward values `reads` that the backward reads; `held` values (inputs, forward
    outputs) cost nothing to save; `order` numbers the forward values (determinism: the
    cut among equal ones follows the flow graph's order)."""
    region = sorted(_candidates(reads, windows=memory_budget is not None),
                    key=order.__getitem__)
    if not region:
        return sorted(reads, key=order.__getitem__), [], \
            "partition: nothing recomputable; saving what it reads"
    if len(region) > MAX_CANDIDATES:
        return sorted(reads, key=order.__getitem__), [], (
            f"partition: {len(region)} recomputable values, over {MAX_CANDIDATES}: saving "
            f"what the backward reads, uncut")
    values = sorted(set(reads) | set(region) | _frontier(region), key=order.__getitem__)
    cut = functools.partial(_cut, reads, set(region), values, held)
    if memory_budget is None:
        saved = cut(penalty=1)
        how = "partition: min-cut (recompute only where it saves memory)"
    else:       # checked by tracecomp.compile: 0.0 <= memory_budget <= 1.0
        saved = _within_budget(cut, held, memory_budget)
        how = f"partition: min-cut within memory_budget={memory_budget}"
    return saved, sorted(_needed(reads, saved), key=order.__getitem__), how


def _within_budget(cut, held, budget):
    """The saved set of the largest recompute penalty (least recomputation) whose bytes fit
    fewest + budget * (most - fewest): a bisection over the penalty, ~15 cuts."""
    fewest_set, most_set = cut(penalty=0), cut(penalty=math.inf)
    fewest, most = _bytes(fewest_set, held), _bytes(most_set, held)
    allowed = fewest + budget * (most - fewest)
    if most <= allowed:
        return most_set
    low, high, best = 0.0, 1.0, fewest_set
    while high < 2**40:                     # grow until the penalty is too large
        saved = cut(penalty=high)
        if _bytes(saved, held) > allowed:
            break
        low, high, best = high, high * 4, saved
    for _ in range(12):
        middle = (low + high) / 2
        saved = cut(penalty=middle)
        if _bytes(saved, held) <= allowed:
            low, best = middle, saved
        else:
            high = middle
    return best


def _cut(reads, region, values, held, penalty):
    """The values to save: a minimum cut between the source (what must be computed in the
    forward) and the sink (what the backward reads), each value's edge weighing what saving
    it costs; recomputing a value costs `penalty` per element (inf: only views and
    constants are recomputed) plus one."""
    flow, inf = FlowGraph(), math.inf
    flow.add_node("source")     # (either may have no edge)
    flow.add_node("sink")
    for v in values:
        flow.add_edge((v, "in"), (v, "out"), capacity=0 if v in held else
                      _nbytes(v) * SAVE_WEIGHT)
        if v not in region:
            flow.add_edge("source", (v, "in"), capacity=inf)     # computed in the forward
            continue
        # recomputing costs `penalty` per element, and 1 more per value: among cuts that
        # save the same bytes, the one recomputing fewest values (max-flow alone may return
        # any of them: one recomputed LeNet's views too, and needed 9 MB more arena)
        work = 0 if _free(v) or not v.size else penalty * v.size    # (inf * 0 is nan)
        flow.add_edge("source", (v, "in"), capacity=work + 1)
        for x in v.node_inputs():
            flow.add_edge((x, "out"), (v, "in"), capacity=inf)
    for v in reads:
        flow.add_edge((v, "out"), "sink", capacity=inf)
    source_side = flow.source_side("source", "sink")
    return [v for v in values if (v, "in") in source_side and (v, "out") not in source_side]


def _needed(reads, saved):
    """The forward values the backward recomputes: those it reads, and the values those are
    made from, back to what is saved."""
    saved = set(saved)
    needed, stack = {}, [v for v in reads if v not in saved]
    while stack:
        v = stack.pop()
        if v in needed:
            continue
        needed[v] = None
        stack.extend(x for x in v.node_inputs() if x not in saved)
    return list(needed)


def _candidates(reads, windows=False):
    """The recomputable forward values the backward could reach: the values it reads and
    their recomputable ancestors (with `windows`, unfolds too)."""
    region, stack = set(), [v for v in reads if recomputable(v, windows or chunked_columns(v))]
    while stack:
        v = stack.pop()
        if v in region:
            continue
        region.add(v)
        stack.extend(x for x in v.node_inputs()
                     if recomputable(x, windows or chunked_columns(x)))
    return region


def chunked_columns(x):
    """Whether x is an unfold large enough that conv2d multiplies it in chunks of samples
    (ops/conv.chunk_samples): the backend then makes its columns a chunk at a time right
    before each product (passes/chunks.py), so making them again in the backward costs
    about what reading saved ones would, and saves holding them from forward to backward."""
    if x.op != "unfold" or not isinstance(x.shape[0], int) or x.shape[0] < 2:
        return False
    n = x.shape[0]
    return chunk_samples(n, x.size // n * x.dtype.itemsize) < n


def _frontier(region):
    """Values a recomputed value may read that are not themselves recomputable."""
    return {x for v in region for x in v.node_inputs() if x not in region}


def recomputable(node, windows=False):
    """Cheap to compute again from its operands: elementwise and movement ops, constants;
    with `windows`, also an unfold (a window op that only moves data)."""
    if node.op == CONSTANT:
        return True
    if node.op == INPUT:
        return False
    tags = node.prim.tags
    if windows and UNFOLD <= tags:
        return True
    return bool(tags & RECOMPUTABLE) and not tags & NOT_RECOMPUTABLE


def _free(node):
    """Recomputing it is index arithmetic or a constant: nothing per element."""
    return node.op == CONSTANT or node.prim.is_view


def _early(backward_nodes, in_forward):
    """{node: None} (ordered) of the backward nodes the forward could compute: elementwise
    ones that read only forward values and each other, no cotangent (a view there costs
    nothing to make again in the backward, and a constant is one)."""
    early = {}
    for n in backward_nodes:
        if n.op != CONSTANT and "elementwise" in n.prim.tags and recomputable(n) \
                and n.node_inputs() and all(x in in_forward or x in early
                                            for x in n.node_inputs()):
            early[n] = None
    return early


def _made_from(saved, early):
    """The early nodes among the saved values and the ones they are computed from."""
    made, stack = set(), [v for v in saved if v in early]
    while stack:
        v = stack.pop()
        if v not in made:
            made.add(v)
            stack.extend(x for x in v.node_inputs() if x in early)
    return made


def _backward_reads(backward_nodes, grad_outputs, in_forward):
    """The forward values the backward nodes read (and gradients that are forward values),
    in the order first read."""
    reads = {}          # an ordered set
    for n in backward_nodes:
        for x in n.node_inputs():
            if x in in_forward:
                reads[x] = None
    for n in grad_outputs:
        if n in in_forward:
            reads[n] = None
    return list(reads)


def _nbytes(node):
    return node.size * node.dtype.itemsize


def _bytes(values, held):
    return sum(_nbytes(v) for v in values if v not in held)


def _mb(values, held):
    return f"{_bytes(values, held) / 2**20:.2f}"


def describe(node):
    """A value as the memory logs show it: its op (an input's name) and its shape and dtype."""
    dims = "x".join(map(str, node.shape)) or "scalar"
    what = f"input {node.name}" if node.op == INPUT else node.op
    return f"{what} {dims} {node.dtype}"


def _is_cotangent(node: Node) -> bool:
    return node.op == INPUT and node.name.startswith("grad.")
