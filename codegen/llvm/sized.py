"""The llvm backend for a dynamic graph: one module whose kernels serve every size.

    program = compile_sized(graph, concrete)    # graph: sizes hold Syms (tracecomp/symbolic.py)
    runner = program.at(sizes, numbers)         # runner(arrays) -> arrays, at sizes (one per
                                                # symbol), where the graph's RuntimeNumbers
                                                # are `numbers`

`concrete` is the same graph at one size (compiler/dynamic.py has both): fusion runs on it,
since its decisions read sizes, and its groups are the dynamic graph's, node for node.

Each kernel group whose sizes hold symbols is emitted with the sizes' and the numbers'
tables as its last arguments (KernelBuilder.int turns every size into IR, .scalar every
number); where emitting it needs a size that a symbol decides (an argmax's scan unrolled
over the dim), Undecided stops it, and its nodes run their numpy impls instead, as the
fusion log says ("numpy (its kernel needs a fixed size: ...)"). The kernels and the
products between two such Python steps run as one native call (sized_segments.py: each
size read from tables), in an arena laid out once per size (sized_runner.py), as the
static entry runner's segments do; views reshape, and primitives without a kernel run
their numpy impls between segments.
"""
import ctypes
import itertools
import os

from tracecomp.ir import Node, node_names
from tracecomp.passes import fusion
from tracecomp.passes.fusion import Group
from tracecomp.symbolic import Sym, Undecided, is_static

from . import target
from .lower.kernels import elementwise_kernel
from .lower.reductions import reduce_kernel
from .lower.window import fold_kernel, unfold_kernel
from .runtime import cache, engine, parallel
from .sized_runner import SizedRunner
from .sized_segments import Segments, native_product

# what a dynamic graph's groups compile to natively: the static backend's kernels, which
# raise Undecided where a size they need is a symbol's (then the group runs from numpy)
BUILDERS = {"elementwise": elementwise_kernel, "reduce": reduce_kernel, "fold": fold_kernel,
            "unfold": unfold_kernel}
# groups that run from Python by design: a reshape, a constant (products: sized_segments)
PYTHON_KINDS = ("matmul", "batched_matmul", "view", "constant")
_module_ids = itertools.count()


def compile_sized(graph, concrete):
    """A SizedProgram for the dynamic `graph`, fused as `concrete` (same graph, one size)."""
    names = node_names(graph)
    plan = fusion.run(concrete, target.host())     # numpy reads a product's transposes as views
    same = dict(zip(concrete.inputs + concrete.nodes, graph.inputs + graph.nodes))
    groups = [Group(g.kind, same[g.root], [same[n] for n in g.nodes],
                    [same[i] for i in g.inputs], [same[n] for n in g.stores]) for g in plan.groups]
    symbols = len(_domain(graph).lows)
    for g in groups:
        g.sized = not all(_static(n) for n in g.nodes + g.inputs)
        g.symbols = symbols
    module = engine.new_module(f"sized{next(_module_ids)}")
    kernels, ranged = {}, set()     # root -> its kernel's name; the roots built ranged
    # a name is never used twice: a kernel that could not be built leaves the module's
    # globals, but its name stays taken in the module's scope (llvmlite's DuplicatedNameError)
    numbers = itertools.count()
    log = [f"dynamic graph ({_symbols(graph)}):\n{graph}", *plan.log]
    for g in groups:
        if g.kind not in BUILDERS:
            if g.kind not in PYTHON_KINDS or g.kind in ("matmul", "batched_matmul") and \
                    not native_product(g):
                log.append(f"numpy (no dynamic kernel for {g.kind}): "
                           f"{', '.join(f'{names[n]} {n.op}' for n in g.nodes)}")
            continue
        name = f"kernel{next(numbers)}_{g.root.op}"
        split = _splittable(g)
        try:
            kernel = BUILDERS[g.kind](module, g, name, ranged=True) if split else \
                BUILDERS[g.kind](module, g, name)
        except (Undecided, TypeError) as why:   # TypeError: int-only arithmetic on a Sym
            del module.globals[name]        # the half-emitted function
            log.append(f"numpy (its kernel needs a fixed size: {why}): "
                       f"{', '.join(f'{names[n]} {n.op}' for n in g.nodes)}")
            continue
        kernel.linkage = "internal"     # called by the segments only
        kernels[g.root] = name
        if split:
            ranged.add(g.root)
    segments = Segments(groups, kernels, ranged, module, plan.groups,
                        profile=os.environ.get("TRACECOMP_PROFILE", "").strip() == "1")
    library = cache.compile_module(module, segments.names, imports=segments.imports()) \
        if segments.names else None
    return SizedProgram(graph, groups, segments, library, names, log)


