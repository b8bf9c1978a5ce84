"""The error a user sees when lowering a valid graph fails inside the llvm backend.

Valid code must never surface an internal exception: a ValueError, TypeError or RuntimeError
out of llvmlite ("Operands must be the same type, got (i32, i64)", an LLVM IR parsing or
verifier error) or out of our own lowering code is a tracecomp bug. backend.compile_graph
catches it in one place and raises `lowering_bug(...)` from it (the original stays chained
as __cause__): a LoweringError (a TracecompError and a RuntimeError) that says what the
backend was doing, shows the nodes of the kernel it was emitting (or the start of the
graph) one line per node as the IR prints them, asks for a report and names the
workaround, the reference backend:

    tracecomp internal error in the llvm backend while emitting kernel3_add for graph
    `forward`: ValueError: Operands must be the same type, got (i32, i64)
    The kernel computes:
      %3: f32[2,3] = add(%x, %2)   # model.py:12 fc1
    This is a bug in tracecomp, not in your code: please report it with this message.
    Meanwhile tracecomp.compile(fn, backend="interp") runs the same code without the llvm
    backend.
"""
import time

from tracecomp.errors import LoweringError
from tracecomp.ir import format_node, format_source

MAX_LINES = 12  # node lines shown; a kernel has up to fusion.MAX_MEMBERS, a graph thousands


class Stage:
    """What compile_graph is doing, for the message: set before each step that can fail.
    `phases` times the backend's coarse stages for the compile's pass log: (name, count
    before, count after, seconds), where the counts are what the stage turns into what
    (graph nodes into fused groups, groups into kernels...). A phase may begin inside
    another (the kernels are emitted inside "llvm compile" when the disk cache misses): the
    outer one's seconds then leave out the inner one's, so the phases add up."""

    __slots__ = ("doing", "nodes", "phases", "_open")

    def __init__(self):
        self.doing, self.nodes = "fusing", None
        self.phases, self._open = [], []

    def enter(self, doing, nodes=None):
        self.doing, self.nodes = doing, nodes

    def begin(self, name, before):
        """Start timing phase `name`."""
        self._open.append([name, before, time.perf_counter(), 0.0])

    def end(self, after):
        name, before, start, inner = self._open.pop()
        seconds = time.perf_counter() - start
        if self._open:
            self._open[-1][3] += seconds
        self.phases.append((name, before, after, seconds - inner))


def lowering_bug(exc, graph, names, stage):
    """The LoweringError to raise from exc, which lowering `graph` raised during `stage`."""
    nodes, title = stage.nodes, "The kernel computes:"
    if nodes is None:
        nodes, title = graph.nodes, f"The graph has {len(graph.nodes)} nodes:"
    lines = [f"tracecomp internal error in the llvm backend while {stage.doing} for graph "
             f"`{getattr(graph, 'name', 'graph')}`: {type(exc).__name__}: {exc}", title]
    for node in nodes[:MAX_LINES]:
        where = format_source(node.source)
        lines.append(f"  {format_node(node, names)}" + (f"   # {where}" if where else ""))
    if len(nodes) > MAX_LINES:
        lines.append(f"  ... ({len(nodes) - MAX_LINES} more)")
    lines += ["This is a bug in tracecomp, not in your code: please report it with this "
              "message.",
              'Meanwhile tracecomp.compile(fn, backend="interp") runs the same code without '
              "the llvm backend."]
    return LoweringError("\n".join(lines))
