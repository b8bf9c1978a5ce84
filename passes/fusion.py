"""Fusion: group a graph's nodes into kernels, each computing one value (its root), and
storing on the way any graph output it computes (its stores).

Groups are grown from consumers towards producers (XLA's instruction fusion): walking the
nodes from last to first, each node not yet taken roots a new group, which then pulls in
an operand's producer when

  - the producer is elementwise or a movement op (its value at any index is cheap to
    compute from its operands, so it is folded into the consumer's index arithmetic, never
    copied), and
  - every user of the producer is already in this group (so the value never needs to be
    stored: nothing outside reads it). Where the backend's Target allows (`multi_output`),
    a producer of an elementwise group's shape that is also a graph output, or is read by
    nodes after the group's root, joins too: the kernel stores it (`Group.stores`) at the
    index it stores the root, so an optimizer's momentum buffer and the parameter updated
    from it, or an activation and the value a backward kernel reads, are one kernel and
    one pass over memory, not two. Only readers after the root: a group's values are then
    read only by groups whose roots come later, so the groups still form a DAG. Only in
    kernels of elementwise ops: through a movement op a stored value would be read at
    another index than it is stored at, and computed twice.

A value that every reader could compute itself is recomputed instead of stored
(`recomputable`): an elementwise value, not a graph output, whose readers are all
elementwise ops of its shape and whose operands are graph inputs, constants, values of
kernels of their own (a product, a reduction) or recomputable themselves, at most
RECOMPUTE_MAX nodes deep. Each kernel that reads it computes it (a member of several
groups, owned by none), and it gets a kernel of its own only where some reader's kernel
could not take it. A backward that recomputes GELU from its saved input (passes/partition.py
saves the input, not the chain) then reads that input twice instead of storing tanh and its
neighbours for the second reader: the transformer MLP block's backward kept 16 MB of them
at 512 tokens (benchmarks/peak_memory.py's gelu-mlp), 4x torch's whole step.

A reduction, a fold (col2im, summed per output element) or an unfold (the im2col buffer
of a matmul, possibly through a permute that lays it out for one product over the whole
batch, or a pooling's windows) roots a group that pulls in its elementwise prologue the
same way, except costly ops that every overlapping window would recompute. An unfold is
always stored by such a kernel, never folded into another one's index arithmetic: its
own loops read the input affinely, where as an index map it divides per element read. A
matmul pulls in a transpose of an operand (BLAS reads it transposed); every other
primitive, and anything the backend cannot lower (its Target's `supported(node)` says no),
is a group of its own. What a primitive is comes from its tags (ops/registry.py), what it
costs from the backend's Target (passes/target.py).
Because a producer joins only when all its users are inside, no group can reach itself
through another group: the groups form a DAG in the graph's order, with no cycle check
needed. Every decision and every refusal, with its reason, goes into `Fusion.log`.

    before:                                  after (2 kernels):
      %0 = matmul(%x, %w)                      kernel 0 matmul: %0
      %1 = add(%0, %b)                         kernel 1 elementwise: %1 %2 %3 -> %3
      %2 = relu(%1)
      %3 = mul(%2, 2.0)
"""

from tracecomp.ir import CONSTANT, node_names

from .target import REFERENCE

ELEMENTWISE = "elementwise"
# tags of the primitives whose value at any index a kernel computes from its operands
# there (folded into a consumer's index arithmetic; the backend says which it lowers):
# elementwise math, movement (views, pad, flip, concat, unfold's windows) and index ops
# (gather, scatter_add, argmax)
POINTWISE = frozenset({ELEMENTWISE, "movement", "index"})
# the most nodes one kernel computes: a longer chain (the sum of an unrolled RNN's weight
# gradients over 1000 time steps is 1000 adds, each node with one user) is cut into kernels
# of this many, since one expression that deep takes LLVM long to compile and overflows
# Python's recursion in the backend's expression builder
MAX_MEMBERS = 128
# the most nodes a recomputed value's chain may have: each kernel that reads it computes
# them all again
RECOMPUTE_MAX = 16


class Group:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, kind, root, nodes=None, inputs=None, stores=None):
        # elementwise | reduce | [un]fold | [batched_]matmul | view | constant | opaque
        self.kind = kind
        self.root = root                # the value the group computes (see stores)
        self.nodes = [] if nodes is None else nodes     # members in graph order, root last
        # values read from outside, first use first
        self.inputs = [] if inputs is None else inputs
        # members stored besides the root (graph outputs of its shape), in graph order
        self.stores = [] if stores is None else stores
        # of a dynamic graph, its sizes hold symbols: the kernel takes the sizes' and the
        # numbers' tables (codegen/llvm/sized.py sets both)
        self.sized = False
        self.symbols = 0            # how many symbols that graph's sizes are in

    def __repr__(self):
        return f"Group({self.kind}, {self.root.name})"

    def values(self):
        """The values the group's kernel writes: its root, then its stores."""
        return [self.root, *self.stores]


class Fusion:
    def __init__(self, groups, log):
        self.groups = groups        # in an order that respects dependencies
        self.log = log              # one line per decision


