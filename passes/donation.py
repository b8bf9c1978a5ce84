"""Donation: which updated inputs a compiled call may overwrite in place.

A training step's parameters and optimizer state are both read and written by the call:
`p.add_(buf, alpha=-lr)` traces to a new value %p1 = sub(%p, mul(%buf1, lr)), and the
caller writes %p1 back into p's tensor (compiler/state.py). Computed into a buffer of its
own, each such value costs a second copy of every parameter and momentum buffer, kept
between steps for reuse; torch updates them in place. An output the caller writes back
into input x (`updates`: output position -> input position) is *donated* x's buffer, so
the kernel writes the new value over the old one, when nothing can tell:

  - same shape and dtype, and the output is a buffer of its own (the memory plan's fresh
    buffer, not a view, not also another output);
  - x is no output itself, nor is any view of it (the forward saving x for the backward
    needs the old value after the call);
  - the kernel computing the output is elementwise from x on: every member that depends
    on x is an elementwise op of the output's shape, so element i of the output reads only
    element i of x, before the kernel stores it (no broadcast, movement or gather reads x
    elsewhere). Kernel arguments are `noalias` to LLVM, which output and x now break; it
    stays sound because each element of x is loaded only for its own index, and the store
    there depends on the load, so no reordering can put a load of x after a store to it;
  - no group after that kernel reads x or a view of it.

    %buf1 = add(mul(%buf, 0.9), %g)    kernel 7 elementwise   -> written over %buf
    %p1 = sub(%p, mul(%buf1, 0.01))    kernel 8 elementwise   -> written over %p

The runner checks at each call what only the arrays can say (runner.py): that x's array
owns its memory and no other input shares it; else that call computes into a fresh buffer.
"""
from tracecomp.ir import node_names

from .fusion import ELEMENTWISE


def run(graph, groups, memory_plan, updates):
    """({output position: input position} of the donations that are safe, log lines), for
    `groups` in the order they run."""
    step = {v: k for k, g in enumerate(groups) for v in g.values()}
    last_read = {}          # base node -> the last step that reads it or a view of it
    for k, g in enumerate(groups):
        for x in g.inputs:
            last_read[memory_plan.base(x)] = k
    output_bases = [memory_plan.base(o) for o in graph.outputs]
    names, donated, log, taken = node_names(graph), {}, [], set()
    for k, j in sorted(updates.items()):
        out, x = graph.outputs[k], graph.inputs[j]
        why = _refusal(out, x, groups, step, last_read, memory_plan, output_bases, taken)
        if why:
            log.append(f"donation: {names[out]} is not written over {names[x]}: {why}")
            continue
        donated[k] = j
        taken.add(j)
        log.append(f"donation: {names[out]} is written over input {names[x]} in place")
    return donated, log


def _refusal(out, x, groups, step, last_read, memory_plan, output_bases, taken):
    """Why output `out` cannot take input x's buffer, or "" when it can."""
    if (out.shape, out.dtype) != (x.shape, x.dtype):
        return f"{out.dtype.name}{list(out.shape)} vs {x.dtype.name}{list(x.shape)}"
    if x in taken:
        return "another output takes it"
    if out not in memory_plan.fresh or output_bases.count(out) != 1:
        return "the output is a view or another output too"
    if x in output_bases:
        return "the input (or a view of it) is an output: its old value is still needed"
    if out not in step:
        return "no kernel computes the output"
    k = step[out]
    group = groups[k]
    if group.kind != ELEMENTWISE or not same_index(group, x, out.shape):
        return f"its {group.kind} kernel may read an element of the input at another index"
    if any(memory_plan.base(i) is x and i is not x for i in group.inputs):
        return "its kernel reads a view of the input"
    if last_read.get(x, -1) > k:
        return "a later kernel still reads the input"
    return ""


def same_index(group, x, shape):
    """Whether every member of the group that depends on x is an elementwise op of `shape`,
    so the kernel reads x at index i only to compute its output at index i (what does not
    depend on x, a flip of another input say, may read anything)."""
    tainted = {x}
    for n in group.nodes:
        if any(i in tainted for i in n.node_inputs()):
            if ELEMENTWISE not in n.prim.tags or n.shape != shape:
                return False
            tainted.add(n)
    return True
