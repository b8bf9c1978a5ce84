"""Chunk loops: a convolution's im2col columns made, multiplied and folded one chunk of
samples at a time, so the whole batch's columns never sit in memory.

conv2d (nn/functional_conv.py) lays a large batch's columns out chunk-major, (J, K, c*L):
chunk j holds samples [j*c, (j+1)*c), contiguous. Each of its three products is then a
batched product over the J chunks:

    forward          out[j]  = W @ cols[j]          then bias and activation per sample
    weight gradient  dW[j]   = g[j] @ cols[j]^T     (summed over j afterwards)
    input gradient   dcol[j] = W^T @ g[j]           then folded into samples j*c.. of dx

A backend that runs such a product as a chunk loop computes, for each chunk:

    for j in chunks:   makers(j) -> scratch;  product(j);  consumer(samples of j) <- scratch
                                               (or: partial sum of the slot += product(j))

- makers: the groups computing an operand chunk-major that only this product reads (the
  unfold kernel's columns; an elementwise kernel's gradient laid out chunk-major), built
  ranged over dim 0 and called for [j, j+1), writing into a scratch chunk;
- the consumer: the group reading the product's output regrouped per sample (the fold of
  the input gradient; the forward's bias and activation), ranged over its dim 0 and called
  for the chunk's samples [j*c, (j+1)*c), reading from a scratch chunk;
- or the sum of the product's items (the weight gradient's sum over chunks): each slot
  adds its chunks' products into a partial sum of its own, and a step after the loop adds
  the slots' partials into the sum's value.

So the memory plan gives those values `slots` chunks of bytes, not J: one per piece of the
loop that threads run at once (parallel.py). What the loop's groups read or write lives
across the whole loop, since they run interleaved.

`clone_columns` gives every product its own columns: in a whole training step the forward
product and the weight gradient's read the same ones, which would then live from the
forward to the end of the backward; each reader's copy is made again from the unfold's
input (an image or a pooled activation, a fraction of the columns' size) right before it.
It runs after the graph passes (CSE would merge the copies back).

    before:                                     after:
      %c = permute(reshape(unfold(%x)))           %c = permute(reshape(unfold(%x)))
      %y = matmul(%w, %c)                         %y = matmul(%w, %c)
      ... 40 nodes ...                            ... 40 nodes ...
      %dw = matmul(%g, permute(%c))               %c' = permute(reshape(unfold(%x)))
                                                  %dw = matmul(%g, permute(%c'))
"""

from tracecomp.ir import clone_node

from .fusion import chunk_major

# the kinds of group a chunk loop runs a chunk at a time (backends build them ranged over
# dim 0): makers of an operand, and readers of the product's output per sample
MAKERS = ("unfold", "elementwise")
CONSUMERS = ("fold", "elementwise")