def _splittable(group):
    """Whether a group's kernel is built ranged, to be split over threads at the sizes where
    it is large enough (parallel.extent's rule, decided per size): an elementwise kernel,
    a reduction that keeps dim 0, a fold or an unfold, whose work may reach
    parallel.KERNEL_SPLIT_WORK."""
    root = group.root
    if group.kind not in parallel.SPLIT_KINDS or root.ndim == 0 or \
            group.kind == "reduce" and 0 in root.params["dims"]:
        return False
    return not is_static(parallel.counted(group).shape) or \
        parallel.work(group) >= parallel.KERNEL_SPLIT_WORK


def _symbols(graph):
    """Which dim each symbol is, in words: "s: x dim 0", "s0: ids dim 0, s1: ids dim 1";
    a node's dim where no input's holds it (an int argument used as a size)."""
    found = {}
    for n in graph.inputs + graph.nodes:
        for d, size in enumerate(n.shape):
            if isinstance(size, Sym) and list(size.terms.values()) == [1] and \
                    sum(next(iter(size.terms))) == 1:
                found.setdefault(size.symbols()[0], f"{n.name or n.op} dim {d}")
    names = _domain(graph).names()
    return ", ".join(f"{name}: {found.get(k, 'an int in the params')}"
                     for k, name in enumerate(names))


def _domain(graph):
    """The Domain of the graph's Syms: an input dim holds each symbol, or else, where an
    int argument is one (compiler/size_sources.py), a node's dim or param."""
    for n in graph.inputs + graph.nodes:
        found = _sym_in((n.shape, n.params))
        if found is not None:
            return found.domain
    raise ValueError(f"{graph.name}: a dynamic graph without a symbol")


def _sym_in(x):
    if isinstance(x, Sym):
        return x
    values = x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list)) else ()
    return next((s for s in map(_sym_in, values) if s is not None), None)


def _static(node):
    """Whether nothing about node depends on the size: shape, params, scalar operands."""
    return is_static(node.shape) and is_static(tuple(node.params.values())) and \
        is_static(tuple(i for i in node.inputs if not isinstance(i, Node)))


class SizedProgram:
    """The compiled segments of a dynamic graph, and how to run them at a size."""

    def __init__(self, graph, groups, segments, library, names, log):
        self.graph, self.groups, self.segments = graph, groups, segments
        self.library, self.names, self.fusion_log = library, names, log
        self.domain = _domain(graph)
        self._weights = {}      # group root -> parallel.weight (weight())
        # name -> the segment's function: (ctx, pool, pool_split, parts)
        self.fns = {name: library.cfunc(name, None, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_int64)
                    for name in segments.names}

    def weight(self, group):
        """parallel.weight of a group, the same at every size: computed once (its sizes'
        arithmetic on Syms took ~1.5 ms of each new size's runner for a transformer block)."""
        found = self._weights.get(group.root)
        if found is None:
            found = self._weights[group.root] = parallel.weight(group)
        return found

    def at(self, sizes, numbers=()):
        """A runner(arrays) -> arrays of the graph at `sizes` (one per symbol), its
        RuntimeNumbers `numbers`."""
        return SizedRunner(self, sizes, numbers, self.domain.describe(sizes))

    llvm_ir = property(lambda self: self.library.llvm_ir if self.library else "")
    optimized_ir = property(lambda self: cache.optimized_ir(self.library)
                            if self.library else "")
    asm = property(lambda self: self.library.asm if self.optimized_ir else "")