def pointwise(node, target=REFERENCE):
    """Computable at any single index from its operands (POINTWISE, or a fold the target
    computes as a movement op: moving_fold)."""
    return node.op != CONSTANT and node.op != "input" and \
        (bool(POINTWISE & node.prim.tags) or moving_fold(node, target))


def moving_fold(node, target):
    """A fold whose windows tile its output (stride = kernel, no dilation or padding: a
    non-overlapping pooling's gradient) adds at most one column entry into each output
    element, so it only moves data; where the target says it computes such folds at any
    index (`tiling_folds_move`), they fuse into their consumers like a permute, instead of
    a kernel writing the whole output first."""
    return node.op == "fold" and target.tiling_folds_move and tiles(node)


def tiles(window):
    """Whether a fold's or unfold's windows tile the image: stride = kernel, no dilation or
    padding (each image element in at most one window)."""
    p = window.params
    return tuple(p["stride"]) == tuple(p["kernel"]) and tuple(p["dilation"]) == (1, 1) \
        and tuple(p["padding"]) == (0, 0)


def run(graph, target=REFERENCE) -> Fusion:
    """The groups of graph for a backend's `target` (passes/target.py)."""
    names = node_names(graph)
    users = graph.users()
    outputs = set(graph.outputs)
    order = {n: k for k, n in enumerate(graph.nodes)}
    owner, groups, log = {}, [], []
    recompute = recomputable(graph, users, outputs, target)
    covered = {n: set() for n in recompute}     # its readers whose kernels compute it
    # read from memory by some kernel: a reader recomputed in two kernels (z = log(x) -
    # log(1 - x) feeding an unfold and an add) covers its operand only if both compute it,
    # and an unfold's kernel refuses a costly log below its windows
    stored = set()
    for node in reversed(graph.nodes):
        if node in owner:
            continue
        if node in recompute and covered[node] == set(users[node]) and node not in stored:
            log.append(f"{names[node]} {node.op}: recomputed by every kernel that reads it")
            continue
        group = Group(_kind(node, target), node)
        if group.kind == "opaque" and node.op != CONSTANT:
            log.append(f"{names[node]} {node.op}: a kernel of its own "
                       f"({'no native lowering' if not target.supported(node) else 'not fusible'})")
        _grow(group, owner, users, outputs, target, names, log, order, recompute)
        members = set(group.nodes)
        for n in members:
            if n in recompute and n is not node:
                covered[n].update(u for u in users[n] if u in members)
            stored.update(x for x in n.node_inputs() if x in recompute and x not in members)
        groups.append(group)
    groups.reverse()
    for g in groups:
        g.nodes.sort(key=order.__getitem__)
        g.stores.sort(key=order.__getitem__)
        g.inputs = _external_inputs(g)
    return Fusion(groups, log)


def recomputable(graph, users, outputs, target):
    """{node: its chain's size} of the values each reading kernel computes itself instead
    of reading them (see the module docstring)."""
    found = {}
    for n in graph.nodes:       # operands first: theirs is known
        if (n in outputs or n.op == CONSTANT or ELEMENTWISE not in n.prim.tags
                or not target.supported(n) or not users[n]):
            continue
        if not all(ELEMENTWISE in u.prim.tags and u.shape == n.shape and target.supported(u)
                   for u in users[n]):
            continue
        size = 1
        for x in n.node_inputs():
            if x in found:
                size += found[x]
            elif x.op not in ("input", CONSTANT) and pointwise(x, target):
                break       # a movement op, or an elementwise value stored for a reason
        else:
            if size <= RECOMPUTE_MAX:
                found[n] = size
    return found


def _kind(node, target):
    supported = target.supported
    if node.op == CONSTANT:
        return "constant"
    if node.op == "matmul" and not supported(node):
        return "batched_matmul"     # still takes its operands' transposes (as views)
    if not supported(node):
        return "opaque"
    tags = node.prim.tags
    if "reduce" in tags and "index" not in tags:     # argmax/argmin are index maps
        return "reduce"
    if "matmul" in tags:
        return "matmul"
    if "window" in tags:        # fold / unfold kernels (each also fuses as movement where
        return node.op          # it may: an unfold always, a fold by moving_fold)
    if _transposed_im2col(node, supported):
        return "unfold"
    if node.op == "reshape":
        return "view"
    if pointwise(node, target):
        return ELEMENTWISE
    return "opaque"