class ChunkLoop:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, product, makers, consumer, slots, summed=None, rows=0, over=None,
                 whole=False):
        self.product = product      # the batched matmul group, (J, m, n)
        self.makers = makers        # groups making its operands, chunk-major, a chunk at a time
        self.consumer = consumer    # the group reading its output a chunk's samples at a
        #                             time, or None
        self.slots = slots          # chunks in flight at once: one scratch chunk each
        self.summed = summed        # the sum over the chunks of its output (a weight
        #                             gradient), or None
        # a 2-D product's row loop (passes/row_loops.py): C's rows per chunk (the last chunk
        # may have fewer), and the value the consumer may write its own over (A's), or
        # None; rows 0: a batched product's loop, one item per chunk
        self.rows = rows
        self.over = over
        # a fused row loop (passes/row_loops.py): the product's value whole, written a block
        # at a time, and the consumer's written over it in place; not held a chunk at a time
        self.whole = whole

    @property
    def groups(self):
        after = self.consumer or self.summed
        return self.makers + [self.product] + ([after] if after is not None else [])

    @property
    def chunks(self):
        if self.rows:
            return -(-self.product.root.shape[0] // self.rows)
        return self.product.root.shape[0]

    def chunk_bytes(self, value):
        """The bytes of one chunk of a value the loop holds a chunk at a time."""
        if self.rows:
            return self.rows * value.size // value.shape[0] * value.dtype.itemsize
        return chunk_bytes(value)

    def scratch(self):
        """{value: bytes}: the values that live a chunk at a time, sized for `slots` chunks."""
        values = [g.root for g in self.makers]
        if (self.consumer is not None or self.summed is not None) and not self.whole:
            values.append(self.product.root)      # a chunk, or a partial sum, per slot
        return {v: self.chunk_bytes(v) * self.slots for v in values}

    def writable(self):
        """{the consumer's value: the values it may be written over in place, A's first}:
        a row loop's consumer reads a block of rows of each and writes the same rows
        (passes/row_loops.py); a batched product's loop has none."""
        if not self.rows:
            return {}
        if self.whole:
            return {self.consumer.root: [self.product.root]}
        read = set(operands(self.product))
        others = [x for x in self.consumer.inputs if x is not self.product.root and x not in read]
        return {self.consumer.root: ([self.over] if self.over is not None else []) + others}


def chunk_bytes(value):
    """The bytes of one chunk of a chunk-major value (its dim 0 is the chunk)."""
    return value.size // value.shape[0] * value.dtype.itemsize


def clone_columns(graph):
    """(graph, or a copy with every chunk-major columns value read by more than one node
    recomputed for each later reader right before it, log lines)."""
    if not _shared_columns(graph):
        return graph, []
    graph = graph.copy()
    log = []
    for value, readers in _shared_columns(graph):
        chain = [value]             # back to the unfold: [reshape,] permute, reshape, unfold
        while chain[-1].op != "unfold":
            chain.append(chain[-1].inputs[0])
        chain.reverse()
        for reader in readers[1:]:
            copies = {}
            at = graph.nodes.index(reader)
            for node in chain:
                copies[node] = clone_node(node, {**copies, **{x: x for x in node.node_inputs()
                                                              if x not in copies}})
                graph.nodes.insert(at, copies[node])
                at += 1
            reader.inputs = tuple(copies[value] if x is value else x for x in reader.inputs)
        log.append(f"chunks: columns {'x'.join(map(str, value.shape))} made again for "
                   f"{len(readers) - 1} later reader(s)")
    return graph, log


def _shared_columns(graph):
    """[(chunk-major columns value, its readers in graph order)] for those read by more
    than one node (and not graph outputs)."""
    users = graph.users()
    order = {n: k for k, n in enumerate(graph.nodes)}

    def columns(n):     # chunk-major columns, their (J, K, c*L) reshape, or an unfold that
        # only products read (a chunk a sample: conv2d's per-sample products)
        return chunk_major(n) or n.op == "reshape" and chunk_major(n.inputs[0]) or \
            n.op == "unfold" and all(_into_product(u, users) for u in users[n])
    return [(n, sorted(set(users[n]), key=order.__getitem__)) for n in graph.nodes
            if columns(n) and len(set(users[n])) > 1 and n not in graph.outputs]


def _into_product(node, users):
    """node is a product, or a transpose that only products read."""
    return node.op == "matmul" or node.op == "permute" and \
        all(u.op == "matmul" for u in users[node])


def find(graph, groups, slots):
    """(groups reordered, the chunk loops among them): a batched product with the makers of
    its operands just before it, and/or the consumer or the sum of its output just after
    it. slots: the most chunks a loop has in flight. A maker moves down to its product,
    and a consumer or a sum up to it where what it reads is computed by then (in a
    backward the weight gradient's sum often comes between a product and its fold)."""
    groups = _together(graph, list(groups))
    return groups, _loops(graph, groups, slots)


def _together(graph, groups):
    """groups with the makers of each batched product's operands right before it, and the
    consumer of its output right after it, where that keeps every group after what it
    reads (a maker is read by the product alone and stores nothing else; a consumer reads
    what is ready by then).
    Who reads what does not change as groups move: the readers are found once."""
    alias = aliases(groups)
    readers = readers_of(groups, alias)
    users = graph.users()
    makers = {g.root: g for g in groups if g.kind in MAKERS}
    for product in [g for g in groups if g.kind == "matmul" and g.root.ndim == 3]:
        for x in operands(product):
            made = makers.get(alias.get(x, x))
            # a maker that also stores a value (Group.stores) has readers of that value
            # after it, which moving it down would put before it; nor can such a maker
            # join a chunk loop (_makes_operand)
            if made is not None and not made.stores and \
                    readers.get(made.root) == {id(product)}:
                groups.remove(made)
                groups.insert(groups.index(product), made)
        mine = readers.get(product.root, set())
        after = next((g for g in groups if id(g) in mine), None) if len(mine) == 1 else None
        if after is not None and (consumes(after, product.root, users)
                                  or _sums(after, product)):
            # every value a group writes (a stored one too) is ready once it has run
            at = {v: k for k, g in enumerate(groups) for v in g.values()}
            k = at[product.root]
            if all(at.get(alias.get(x, x), -1) <= k for x in after.inputs):
                groups.remove(after)
                groups.insert(groups.index(product) + 1, after)
    return groups


def aliases(groups):
    alias = {}
    for g in groups:
        if g.kind == "view":
            x = g.root.inputs[0]
            alias[g.root] = alias.get(x, x)
    return alias


def readers_of(groups, alias):
    """{stored value: ids of the groups that read it (a view's readers read it)}."""
    readers = {}
    for g in groups:
        if g.kind != "view":
            for x in g.inputs:
                readers.setdefault(alias.get(x, x), set()).add(id(g))
    return readers


def _loops(graph, groups, slots):
    alias = aliases(groups)
    readers = readers_of(groups, alias)
    outputs = {alias.get(o, o) for o in graph.outputs}
    users = graph.users()
    steps = [k for k, g in enumerate(groups) if g.kind not in ("view", "constant")]
    loops, taken = [], set()
    for pos, k in enumerate(steps):
        product = groups[k]
        if product.kind != "matmul" or product.root.ndim != 3 or product.root.shape[0] < 2 \
                or product.root.size == 0:
            continue
        makers = []
        for back in (1, 2):         # at most one maker per operand, right before it
            g = groups[steps[pos - back]] if pos >= back else None
            if g is None or id(g) in taken or \
                    not _makes_operand(g, product, alias, readers, outputs):
                break
            makers.insert(0, g)
        after = groups[steps[pos + 1]] if pos + 1 < len(steps) else None
        alone = after is not None and product.root not in outputs \
            and readers.get(product.root) == {id(after)}
        consumer = after if alone and consumes(after, product.root, users) else None
        summed = after if alone and _sums(after, product) else None
        if makers or consumer is not None or summed is not None:
            loop = ChunkLoop(product, makers, consumer, min(slots, product.root.shape[0]),
                             summed)
            loops.append(loop)
            taken |= {id(g) for g in loop.groups}
    return loops


def operands(product):
    """The two stored values a product group reads (a transpose in the group is read
    through: the backend takes it as a flag)."""
    members = set(product.nodes)
    return [x.inputs[0] if x in members else x for x in product.root.inputs]


def _makes_operand(group, product, alias, readers, outputs):
    """Whether group computes, chunk-major, a value that only `product` reads, as
    an operand with the chunk as its batch dim: conv2d's columns (an unfold kernel), or an
    elementwise kernel's (a gradient laid out chunk-major for the weight gradient)."""
    if group.kind not in MAKERS or group.stores or group.kind == "unfold" \
            and not (chunk_major(group.root) or group.root.op == "unfold"):
        return False
    value, chunks = group.root, product.root.shape[0]
    if value in outputs or readers.get(value) != {id(product)} or value.ndim < 2 \
            or value.shape[0] != chunks:
        return False
    return any(alias.get(x, x) is value and x.ndim == 3 and x.shape[0] == chunks
               for x in operands(product))


def _sums(group, product):
    """Whether group is only the sum of the product's items (reduce_sum over dim 0): the
    weight gradient of a conv2d over chunks. The loop then adds each slot's chunks into a
    partial sum (the product's accumulating form) and the partials into the group's value,
    with no (J, m, n) buffer of items and no reduction kernel."""
    root = group.root
    return group.kind == "reduce" and group.nodes == [root] and not group.stores \
        and root.op == "reduce_sum" and tuple(root.params["dims"]) == (0,) \
        and not root.params["keepdim"] and root.inputs[0] is product.root \
        and root.dtype == product.root.dtype and root.dtype.kind == "f"


def consumes(group, value, users):
    """Whether group reads `value` (J, X, c*L) only per sample, as conv2d's products are
    read: regrouped by reshape (J, X, c, L), permute (0, 2, 1, 3), reshape (N, ...) with
    N = J*c (or as it is where c = 1), then a fold's input (the input gradient), or through
    reshapes that keep dim 0 into elementwise ops of the root's shape (the forward's bias
    and activation). Its rows [j*c, (j+1)*c) of dim 0 then read chunk j alone."""
    if group.kind not in CONSUMERS:
        return False
    members, root = set(group.nodes), group.root
    flat = _per_sample(value, users, members)
    if flat is None or root.shape[0] != flat.shape[0]:
        return False
    if group.kind == "fold":
        return root.op == "fold" and root.inputs[0] is flat and not group.stores
    derived = {flat}        # from here to the root, sample n's values stay in row n
    for n in group.nodes:
        if any(x in derived for x in n.node_inputs()):
            same = "elementwise" in n.prim.tags and tuple(n.shape) == tuple(root.shape)
            regrouped = n.op == "reshape" and n.shape[0] == n.inputs[0].shape[0]
            if not (same or regrouped):
                return False
            derived.add(n)
    return root in derived


def _per_sample(value, users, members):
    """The node of `members` holding `value` (J, X, c*L) with the sample as dim 0: the end of
    conv2d's regrouping chain, or value itself where each chunk is one sample."""
    split = users[value][0] if len(users[value]) == 1 else None
    if split is None or split not in members:
        return None
    permute = users[split][0] if split.op == "reshape" and len(users[split]) == 1 else None
    if permute is None or permute.op != "permute" \
            or tuple(permute.params["dims"]) != (0, 2, 1, 3):
        return value        # no regrouping: one sample a chunk
    if permute not in members:
        return None
    flat = users[permute][0] if len(users[permute]) == 1 else None
    chunks, _, per, _ = split.shape
    if flat is None or flat.op != "reshape" or flat not in members \
            or flat.shape[0] != chunks * per:
        return None
    return flat
