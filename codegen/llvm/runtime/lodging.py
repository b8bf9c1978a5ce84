"""Residuals lodged in a gradient's buffer: compile(model)'s forward writes the values it
saves for the backward into the free output buffer of the gradient the backward writes
last, and the backward, run for the last time, writes that gradient over them.

Why: torch frees each saved activation as soon as the backward has read it, so the last
weight gradients it allocates take the memory the activations had, and `zero_grad()`
(set_to_none) lets go of the old gradients before the forward. A compiled backward is one
native call that writes every gradient into buffers it owns (runner.py's spare outputs),
while the forward's residuals are buffers of their own: the bench MLP's step at batch 64
kept 0.19 MB that torch's does not (2.70x torch's step memory).

The memory plan of the backward (passes/memory.py, `guests`) gives each residual input a
place in the buffer of an output written after the residual's last read, packed with the
scratch values hosted there. Then:

  - the forward (`lodge`): when the backward runner's buffer for that output is free
    (nobody holds the old gradient: zero_grad ran), its residual outputs are views into
    that buffer at the planned offsets; else (the gradient is still held, the backward is
    running in another thread) buffers of their own, as before. The backward runner gets
    a buffer made for it when it has none yet (its first call comes after the forward's);
  - the backward (`host_buffer`): a call told that its inputs are read for the last time
    (`consume`: the engine runs it without retain_graph, and the bridge lets go of the
    saved values first) writes the output into that buffer when its residual inputs are
    exactly the views the forward made, nothing but the call's list holds them and
    nothing else references the buffer (reference counts, as runner.py's reuse of spare
    buffers);
    else it takes a free buffer or a new one, and the views stay intact (retain_graph,
    two forwards before one backward, an activation kept by the caller).

Either way the plan's offsets hold: the scratch values never overlap the guests' places,
and the output is written only after its guests were last read.

A residual too large for any gradient's buffer may lie in the backward's arena instead,
where the plan finds it room in bytes the arena has anyway (`MemoryPlan.arena_guests`),
when the forward runs in no arena of its own (two arenas in use at once would cost more
than the residual saves). The forward then takes an arena from the pool for the backward
(`lend_arena`) and writes its residuals into it; the backward, run for the last time on
exactly those views, runs in that arena (`lent_arena`) and gives it back to the pool as
any call does. The bench MLP's compile(model) step at batch 512 kept its second ReLU's
512 KB output as a buffer of its own between steps: 1.61x torch's step memory. Since row
loops (passes/row_loops.py) the backward's first mask is written over that activation in
the arena, and the second over the first: one 512 KB buffer, 0.60x.
An arena whose views are all gone without such a call (retain_graph, a forward whose
backward never ran) goes back to the pool at the next lend.
"""
import sys

import numpy as np

from . import arenas

_refcount = sys.getrefcount
LENT = 2        # arenas lent and not yet run in, per backward runner: two forwards in flight


class Lodging:
    """Residual outputs of a forward runner that go in one output buffer of a backward
    runner (index None: in its arena): places {forward fresh index: (byte offset, shape,
    dtype)}."""

    __slots__ = ("host", "index", "places")

    def __init__(self, host, index, places):
        self.host, self.index, self.places = host, index, places


def lodge(lodging):
    """{forward fresh index: (view, data pointer)} for one call, or None when the host has
    no free buffer to lend (Runner.lend)."""
    lent = lodging.host.lend(lodging.index)
    if lent is None:
        return None
    buffer, skew, start = lent     # skew: where the buffer's planned bytes begin in it
    return {f: (np.ndarray(shape, dtype, buffer, skew + offset), start + offset)
            for f, (offset, shape, dtype) in lodging.places.items()}


def _holders(items, j):
    """The reference count of items[j], read the one way host_buffer reads it."""
    return _refcount(items[j])


_ALONE = _holders([np.empty(0)], 0)     # what it reads for an array only the list holds


def host_buffer(spare, guests, buffers, pointers, pointer_of, free):
    """The buffer in `spare` that holds exactly this call's residual inputs `guests`
    [(input position, byte offset)], views that only the list `buffers` references (the
    caller let go of them: Runner.__call__'s `consume`), and that nothing but the spare
    list and those views references; or None. pointer_of: {id: data pointer} of the
    spare list's buffers."""
    first = buffers[guests[0][0]].base
    if first is None:
        return None
    for a in spare:
        if a is first:
            break
    else:
        return None
    del first
    # a: the list's reference, this loop variable's and the count's argument (`free`), and
    # one per view that has it as its base
    if _refcount(a) != free + len(guests):
        return None
    return a if _only_views(buffers, guests, a, pointer_of[id(a)], pointers.__getitem__) \
        else None


def _only_views(arrays, guests, buffer, start, address):
    """Whether each residual input j of `guests` [(input position, byte offset)] is a view
    of `buffer` at start + offset (`address(j)`: its data pointer) that nothing but the
    list `arrays` references. No name is bound to arrays[j]: it would count."""
    return all(_holders(arrays, j) == _ALONE and arrays[j].base is buffer
               and address(j) == start + offset for j, offset in guests)


def _arena_alone():
    arena = arenas.Arena(64)
    return _refcount(arena.buffer)


_ARENA_ALONE = _arena_alone()   # what it reads for the buffer of an arena nothing views


def _unviewed(arena):
    """Whether nothing views `arena`'s buffer but its own cache of views (Arena.view)."""
    return _refcount(arena.buffer) == _ARENA_ALONE + len(arena.views)


def lend_arena(lent, nbytes):
    """An arena of nbytes from the pool for a forward to write residuals into, kept in the
    backward runner's list `lent` until a call runs in it (lent_arena); None when LENT
    are out already. Lent arenas nothing views any more go back to the pool first."""
    for arena in [a for a in lent if _unviewed(a)]:
        lent.remove(arena)
        arenas.give_back(arena)
    if len(lent) >= LENT:
        return None
    arena = arenas.take(nbytes)
    lent.append(arena)
    return arena


def lent_arena(lent, guests, arrays):
    """The arena in `lent` that holds exactly this call's residual inputs `guests`
    [(input position, byte offset)], as views that only the list `arrays` references (the
    caller let go of them: Runner.__call__'s `consume`) and beside which nothing views it,
    taken out of `lent`; or None."""
    first = arrays[guests[0][0]].base
    for arena in lent:
        if arena.buffer is first:
            break
    else:
        return None
    del first
    # the buffer's references: the arena's, its cached views', the guests', the count's
    if _refcount(arena.buffer) != _ARENA_ALONE + len(arena.views) + len(guests):
        return None
    if not _only_views(arrays, guests, arena.buffer, arena.address,
                       lambda j: arrays[j].__array_interface__["data"][0]):
        return None
    lent.remove(arena)
    return arena
