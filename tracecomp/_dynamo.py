"""torch._dynamo's user-facing calls: which dims of a tensor a compiled call treats as
dynamic (mark_dynamic), and reset, which makes every compiled function compile again.

    tracecomp._dynamo.mark_dynamic(ids, 1)     # the length of a batch of token ids

A compiled function's first call with a marked tensor compiles one graph for every size of
the marked dims (all marked dims are one symbol s: mark the dims that change together,
a batch's length in its ids and its targets), where an unmarked call compiles its own
sizes first and generalizes when a size changes (compiler/dynamic.py). The mark is the
tensor's, as in torch (`_dynamo_dynamic_indices`).
"""

import sys


def reset():
    """Every compiled function and module compiles again on its next call, its recompile
    count from zero (compiler/api.py). Nothing has compiled while the compiler is unloaded."""
    if "tracecomp.compiler.driver" in sys.modules:
        import importlib
        importlib.import_module("tracecomp.compiler.api").reset()


def mark_dynamic(t, index):
    """Mark dim `index` (an int or a list of them) of tensor t dynamic for compiled calls."""
    dims = index if isinstance(index, (list, tuple)) else [index]
    marks = getattr(t, "_dynamo_dynamic_indices", set())
    for d in dims:
        if not -t.ndim <= d < t.ndim:
            raise IndexError(f"mark_dynamic: dim {d} is out of range for a tensor of shape "
                             f"{list(t.shape)}")
        marks.add(d % t.ndim)
    t._dynamo_dynamic_indices = marks


# torch's hint that a dim may be dynamic: here the same as the mark
maybe_mark_dynamic = mark_dynamic