def _grow(group, owner, users, outputs, target, names, log, order, recompute=()):
    group.nodes.append(group.root)
    owner[group.root] = group
    if group.kind in ("constant", "opaque", "view"):
        return
    work = [group.root]
    inside = {group.root}
    # a window op reads each operand element several times (overlapping windows): what
    # feeds it would be recomputed that often, so only cheap producers join below it
    replicated = {group.root: _replicates(group.root)}
    while work:
        consumer = work.pop()
        for producer in consumer.node_inputs():
            if producer in owner or producer in inside or producer.op in ("input", CONSTANT):
                continue
            # computed here, and by whichever other kernel reads it (read by this kernel's
            # own members alone: a member as any other; a reader recomputed here may be
            # recomputed elsewhere too)
            again = producer in recompute and not all(owner.get(u) is group
                                                      for u in users[producer])
            reason = _refusal(group, consumer, producer, owner, users, outputs, target,
                              order, again)
            if not reason and replicated[consumer] and target.cost(producer.op):
                reason = (f"{producer.op} would be recomputed for every window that reads "
                          f"its element (stored once instead)")
            if not reason and producer.op == "unfold" and group.kind != "unfold":
                reason = ("an unfold is stored by its own kernel, whose loops read the input "
                          "affinely (as an index map it divides per element read)")
            if reason:
                log.append(f"{names[producer]} {producer.op} not fused into "
                           f"{names[group.root]}: {reason}")
                continue
            inside.add(producer)
            replicated[producer] = replicated[consumer] or _replicates(producer)
            group.nodes.append(producer)
            work.append(producer)
            if again:
                log.append(f"{names[producer]} {producer.op} computed in {names[group.root]} "
                           f"{group.root.op} (recomputed by each kernel that reads it)")
                continue
            owner[producer] = group
            stored = producer in outputs or any(owner.get(u) is not group
                                                for u in users[producer])
            if stored:
                group.stores.append(producer)
            log.append(f"{names[producer]} {producer.op} fused into {names[group.root]} "
                       f"{group.root.op}" + (" (and stored by it: read after it)"
                                              if stored else ""))


def _replicates(node):
    """An unfold (a window op that moves data) reads each operand element once for every
    window that overlaps it; a fold sums each column element into one output only."""
    return {"window", "movement"} <= node.prim.tags


def _refusal(group, consumer, producer, owner, users, outputs, target, order, again=False):
    """Why producer cannot join group (None when it can). again: a recomputable value,
    which joins whoever else reads it."""
    if len(group.nodes) >= MAX_MEMBERS:
        return f"the kernel has {MAX_MEMBERS} nodes already (MAX_MEMBERS)"
    if not target.supported(producer) and group.kind != "batched_matmul":
        return "no native lowering"
    if group.kind in ("matmul", "batched_matmul"):
        if consumer is not group.root or not _is_transpose(producer):
            return "a matmul takes only transposes of its operands"
        if not target.matmul_transposes and group.kind == "matmul":
            return "the generated GEMM (no BLAS found) reads its operands as stored"
    elif not pointwise(producer, target):
        return f"{producer.op} is not elementwise"
    if group.stores and ELEMENTWISE not in producer.prim.tags:
        return "the kernel stores values at its root's index (a movement op would read them " \
               "at others)"
    outside = [] if again else [u for u in users[producer] if owner.get(u) is not group]
    if producer in outputs or outside:      # it must be stored: by this kernel?
        if not _storable(group, producer, target):
            return "it is a graph output (it must be stored)" if producer in outputs \
                else f"also read by {len(outside)} node(s) outside this kernel (stored once)"
        if any(order[u] < order[group.root] for u in outside):
            return f"also read by {len(outside)} node(s) outside this kernel, before it " \
                   f"(stored once)"
    return None


def _storable(group, producer, target):
    """Whether group's kernel may store producer at its root's index: an elementwise
    kernel of elementwise ops alone (through a movement op the value would be read at
    another index too, and computed twice) and producer of the root's shape."""
    return (target.multi_output and group.kind == ELEMENTWISE
            and producer.shape == group.root.shape
            and all(ELEMENTWISE in n.prim.tags for n in group.nodes))


def _transposed_im2col(node, supported):
    """A permute of an unfold: a conv's columns laid out for one product over the whole
    batch, or chunk-major (the batch split (J, c) by a reshape, then (J, K, c, L): one
    product per chunk of samples). The window kernel writes them in that order directly
    (or, when the unfold has other readers and stays out of the group, copies the permute
    like any elementwise kernel)."""
    if node.op != "permute" or not supported(node):
        return False
    x = node.inputs[0]
    if x.op == "reshape" and chunk_major(node):
        x = x.inputs[0]
    return x.op == "unfold" and supported(x)


def chunk_major(node):
    """Whether node is conv2d's chunk-major im2col: permute (0, 2, 1, 3) of the unfold's
    (N, K, L) reshaped to (J, c, K, L)."""
    if node.op != "permute" or tuple(node.params["dims"]) != (0, 2, 1, 3):
        return False
    x = node.inputs[0]
    if x.op != "reshape" or x.inputs[0].op != "unfold":
        return False
    n, k, length = x.inputs[0].shape
    return len(x.shape) == 4 and tuple(x.shape[2:]) == (k, length) \
        and x.shape[0] * x.shape[1] == n


def _is_transpose(node):
    dims = node.params.get("dims") if node.op == "permute" else None
    n = len(dims) if dims else 0
    return n >= 2 and tuple(dims) == tuple(range(n - 2)) + (n - 1, n - 2)


def _external_inputs(group):
    members = set(group.nodes)
    seen = []
    for n in group.nodes:
        for i in n.node_inputs():
            if i not in members and i not in seen:
                seen.append(i)
    return seen
