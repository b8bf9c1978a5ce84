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
"""
import sys

import numpy as np

_refcount = sys.getrefcount


class Lodging:
    """Residual outputs of a forward runner that go in one output buffer of a backward
    runner: places {forward fresh index: (byte offset, shape, dtype)}."""

    __slots__ = ("host", "index", "places")

    def __init__(self, host, index, places):
        self.host, self.index, self.places = host, index, places


def lodge(lodging):
    """{forward fresh index: (view, data pointer)} for one call, or None when the host has
    no free buffer to lend (Runner.lend)."""
    lent = lodging.host.lend(lodging.index)
    if lent is None:
        return None
    buffer, start = lent
    return {f: (np.ndarray(shape, dtype, buffer, offset), start + offset)
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
    start = pointer_of[id(a)]
    for j, offset in guests:
        if (buffers[j].base is not a or pointers[j] != start + offset
                or _holders(buffers, j) != _ALONE):
            return None
    return a
