"""The compile pipeline's stages as records: the simplification passes in their order, how
a list of passes runs on a graph (verified after each under TRACECOMP_VERIFY or
TRACECOMP_DEBUG), and a backend's lowering with the phases it times. Each stage leaves a
PassRecord in the compile's pass log (`compiled.pass_log`, `tracecomp dump`'s
pass_log.txt); compiler.build adds the trace, autodiff and partition records. Each stage
is named to progress.py as it starts (a slow compile's line on a terminal).
"""
import os
import time

from ..debug_log import debug_level, emit
from ..ir import verify
from . import complex_sides
from .progress import stage


class PassRecord:
    # a plain class, not a dataclass (passes/memory.py's MemoryPlan says why)
    def __init__(self, name, graph, nodes_before, nodes_after, seconds):
        self.name, self.graph = name, graph
        self.nodes_before, self.nodes_after, self.seconds = nodes_before, nodes_after, seconds

    def __repr__(self):
        return (f"PassRecord(name={self.name!r}, graph={self.graph!r}, nodes_before="
                f"{self.nodes_before}, nodes_after={self.nodes_after}, seconds={self.seconds})")


def simplify_pipeline():
    """The simplification passes, in the order they run, each Graph -> Graph."""
    from ..passes import algebra, constant_folding, cse, dce
    return [
        ("dce", dce.run),                           # drop what no output needs
        ("constant_folding", constant_folding.run),  # evaluate nodes of constants
        ("algebra", algebra.run),                   # x*1, double transposes, reshape chains
        ("cse", cse.run),                           # merge repeated computations
        ("dce", dce.run),                           # drop what the rewrites orphaned
    ]


def decompose_pipeline(merge=False):
    """After autodiff, before a backend: bfloat16 ops written as eager computes them (in
    float32, rounded once: passes/widen_bf16.py), primitives that are one node for the tape
    and for autodiff (log_softmax) split into the primitives kernels fuse, and a
    data-parallel step's gradient all-reduces packed into buckets (passes/buckets.py).
    merge: then repeated parts merged (a whole step's nll_loss and its gradient both mask
    the targets), where no simplification follows."""
    from ..passes import buckets, cse, dce, decompose, widen_bf16
    return [("widen_bf16", widen_bf16.run),         # bfloat16 ops as float32 ops and casts
            ("decompose", decompose.run), ("buckets", buckets.run)] + (
        [("cse", cse.run), ("dce", dce.run)] if merge else [])


def real_parts(graph, label, log_records, simplify=True):
    """(graph with its complex values as (..., 2) real parts, its complex edges for
    lowered()); (graph, None) when it has no complex value. simplify: then merge the parts'
    repeated slices (not where remat chose to recompute)."""
    from ..passes import complex_parts
    if not complex_parts.has_complex(graph):
        return graph, None
    edges = complex_sides.sides(graph)
    passes = [("complex_parts", complex_parts.run)]
    real = run_passes(graph, passes + (simplify_pipeline() if simplify else []), label, log_records)
    assert len(real.inputs) == len(graph.inputs) and len(real.outputs) == len(graph.outputs)
    return real, edges


def lowered(compile_graph, graph, label, log_records, updates=None, edges=None):
    """compile_graph(graph), with the backend's timed phases (fusion, kernels, memory,
    schedule, LLVM compile: whatever the backend reports) added to the pass log. updates:
    {output position: input position} of the outputs written back into an input's tensor,
    for a backend that can compute them in place (the llvm one: passes/donation.py). edges:
    real_parts()'s, where complex values became parts: the runner takes and gives complex
    arrays there."""
    stage(f"lowering the {label} graph")
    runner = compile_graph(graph, updates=updates)
    if edges is not None:
        runner = complex_sides.ComplexSides(runner, edges)
    log_records += [PassRecord(name, label, before, after, seconds)
                    for name, before, after, seconds in getattr(runner, "phases", ())]
    return runner


def run_passes(graph, passes, label, log_records):
    for name, fn in passes:
        stage(f"{name} on the {label} graph")
        before, start = graph.op_count(), time.perf_counter()
        graph = fn(graph)
        log_records.append(PassRecord(name, label, before, graph.op_count(),
                                      time.perf_counter() - start))
        if debug_level() >= 1 or os.environ.get("TRACECOMP_VERIFY") == "1":
            verify(graph, f"after pass {name} on the {label} graph")
        if debug_level() >= 3:          # printing a big graph takes seconds: only when asked
            emit(3, f"[tracecomp] {label} after {name}:\n{graph}")
    return graph
