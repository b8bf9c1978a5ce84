"""Guards on a graph's inputs, run on the input arrays before the graph's native code.

A guard is a primitive tagged "guard" (check_range: cross_entropy's targets, embedding's
indices, gather's index): the identity on values that pass, the user's error on any other.
It has no native lowering, so compiled code ran it as a Python step of the program, and a
whole MLP training step spent ~8 us (of ~52 us of Python; znver4) there: two numpy
reductions over 64 targets (~2 us) and the step's machinery around them (the environment
of arrays, the result conformed, its pointer stored in the slots).

Where the guard reads a graph input, it needs nothing the graph computes, and it already
ran first (schedule.hoisted moves it before the native code). So the graph is rewritten
without it: its readers read the input itself, and the runner calls the guard's check on
that input's array before anything else runs, as the Python step did, raising the same
error with the same note. What the guard proved goes on the input as its `value_range`
(passes/ranges.py), so a gather through the checked indices is still a plain load in
native code, not a numpy step.

    graph, guards, log, names = split_off(graph, names)    # guards: [InputGuard]

A guard on a value the graph computes stays a Python step where it is.

A row lookup `table[idx]` by an input's indices (the `index` primitive, dim 0) gets such a
check too: the bounds check numpy's lookup makes (indexing.check_bounds, negative indices
counting from the end) runs on the input first, the input's `value_range` says what it
proved, and the lookup becomes a native load (lower/select.py) instead of a numpy step.
"""
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from tracecomp.codegen.kernel_facts import row_lookup
from tracecomp.ir import CONSTANT, Node, execution_error
from tracecomp.ops.indexing import check_bounds
from tracecomp.passes import ranges


class InputGuard(NamedTuple):
    position: int       # which graph input it checks
    node: object        # the node whose check it is (its source line, for the error's note)
    names: dict         # node -> name, for the error's note
    check: Callable     # check(array): raises the user's error when the array fails

    def __call__(self, arrays):
        """Raise the check's error when arrays[position] fails it."""
        try:
            self.check(arrays[self.position])
        except Exception as exc:
            raise execution_error(exc, self.node, self.names) from None


def split_off(graph, names):
    """(graph without the guards that read one of its inputs, those guards and the row
    lookups' checks, log lines, the nodes' names). The graph is copied first when it has
    any (the caller's is left as it was), and its nodes keep the names they had (`names`),
    as the dumps show them."""
    inputs, users = set(graph.inputs), graph.users()
    found_guards = _guards_of_inputs(graph, inputs, users)
    found_lookups = _lookups_of_inputs(graph, inputs, users)
    if not found_guards and not found_lookups:
        return graph, [], [], names
    copy = graph.copy()
    names = {new: names[n] for n, new in zip(graph.inputs + graph.nodes,
                                             copy.inputs + copy.nodes)}
    at = {id(n): k for k, n in enumerate(graph.nodes)}      # the same nodes in the copy
    guards = [copy.nodes[at[id(g)]] for g in found_guards]
    lookups = [copy.nodes[at[id(n)]] for n in found_lookups]
    graph = copy
    position = {x: k for k, x in enumerate(graph.inputs)}
    passed = {g: g.inputs[0] for g in guards}
    checks, log = [], []
    for g in guards:
        known = ranges.guarded(g)
        if known is not None:
            g.inputs[0].params["value_range"] = known
        checks.append(InputGuard(position[g.inputs[0]], g, names,
                                 partial(g.prim.impl, **g.params)))
        log.append(f"{names[g]} {g.op}: checked on input {names[g.inputs[0]]} before the "
                   f"native code")
    graph.nodes = [n for n in graph.nodes if n not in passed]
    for n in graph.nodes:
        n.inputs = tuple(passed.get(x, x) if isinstance(x, Node) else x for x in n.inputs)
    graph.outputs = [passed.get(o, o) for o in graph.outputs]
    for lookup in lookups:
        table, idx = lookup.inputs
        rows = table.shape[0]
        idx.params["value_range"] = (-rows, rows - 1)
        checks.append(InputGuard(position[idx], lookup, names,
                                 partial(_check_rows, table.shape, lookup.params["key"])))
        log.append(f"{names[lookup]} index: input {names[idx]}'s bounds checked before the "
                   f"native code")
    return graph, checks, log, names


def _check_rows(shape, key, idx):
    check_bounds(shape, key, (idx,))


def _guards_of_inputs(graph, inputs, users):
    """The guards that read a graph input carrying no value range yet, one guard per input
    (two would need their ranges intersected: they stay in the graph)."""
    return [n for n in graph.nodes
            if n.op != CONSTANT and "guard" in n.prim.tags and len(n.node_inputs()) == 1
            and n.inputs[0] in inputs and "value_range" not in n.inputs[0].params
            and sum("guard" in u.prim.tags for u in users[n.inputs[0]]) == 1]


def _lookups_of_inputs(graph, inputs, users):
    """Row lookups (kernel_facts.row_lookup) by a graph input that carries no value range
    and that nothing else reads."""
    return [n for n in graph.nodes
            if n.op == "index" and row_lookup(n) and n.inputs[1] in inputs
            and "value_range" not in n.inputs[1].params and users[n.inputs[1]] == [n]]
