"""Memory planning: where each fused group's value lives while a compiled graph runs.

A backend that runs the groups of `fusion.run` in order needs a buffer per group value (its
root's, and each of its `stores`, which are graph outputs).
This pass lays the values that live only inside one call (intermediates) out in ONE arena
that a runner allocates once and reuses across calls, so a call allocates only its outputs:

  - each stored intermediate gets a byte offset in the arena (64-byte aligned);
  - two values share bytes only when their live ranges are disjoint. A value is live from
    the step of its group to the last step that reads it or any view of it, both ends
    included, so a kernel's output never overlaps one of its own inputs;
  - placement is greedy by size (the largest buffer first, each at the lowest aligned
    offset where it overlaps no placed buffer live at the same time), which reuses the
    ranges freed by dead values;
  - a view group (reshape of a contiguous value) allocates nothing: it aliases its base's
    buffer, and keeps the base alive as long as it is read;
  - graph outputs are never in the arena: they are allocated fresh per call (`fresh`), as
    is the base of an output view, so no later call can overwrite a returned array;
  - constants, graph inputs and values the backend allocates itself (`stored(group)` is
    False: a numpy fallback's result) have no buffer here; views of them alias them;
  - an output's buffer holds nothing until the kernel that computes the output writes it,
    so scratch values that die before that step may live in it instead of the arena
    (`hosted`, when `hosts(output)` allows it): a training step's weight gradient is
    written by its last product, and the activations and gradients the backward computes
    before it fit in it. The arena then holds only what is live when the outputs are
    written, as an allocator that reuses freed memory (torch's) would. A donated output
    (passes/donation.py) may be an input's own array, whose old value is still read: the
    backend keeps those out of `hosts`;
  - `guests`: inputs a caller may lay out in an output's buffer, when that output is
    written after their last read (`MemoryPlan.guests`, placed with the hosted values,
    live from the call's start). compile(model)'s forward saves its activations for one
    backward only; the backward's runner (codegen/llvm/runtime/lodging.py) has the
    forward write them into the free buffer of the weight gradient it writes last, so a
    step needs no memory of its own for them, as torch frees its saved activations
    before it allocates the last gradients. A guest no output's buffer can hold lies in
    the arena (`MemoryPlan.arena_guests`) where it fits in bytes the arena has anyway:
    the forward may then write it into the arena the backward will run in. A call whose
    inputs lie elsewhere runs on the same plan: the guests' bytes are then unused. A row
    loop's mask (passes/row_loops.py) may take a guest's place as it takes a value's
    (`writable`): the guest is then placed as the buffer of the values written over it,
    and a caller that put the activation elsewhere leaves that place to the mask alone;
  - with `in_place`, an elementwise kernel may write its value over an input it reads for
    the last time, at the same index only (in_place.py: a relu over its product, a mask
    over the gradient it masks): the two are one buffer, live from the first's kernel to
    the last reader of the second (`taken` says which took which). The bench MLP's whole
    step at batch 512 then keeps 1.0 MB of arena instead of 1.5;
  - `partials`: a product a backend splits along K writes each block's partial product
    but the first somewhere else, and adds them into its value right after (its sum
    runs before the next group): those are one more value (`PartialProducts`), live in
    the product's step only, so they may lie in bytes the arena has anyway or in an
    output's buffer not yet written, where a larger value of the product's own would
    have lived as long as it does. As with the arena guests, they are planned only where
    they cost no arena bytes: else `MemoryPlan.partials` is empty.

    before (groups, f32):                    after:
      kernel0 %0 = matmul(%x, %w1)  64x256     %0 -> arena[0, 65536)
      kernel1 %1 = relu(%0)         64x256     %1 -> arena[65536, 131072)
      kernel2 %2 = matmul(%1, %w2)  64x256     %2 -> arena[0, 65536)   (%0 is dead by then)
      kernel3 %3 = relu(%2)         output     %3 -> fresh per call
      arena: 3 buffers in 131072 bytes (vs 196608 without reuse)
"""

import numpy as np

from tracecomp.ir import node_names

from . import in_place as in_place_kernels

ALIGN = 64
NO_BUFFER = ("constant", "view")      # group kinds that never get a buffer of their own


class PartialProducts:
    """The partial products of a product split along K, but the first block's (which the
    product's own buffer takes): `count` values of its shape, in one buffer."""
    def __init__(self, product, count):
        self.product, self.count = product, count

    @property
    def size(self):
        return self.count * self.product.size

    @property
    def dtype(self):
        return self.product.dtype

    @property
    def op(self):           # (as the plan's log names a value)
        return f"partial products ({self.count})"


