"""Row loops: a 2-D product and the elementwise kernel that reads it, run a block of rows
at a time, so the product's whole value never sits in memory and the kernel's value can
be written over a buffer the loop is done with.

In a training step's backward, a layer's input gradient is a product followed by its
activation's mask:

    %dx = matmul(%dh2, %w2)                  (M, N)
    %dh1 = where(gt(%h1, 0), %dx, 0)         (M, N), reads %dx row by row

Run as two steps, %dx needs a buffer of its own while %dh2 (the product's A) is still
live, and %dh1 can take only %dx's buffer: at batch 512 the bench MLP's step held both
%dh2 and %dx, 1 MiB of arena, against torch's 1.0 MB step. As a row loop (a chunk loop,
passes/chunks.py, over blocks of C's rows):

    for j in blocks:   C rows j = A rows j @ B  -> scratch;  %dh1 rows j <- where(scratch)

block j of the product reads only block j of A's rows, and the kernel writes only block j
of its value's rows: so its value may take A's buffer (the next block's rows are still
unread, the done ones are read no more), or that of another input it reads at the same
index for the last time (%h1 where %dh2 is shaped otherwise). The product's value lives a
block per thread (the scratch). Other readers of A that come after the product and need
nothing it makes (the weight gradient %dh2^T @ %h1) move before it, so that A's last
reader is the loop. The arena of the bench MLP's step at batch 512 goes from 1 MiB to
half that and a few blocks.

A forward layer's product that nothing later writes over (inference) may instead be a
fused row loop (`_fused_loop`, the backend choosing its rows): its value whole, written a
block at a time, and its activation run on each block right after, on the same thread.

A product becomes a memory-saving row loop only where that saves memory: its C has at least
MIN_BLOCKS_PER_SLOT blocks for every slot the loop runs at once (the scratch is then at
most a quarter of C), A is read as stored (so a block of its rows is contiguous), and the
kernel has a buffer to write over. Smaller products (the MLP at batch 64) stay as they
are: their blocks would be too few rows to be worth a call each.
"""
from .chunks import ChunkLoop, aliases, consumes, operands, readers_of

MIN_BLOCKS_PER_SLOT = 4


def find(graph, groups, slots, rows, taken=(), fused=lambda product: 0):
    """(groups, possibly reordered, the row loops among them). rows: C's rows per block
    (the backend's choice: a multiple of its GEMM tile), 0 for none; slots: the blocks
    in flight at once (one per thread); taken: ids of groups already in chunk loops.
    fused(product): the rows per block of a fused row loop (see below) for a product that
    gets no memory-saving one, 0 for none."""
    groups = list(groups)
    users = graph.users()
    loops, taken = [], set(taken)
    for product in [g for g in groups if g.kind == "matmul" and g.root.ndim == 2]:
        if id(product) in taken:
            continue
        loop = _row_loop(graph, groups, product, slots, rows, users, taken) if rows > 0 \
            else None
        if loop is None and fused(product) > 0:
            loop = _fused_loop(graph, groups, product, slots, fused(product), users, taken)
        if loop is not None:
            loops.append(loop)
            taken |= {id(g) for g in loop.groups}
    return groups, loops


