"""Dead code elimination: keep only the nodes that the graph's outputs depend on.

    graph(%x: f32[3]) {
      %0: f32[3] = exp(%x)
      %1: f32[3] = neg(%x)
      %2: f32[3] = uniform(dtype=f32, shape=(3,))
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

Random nodes are dropped like any other when nothing reads them. That is a choice: an
unused draw still advances the generator when run eagerly, so after DCE the draws that
remain see a different part of the random stream than eager code would (the same seed
gives other numbers). Numbers from a traced graph are already not eager's (each call draws
afresh), and keeping a draw nobody reads would cost time and memory on every call, so
nothing tries to keep them.
"""
from tracecomp.ir import CONSTANT, INPUT, Node


def run(graph):
    """A copy of graph without the nodes its outputs do not need (order kept)."""
    graph = graph.copy()
    live = set()
    stack = [o for o in graph.outputs if isinstance(o, Node)]
    stack += [n for n in graph.nodes if n.op not in (INPUT, CONSTANT) and "guard" in n.prim.tags]
    while stack:                    # an explicit stack: deep graphs would overflow recursion
        node = stack.pop()
        if node in live:
            continue
        live.add(node)
        stack.extend(i for i in node.node_inputs() if i not in live)
    graph.nodes = [n for n in graph.nodes if n in live]
    return graph
