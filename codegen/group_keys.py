"""Structural keys of fused groups: two groups with equal keys emit the same kernel but for
its name, so a backend emits and compiles it once (an unrolled RNN repeats its time step's
groups once per step: a 2-layer LSTM over 35 steps has ~1100 groups, ~180 of them
distinct). The key holds everything a kernel builder reads: each member's op, shape, dtype
and params, how members read each other, the external inputs' shapes, dtypes and params (a
saved index's value_range lets a gather skip its bounds check), and inline constants by
value. It is computed before any code is emitted: comparing emitted text would pay for
every copy first.

    key(g1) == key(g2)  =>  the kernels of g1 and g2 are the same text but for their names
"""


def key(group, *extra):
    """A hashable structure of `group` (passes/fusion.py's Group); `extra` adds what else
    the backend decides per group (ranged or not, the kernel kind)."""
    position = {n: k for k, n in enumerate(group.nodes)}
    outside = {n: k for k, n in enumerate(group.inputs)}
    members = []
    for n in group.nodes:
        reads = []
        for x in n.inputs:
            if x in position:
                reads.append(("member", position[x]))
            elif x in outside:
                reads.append(("input", outside[x]))
            else:       # a Python number (or None) inlined into the kernel
                reads.append(("value", type(x).__name__, repr(x)))
        members.append((n.op, tuple(n.shape), n.dtype.str, _params(n), tuple(reads)))
    # a constant input is read through a pointer, as any input: its value is not in the
    # code (and printing a large array's repr cost ~5 ms per compile)
    inputs = tuple((tuple(x.shape), x.dtype.str, _params(x, skip="value" if
                                                             x.op == "constant" else None))
                   for x in group.inputs)
    return (group.kind, tuple(members), inputs, tuple(position[v] for v in group.values()),
            *extra)


def _params(node, skip=None):
    return repr(sorted((item for item in node.params.items() if item[0] != skip),
                       key=lambda item: item[0]))