def _fused_loop(graph, groups, product, slots, rows, users, taken):
    """A fused row loop: the product's blocks of rows written into its own buffer, each
    followed on the same thread by the kernel that reads them, written over them in place
    (as it is without the loop). No memory is saved: the kernel reads rows still in the
    core's cache that one call made, instead of after a second split over threads, where
    half of each row block comes from the other core. The bench MLP's inference at batch
    64 (znver4, alternating processes, blocks of 8 rows): ~184-186 -> ~182-183 us when
    quiet, ~219 -> ~194 us in a noisy stretch (two splits fewer, so less exposed to a
    descheduled thread)."""
    blocks = -(-product.root.shape[0] // rows)
    if blocks < 2:
        return None
    found = _consumer(graph, groups, product, users, taken)
    if found is None:
        return None
    consumer, steps, alias, _, _ = found
    between = steps[steps.index(product) + 1:steps.index(consumer)]
    if not _movable(groups, product, between, alias, taken):
        return None
    _move_before(groups, product, between)
    return ChunkLoop(product, [], consumer, min(slots, blocks), rows=rows, whole=True)


def _row_loop(graph, groups, product, slots, rows, users, taken):
    """The row loop of `product`, or None where it would not save memory or cannot be
    run a block at a time. Moves groups in `groups` where the loop is made: those between
    the product and its consumer, and A's other readers after it, to before it (none of
    another loop's: `taken`, whose groups stay together)."""
    blocks = -(-product.root.shape[0] // rows)
    if blocks < MIN_BLOCKS_PER_SLOT * slots:
        return None
    found = _consumer(graph, groups, product, users, taken)
    if found is None:
        return None
    consumer, steps, alias, readers, outputs = found
    c = steps.index(consumer)
    between = steps[steps.index(product) + 1:c]     # none reads the product: may run before
    if not _movable(groups, product, between, alias, taken):
        return None
    a = alias.get(operands(product)[0], operands(product)[0])
    a_later = between + [g for g in steps[c + 1:] if id(g) in readers.get(a, ())]
    over = a if _movable(groups, product, a_later, alias, taken) else None
    moved = a_later if over is not None else between
    if not _can_write_over(consumer, over, product, readers, moved, steps, alias, outputs):
        return None
    _move_before(groups, product, moved)
    return ChunkLoop(product, [], consumer, min(slots, blocks), rows=rows, over=over)


def _consumer(graph, groups, product, users, taken):
    """(the elementwise group that alone reads the product's value, row by row; the
    groups that are steps; aliases; readers; the graph's outputs), or None where there is
    none, the product reads A transposed (a block's rows would be strided) or the value
    is an output."""
    root = product.root
    if root.size == 0 or root.inputs[0] in set(product.nodes):
        return None
    alias = aliases(groups)
    outputs = {alias.get(o, o) for o in graph.outputs}
    readers = readers_of(groups, alias)
    mine = readers.get(root, set())
    if root in outputs or len(mine) != 1:
        return None
    steps = [g for g in groups if g.kind not in ("view", "constant")]
    consumer = next(g for g in steps if id(g) in mine)
    if id(consumer) in taken or not consumes(consumer, root, users):
        return None
    return consumer, steps, alias, readers, outputs


def _move_before(groups, product, moving):
    for g in moving:     # in their order, just before the product
        groups.remove(g)
        groups.insert(groups.index(product), g)


def _movable(groups, product, moving, alias, taken):
    """Whether the groups `moving` (after `product`, in their order) may all run just
    before it: none is another loop's, and each reads only what is made before the
    product or by one of them before it."""
    if any(id(g) in taken for g in moving):
        return False
    made = {}       # stored value -> position of the group that makes it
    for k, g in enumerate(groups):
        for v in g.values():
            made[v] = k
    start = next(k for k, g in enumerate(groups) if g is product)
    ready = set()
    for g in moving:
        if any(made.get(alias.get(x, x), -1) >= start and alias.get(x, x) not in ready
               for x in g.inputs):
            return False
        ready.update(g.values())
    return True


def _can_write_over(consumer, over, product, readers, moved, steps, alias, outputs):
    """Whether the consumer's value has a buffer of the same bytes to take: A's (`over`,
    read last by the loop once `moved` run before it), or an input that no group after
    the consumer reads."""
    value = consumer.root
    made = {v for g in steps for v in g.values()}

    def fits(x):    # made here, or an activation compile(model)'s forward saved for it
        return (x in made or x.params.get("residual")) and x not in outputs \
            and x.shape == value.shape and x.dtype.itemsize == value.dtype.itemsize
    if over is not None and fits(over):
        return True
    moved = {id(g) for g in moved}
    after = {id(g) for g in steps[steps.index(consumer) + 1:]} - moved
    for x in consumer.inputs:
        base = alias.get(x, x)
        if base is not product.root and fits(base) and base not in operands(product) \
                and not readers.get(base, set()) & after:
            return True
    return False
