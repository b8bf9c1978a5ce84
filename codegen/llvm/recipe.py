"""The disk cache's key for a graph's code, known before any LLVM IR is emitted.

The cache (runtime/cache.py) keyed each entry by the sha256 of the module's IR text, so a
warm start still emitted every kernel and entry function through llvmlite's IR builder and
printed the module, only to hash it: ~20 ms of a warm MLP compile, ~60 ms of LeNet's. The
IR is a deterministic function of what compile_graph is given and of the code that lowers
it, so the key here is made of exactly those:

  - the graph: every node's op, shape, dtype, parameters and inputs (by position, Python
    numbers by exact repr, arrays by their bytes), its inputs and outputs; the outputs
    written in place (`updates`) and the runner;
  - the settings the lowering reads: the BLAS symbol per dtype (or the generated GEMM),
    the thread count (splits), every TRACECOMP_* variable but the cache's own;
  - the code that lowers it: each source file of tracecomp, codegen and passes by path,
    size and modification time, and the numpy version (stat only, ~1 ms: a changed file
    changes the key; an unchanged one with new content would need a forged mtime).

To those the backend adds its own decisions (plan(): kernel structures, segments, splits,
arena offsets), cheap to write down and a guard against a tunable changed at run time.
The cache adds the host CPU and its features, the LLVM and llvmlite versions and the speed
level, as for an IR key. A miss emits the IR and compiles it as before; a hit links the
object and emits the IR only when a dump asks for it.

    text = recipe.describe(graph, updates, runner, settings, folders)  # None: key by the IR
    text += recipe.plan(graph, layout, memory_plan, kernel_names, keys)
"""
import hashlib
import os

import numpy as np

from tracecomp.passes.memory import PartialProducts

from .runtime.cache import files_fingerprint

_SOURCES = {}   # source folders -> their fingerprint, computed once per process


def describe(graph, updates, runner, settings, sources):
    """A text that changes whenever the code compile_graph would emit for these arguments
    could; None where no such text is made (an array parameter of an unknown type).
    `sources`: the folders of the code that lowers graphs (tracecomp, codegen, passes)."""
    position = _positions(graph)
    if not all(n in position for n in graph.outputs):
        return None
    lines = [f"runner {runner}", f"updates {sorted(updates.items())!r}",
             f"settings {sorted(settings.items())!r}", f"code {_source_fingerprint(sources)}",
             f"inputs {len(graph.inputs)}",
             "outputs " + " ".join(str(position[n]) for n in graph.outputs)]
    for node in position:
        reads = [f"%{position[x]}" if x in position else _value(x) for x in node.inputs]
        params = [f"{name}={_value(value)}" for name, value in sorted(node.params.items())]
        if any(p is None for p in reads + params):
            return None
        lines.append(f"{node.op} {tuple(node.shape)} {node.dtype.str} ({', '.join(reads)}) "
                     f"{' '.join(params)}")
    return "\n".join(lines)


def plan(graph, layout, memory_plan, kernel_names, keys, products=None):
    """The decisions the lowering made (each kernel's structure, the segments and their
    splits, the arena offsets, the slots, what computes each product): a second guard, so
    that a tunable changed in a running process (parallel.SPLIT_WORK set by a test) cannot
    link code laid out for other decisions, nor a host contest answered again
    (gemm/calibrate.py) code that calls another GEMM. products: {product root: its code}."""
    position = _positions(graph)

    def at(node):       # a product's partial products (memory.PartialProducts): its number'
        if isinstance(node, PartialProducts):
            return f"{position.get(node.product, '?')}'"
        return position.get(node, "?")
    lines = [f"{kernel_names[root]} = {keys[root]!r}" for root in kernel_names]
    for step in layout.program:
        groups = [f"{kernel_names.get(g.root, g.kind)}:{at(g.root)}"
                  f"({' '.join(str(at(x)) for x in g.inputs)})" for g in step.groups]
        rows = f" rows {step.loop.rows}" if step.loop is not None and step.loop.rows else ""
        lines.append(f"{step.kind} {step.name} {step.extent}{rows} {' '.join(groups)}")
    lines.append("arena " + " ".join(f"{at(n)}@{o}" for n, o in memory_plan.offsets.items()))
    lines.append("hosted " + " ".join(f"{at(n)}@{at(h)}+{o}"
                                      for n, (h, o) in memory_plan.hosted.items()))
    lines.append("slots " + " ".join(str(at(n)) for n in layout.slots))
    lines.append("products " + " ".join(f"{at(n)}={code}" for n, code in
                                        (products or {}).items()))
    return "\n".join(lines)


def _positions(graph):
    """Each input and node of graph -> its number: how the texts name values."""
    return {n: k for k, n in enumerate([*graph.inputs, *graph.nodes])}


def environment():
    """The TRACECOMP_* variables that may change the code (the cache's own cannot)."""
    return {name: value for name, value in os.environ.items()
            if name.startswith("TRACECOMP_") and not name.startswith("TRACECOMP_CACHE")}


def _value(x):
    """An exact text of a parameter or inlined input; None when none is known."""
    if isinstance(x, np.ndarray):
        return f"array{x.shape}{x.dtype.str}:{hashlib.sha256(np.ascontiguousarray(x)).hexdigest()}"
    if isinstance(x, (list, tuple)):
        parts = [_value(v) for v in x]
        return None if None in parts else f"{type(x).__name__}[{', '.join(parts)}]"
    if isinstance(x, dict):
        parts = [(repr(k), _value(v)) for k, v in sorted(x.items(), key=lambda kv: repr(kv[0]))]
        return None if any(v is None for _, v in parts) else repr(parts)
    if isinstance(x, type):     # a dtype given as its class (np.float32)
        return f"type:{x.__module__}.{x.__qualname__}"
    if x is None or isinstance(x, (bool, int, float, complex, str, np.generic, np.dtype,
                                   slice, range, type(Ellipsis))):
        return f"{type(x).__name__}:{x!r}"     # repr of a float is exact (round-trips)
    return None


def _source_fingerprint(roots):
    roots = tuple(sorted(set(roots)))
    if roots not in _SOURCES:
        _SOURCES[roots] = files_fingerprint(roots)
    return _SOURCES[roots]

