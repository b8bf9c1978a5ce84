"""The output buffers a runner keeps for reuse (runner.py's module docstring says why:
fresh memory page-faults): which of them nobody references any more, read from their
reference counts, and the sizes from which they are kept."""
import sys

import numpy as np

SPARE = 2   # output buffers kept per output: a training step's state alternates between two
SPARE_FROM = 4096   # bytes: smaller outputs are allocated anew (runner.py's docstring),
SPARE_TINY = 64     # except those of at most this many

_refcount = sys.getrefcount


def first_free(spare, free):
    """The first array in list `spare` that nothing but the list references (its reference
    count reads `free` here), or None."""
    for a in spare:
        if _refcount(a) == free:
            return a
    return None


def free_bytes(spare, free):
    """The bytes of the arrays in `spare` that only the list references (as first_free)."""
    total = 0
    for a in spare:
        if _refcount(a) == free:
            total += a.nbytes
    return total


# What the count reads for an array only the list holds, measured through the same code
# (interpreters differ in the references a loop variable and a call argument take).
FREE = next(k for k in range(1, 8) if first_free([np.empty(0)], k) is not None)


def spare_or_new(spare, shape, dtype):
    """An output buffer: the first array in list `spare` that nothing else references now,
    else a new one, kept in `spare` while it holds fewer than SPARE. A dynamic graph's
    runner uses it (codegen/llvm/sized_runner.py); the entry runner inlines the same steps
    (with others: lodged residuals, buffers taken over from other runners)."""
    a = first_free(spare, FREE)
    if a is None:
        a = np.empty(shape, dtype)
        if len(spare) < SPARE:
            spare.append(a)
    return a