class MemoryPlan:
    # a plain class, as the other records a compile makes (Group, Step, Artifact, ...): a
    # dataclass costs ~0.3-0.6 ms to define, on the imports that a compiled call's first
    # run from the disk cache pays (benchmarks/compile_latency.py's warm start)
    def __init__(self, offsets, sizes, lives, alias, fresh, peak, unshared, hosted=None,
                 guests=None, arena_guests=None, taken=None, partials=None):
        self.offsets = offsets      # node -> byte offset in the arena (stored intermediates)
        self.sizes = sizes          # node -> bytes (unaligned) of each arena value
        self.lives = lives          # node -> (first step, last step), both included
        self.alias = alias          # view node -> the node whose buffer it reads (not a view)
        self.fresh = fresh          # nodes whose buffer a runner allocates per call (outputs)
        self.peak = peak            # arena bytes
        self.unshared = unshared    # arena bytes if nothing were reused
        self.log = []
        # node -> (output, byte offset in its buffer)
        self.hosted = {} if hosted is None else hosted
        # input -> (output, byte offset in its buffer)
        self.guests = {} if guests is None else guests
        # input -> byte offset in the arena
        self.arena_guests = {} if arena_guests is None else arena_guests
        # node -> the node whose buffer it writes over in place (in_place.py): an arena
        # value's, or one laid out in an output's buffer
        self.taken = {} if taken is None else taken
        # product -> its PartialProducts
        self.partials = {} if partials is None else partials

    def base(self, node):
        """The node whose buffer holds node's value (node itself unless it is a view)."""
        return self.alias.get(node, node)


