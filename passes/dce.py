"""Dead code elimination: keep only the nodes that the graph's outputs depend on.

    graph(%x: f32[3]) {
      %0: f32[3] = exp(%x)
      %1: f32[3] = neg(%x)
      return (%1)
    }
    ->
    graph(%x: f32[3]) {
      %0: f32[3] = neg(%x)
      return (%0)
    }

Graph inputs always stay (they are the compiled function's signature), even unused. So
does every guard (`check_range`, tag "guard") with what it checks, even when nobody reads
its result: eager code raises for a bad value it computes and never uses (torch too), and
a compiled graph must raise the same error, not skip the check.

So does every random draw (tag "random"), read or not: each draw advances the generator
when it runs, eagerly as compiled, and the draws after an unused one must see the part of
the stream they see eagerly, so that a seed gives compiled code eager's numbers (a
Langevin sampler's `noise = randn(...)` refilled by `noise.normal_()` draws twice). The
schedule keeps the draws in program order for the same reason (passes/schedule.py).
"""
from tracecomp.ir import CONSTANT, INPUT, Node


def run(graph):
    """A copy of graph without the nodes its outputs do not need (order kept)."""
    graph = graph.copy()
    live = set()
    stack = [o for o in graph.outputs if isinstance(o, Node)]
    stack += [n for n in graph.nodes if n.op not in (INPUT, CONSTANT)
              and ("guard" in n.prim.tags or "random" in n.prim.tags)]
    while stack:                    # an explicit stack: deep graphs would overflow recursion
        node = stack.pop()
        if node in live:
            continue
        live.add(node)
        stack.extend(i for i in node.node_inputs() if i not in live)
    graph.nodes = [n for n in graph.nodes if n in live]
    return graph