def align(n):
    return -(-n // ALIGN) * ALIGN


def run(graph, fusion_plan, stored=None, hosts=None, scratch=None, together=(),
        in_place=False, guests=(), partials=None, writable=None) -> MemoryPlan:
    """Plan the buffers of `fusion_plan.groups` (in their order) over `graph`.

    `stored(group)` says whether the backend writes the group's value into a buffer it is
    given (default: every group that is not a constant, a view or `opaque`). `hosts(node)`
    says whether fresh output `node`'s buffer may hold scratch values before it is
    written (default: none may). `scratch`: {value: bytes} for values the backend holds
    only part of at a time (passes/chunks.py: a chunk per thread), smaller than the whole.
    `together`: lists of groups the backend runs interleaved (a chunk loop's), so what
    each reads or writes is live from the first of them to the last. `in_place`: an
    elementwise kernel may write over an input it reads for the last time (in_place.py;
    for backends whose kernels load an element's operands before storing it). `guests`:
    graph inputs that may be laid out in an output's buffer (see the module docstring).
    `partials`: {product: blocks} for products split along K (see the module docstring);
    `MemoryPlan.partials` holds them where they cost no arena bytes, else none of them
    (the backend then splits those products another way). `writable`: {a row loop's
    consumer value: the values it may be written over} (chunks.ChunkLoop.writable)."""
    def plan_for(partials, untaken=()):
        return _plan(graph, fusion_plan, stored, hosts, scratch, together, in_place, guests,
                     partials, writable or {}, untaken)
    plan = plan_for(partials or {})
    # a guest an output's buffer holds stays there: taken by a row loop's mask, it would
    # lie in the arena (or in a buffer of its own, where the forward has an arena)
    taken = set(plan.taken.values()) & set(guests)
    untaken = taken and taken & set(plan_for(partials or {}, taken).guests)
    if untaken:
        plan = plan_for(partials or {}, untaken)
    if plan.partials:
        plain = plan_for({}, untaken)
        if plain.peak < plan.peak:
            plain.log.append(f"partial products: none (they would take the arena from "
                             f"{plain.peak} to {plan.peak} bytes)")
            return plain
    return plan


def _plan(graph, fusion_plan, stored, hosts, scratch, together, in_place, guests, partials,
          writable, untaken):
    """run's plan for these `partials` ({product: blocks}), whatever they cost; `untaken`:
    guests no value may take the place of."""
    stored = stored or (lambda g: g.kind not in NO_BUFFER and g.kind != "opaque")
    groups = fusion_plan.groups
    alias = {}
    for g in groups:
        if g.kind == "view":
            x = g.root.inputs[0]
            alias[g.root] = alias.get(x, x)
    # in group order, not a set: values of one group tie on size and step, and the
    # placement (a stable sort) must not follow their hashes, or the same graph would get
    # other offsets, other IR and another disk-cache key in another process
    kept = {v: None for g in groups if stored(g) and g.kind not in NO_BUFFER
            for v in g.values()}
    fresh = []
    for o in graph.outputs:
        b = alias.get(o, o)
        if b in kept and b not in fresh:
            fresh.append(b)
    step = {v: k for k, g in enumerate(groups) for v in g.values()}
    lives = {b: [step[b], step[b]] for b in kept if b not in fresh}
    returned = {alias.get(o, o) for o in graph.outputs}
    guests = [g for g in guests if g not in returned]
    for g in guests:        # live from before the first step: the caller wrote them
        lives[g], step[g] = [-1, -1], -1
    for k, g in enumerate(groups):
        for x in g.inputs:
            b = alias.get(x, x)
            if b in lives:
                lives[b][1] = max(lives[b][1], k)
    position = {id(g): k for k, g in enumerate(groups)}
    for interleaved in together:
        ks = [position[id(g)] for g in interleaved]
        for g in interleaved:
            for x in g.inputs + g.values():
                b = alias.get(x, x)
                if b in lives:
                    lives[b] = [min(lives[b][0], min(ks)), max(lives[b][1], max(ks))]
    guest_lives = {g: lives.pop(g) for g in guests}
    partials = {v: PartialProducts(v, blocks - 1) for v, blocks in partials.items()}
    for v, p in partials.items():
        lives[p], step[p] = [step[v], step[v]], step[v]
    scratch = scratch or {}
    sizes = {b: scratch.get(b, _nbytes(b)) for b in lives}
    own_lives = {b: tuple(v) for b, v in lives.items()}
    # the buffers Python steps read (views and constants are no steps: a view is its base)
    python_reads = {alias.get(x, x) for g in groups if not stored(g) and g.kind not in NO_BUFFER
                    for x in g.inputs}
    # a guest a Python step reads stays where the caller put it (its result may view it)
    guest_lives = {g: v for g, v in guest_lives.items() if v[1] >= 0 and g not in python_reads}
    taken = {}      # a value written in place -> the value whose buffer it takes
    if in_place:
        # what a chunk loop's groups write: held a chunk at a time, or written a chunk at
        # a time while the loop still reads other chunks (what they only read may be
        # written in place before the loop, as anywhere)
        looped = {alias.get(x, x) for grp in together for g in grp for x in g.values()}
        # guests only for a row loop's mask (the activation it masks, which compile(model)'s
        # forward saved): a guest it takes holds the mask's value next, so it is placed as
        # a value is; a caller that put the activation elsewhere leaves its place to the mask
        taken = in_place_kernels.takers(groups, {**guest_lives, **lives}, alias, stored,
                                        python_reads, looped | set(scratch) | set(guest_lives),
                                        [o for o in fresh if hosts and hosts(o)], writable,
                                        set(untaken))
    guest_last = {g: v[1] for g, v in guest_lives.items()}
    taken_guests = [g for g in dict.fromkeys(taken.values()) if g in guest_lives]
    for g in taken_guests:
        lives[g], sizes[g] = guest_lives.pop(g), _nbytes(g)
    holder = {}     # a value written in place -> the first value of its buffer
    seeds = {}      # an output -> the first value of the buffer it takes (at offset 0)
    for v, b in taken.items():          # in run order: b's holder is known
        h = holder.get(b, b)
        if v in lives:
            holder[v] = h
            lives[h][1] = max(lives[h][1], lives.pop(v)[1])
        else:
            seeds[v] = h
    guest_sizes = {g: _nbytes(g) for g in guest_lives}
    hosted = _host(fresh, {**lives, **guest_lives}, {**sizes, **guest_sizes}, step, hosts,
                   python_reads, seeds) if hosts else {}
    guests = {g: hosted.pop(g) for g in guest_lives if g in hosted}
    lives_left = {b: v for b, v in lives.items() if b not in hosted}
    offsets = _place(lives_left, sizes, step)
    # a guest no output holds may lie in the arena, where it fits in bytes the arena has
    # anyway (a caller that does not put it there then wastes nothing)
    unhosted = {g: v for g, v in guest_lives.items() if g not in guests}
    arena_guests = {}
    if unhosted:
        both = {**sizes, **guest_sizes}
        with_guests = _place({**lives_left, **unhosted}, both, step)
        if _end(with_guests, both) <= _end(offsets, sizes):
            offsets = with_guests
            arena_guests = {g: offsets.pop(g) for g in unhosted}
    for v, h in holder.items():         # the same buffer as the value it took
        if h in hosted:
            hosted[v] = hosted[h]
        else:
            offsets[v] = offsets[h]
    for g in taken_guests:              # a guest's place, where its takers lie
        if g in hosted:
            guests[g] = hosted.pop(g)
        else:
            arena_guests[g] = offsets.pop(g)
    peak = _end(offsets, sizes)
    unshared = sum(align(s) for s in sizes.values())
    plan = MemoryPlan(offsets, sizes, own_lives, alias, fresh, peak, unshared, hosted=hosted,
                      guests=guests, arena_guests=arena_guests,
                      taken={v: b for v, b in taken.items()
                             if v in holder or hosted.get(seeds.get(v)) == (v, 0)},
                      partials=partials)
    plan.log.append(f"arena: {len(offsets)} buffers in {peak} bytes (vs {unshared} without "
                    f"reuse); {len(fresh)} output buffer(s) fresh per call, "
                    f"{len(alias)} view(s) aliased; {len(hosted)} value(s) in output "
                    f"buffers before their outputs are written; {len(plan.taken)} written "
                    f"in place")
    names = node_names(graph)
    names.update({p: names[v] for v, p in partials.items()})
    for b in sorted(own_lives, key=step.__getitem__):
        first, last = own_lives[b]
        if b in hosted:
            host, at = hosted[b]
            where = f"{names[host]}'s buffer[{at}, {at + sizes[b]})"
        else:
            where = f"arena[{offsets[b]}, {offsets[b] + sizes[b]})"
        took = f" (in place of {names[taken[b]]})" if b in taken else ""
        over = [o for o, h in seeds.items() if h is b and hosted.get(b) == (o, 0)]
        took += "".join(f" (output {names[o]} written over it in place)" for o in over)
        plan.log.append(f"  {names[b]} {b.op}: {where} live in steps {first}..{last}{took}")
    for g, (host, at) in guests.items():
        plan.log.append(f"  {names[g]} input: may lie in {names[host]}'s buffer[{at}, "
                        f"{at + _nbytes(g)}) until step {guest_last[g]}")
    for g, at in arena_guests.items():
        plan.log.append(f"  {names[g]} input: may lie in arena[{at}, {at + _nbytes(g)}) "
                        f"until step {guest_last[g]}")
    return plan


def _end(offsets, sizes):
    """The arena bytes that the values placed at `offsets` need."""
    return max((offsets[b] + align(sizes[b]) for b in offsets), default=0)


def _nbytes(node):
    return node.size * node.dtype.itemsize


def _host(fresh, lives, sizes, step, hosts, python_reads, seeds):
    """{value: (output, offset)}: scratch values laid out in the buffers of outputs not yet
    written while they live (each output's values placed as the arena's are, within its
    bytes), the largest outputs first. Values a Python step reads stay in the arena: its
    result may be a view of its input, which must not change under it when the output is
    written. seeds: {output: the value its kernel writes it over (in_place.py)}, at offset
    0 of the output's buffer, live up to the output's own step."""
    # a dict in `lives`' order, not a set: the placement must not follow the nodes' hashes
    # (see run: the same graph must get the same layout, IR and cache key in every process)
    left = {b: None for b in lives if b not in python_reads}
    hosted = {}
    for out in sorted((o for o in fresh if hosts(o)), key=lambda o: (-_nbytes(o), step[o])):
        room = {b: lives[b] for b in left if lives[b][1] < step[out]}
        seed = seeds.get(out)
        if seed in left:
            room[seed] = lives[seed]
        placed = _place(room, sizes, step, capacity=_nbytes(out), first_in=seed)
        for b, at in placed.items():
            hosted[b] = (out, at)
            del left[b]
    return hosted


def _place(lives, sizes, step, capacity=None, first_in=None):
    """Greedy by size: largest first (ties: earliest defined), lowest aligned free offset:
    below the first placed buffer (by offset) that leaves room under it, among those live
    at the same time, else above them all. With a capacity, a buffer that would end past
    it is left out of the result (it is placed elsewhere). `first_in`: a value placed
    before all others, at offset 0.

    The placed buffers are numpy arrays and each search is a few vector operations: an
    unrolled RNN's graph has ~1e5 buffers, and a Python loop over the placed ones for each
    new one took minutes."""
    order = sorted(lives, key=lambda b: (b is not first_in, -sizes[b], step[b]))
    n = len(order)
    first = np.empty(n, np.int64)
    last = np.empty(n, np.int64)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    offsets = {}
    k = 0
    for b in order:
        b_first, b_last = lives[b]
        size = align(sizes[b])
        if capacity is not None and sizes[b] > capacity:
            continue
        live = (first[:k] <= b_last) & (b_first <= last[:k])
        b_lo, b_hi = lo[:k][live], hi[:k][live]
        offset = 0
        if b_lo.size:
            by_offset = np.lexsort((b_hi, b_lo))
            b_lo, b_hi = b_lo[by_offset], b_hi[by_offset]
            # the offset tried before each busy range: above every range before it
            tried = np.concatenate(([0], np.maximum.accumulate(b_hi)))
            fits = np.flatnonzero(tried[:-1] + size <= b_lo)
            offset = int(tried[fits[0]] if fits.size else tried[-1])
        if capacity is not None and offset + sizes[b] > capacity:
            continue
        offsets[b] = offset
        first[k], last[k], lo[k], hi[k] = b_first, b_last, offset, offset + size
        k += 1
    return offsets
