"""The llvm backend: a graph -> fused groups -> one LLVM module -> a runner.

compile_graph(graph) runs the fusion pass (its Target, target.py, says which nodes it can
lower), emits one function per kernel group into one module (BUILDERS: group kind ->
builder; a new lowering registered there joins the native code below with no other change),
plans the intermediates' memory (passes/memory.py) and adds one entry function per run of
native groups (entry.py), compiles the module once (or links it from the disk cache,
cache.py, keyed by what decides the module, recipe.py: a hit emits no IR, unless a dump
asks for it) and returns a runner (runner.py) that makes ONE native call per segment:

  - kernel:   called from the entry on its buffers (arena offsets, inputs, outputs),
  - matmul:   a 2-D product calls the BLAS sgemm/dgemm, the generated GEMM
              (gemm/generated.py) or dot products along K (gemm/dots.py) from the entry,
              as gemm/choice.py picks by the shape and the host; transposes are read in
              place (trans flags: no copies); a batched product, a loop of them,
  - view:     a reshape of a contiguous buffer: the same buffer (no copy, no step),
  - constant: the graph's array, through a pointer taken once,
  - numpy:    any primitive without a native lowering runs its eager numpy impl in Python
              between segments; the fusion log names each one ("no native lowering"), so
              nothing is hidden.

TRACECOMP_LLVM_RUNNER=steps (or compile_graph(graph, runner="steps")) selects the older
runner instead: one ctypes call per kernel from Python, np.matmul for products, a fresh
array per value. It runs the same kernels, for comparison and as a fallback. Each step's
result is made exactly its node's dtype and shape (runner.conform) before a kernel reads it.

An exception other than a TracecompError (or MemoryError) raised while lowering and
compiling a graph is a tracecomp bug (an llvmlite type error, an IR parse error): it is
raised as a LoweringError naming the kernel being emitted (lowering_bug.py), from one
place, compile_graph.

The runner carries the fusion log (fusion decisions, the memory plan and the segments),
the LLVM IR (before and after optimization) and the assembly, for `compiled.llvm_ir` /
`.asm` and `tracecomp dump`.
"""
import ctypes
import itertools
import os
from pathlib import Path

import numpy as np
from llvmlite import ir

import tracecomp.ir as tracecomp_ir
from tracecomp.codegen import group_keys
from tracecomp.errors import TracecompError
from tracecomp.ir import Node, execution_error, node_names
from tracecomp.passes import chunks, donation, fusion, memory, row_loops, schedule

from . import input_guards, kernel_reuse, recipe, target
from .gemm import blas, dots, first_calls
from .gemm import choice as gemm_choice
from .gemm import shared as shared_gemm
from .lower import (
    entry,
    select,  # noqa: F401  (registers the argmax/argmin/gather index maps)
)
from .lower.kernels import elementwise_kernel, kernel_type
from .lower.reductions import reduce_kernel
from .lower.window import fold_kernel, unfold_kernel
from .lowering_bug import Stage, lowering_bug
from .runtime import cache, engine, host_cpu, native_pool, parallel, split_compile
from .runtime.runner import Runner, conform

_module_ids = itertools.count()
BUILDERS = {"elementwise": elementwise_kernel, "reduce": reduce_kernel, "fold": fold_kernel,
            "unfold": unfold_kernel}
# builders that can also make a kernel over a range of dim 0 (ranged=True), so a large one
# can be split over threads (parallel.py)
RANGED = {"elementwise": elementwise_kernel, "reduce": reduce_kernel, "fold": fold_kernel,
          "unfold": unfold_kernel}
RUNNERS = ("entry", "steps")
# the folders of the code that turns a graph into LLVM IR, for the disk cache's key
SOURCES = [Path(tracecomp_ir.__file__).parent, Path(fusion.__file__).parent,
           Path(__file__).parents[1]]


class Texts:
    """What a dump shows of a compiled graph (`compiled.llvm_ir`, `.asm`, ...)."""

    @property
    def llvm_ir(self):
        return self.library.llvm_ir if self.library else ""

    @property
    def optimized_ir(self):
        # code linked from the disk cache has none until a dump asks: then it is recomputed
        return cache.optimized_ir(self.library) if self.library else ""

    @property
    def asm(self):
        # the Library makes its assembly from the optimized IR, so that must exist first
        return self.library.asm if self.optimized_ir else ""


class EntryRunner(Runner, Texts):
    """runner.Runner with the dump texts."""

    def __init__(self, graph, plan, layout, memory_plan, library, python_steps, names,
                 donated, serial_blas=False, guards=(), second_call=None):
        super().__init__(graph, layout, memory_plan, library, python_steps, names, donated,
                         serial_blas, guards, second_call)
        self.plan, self.fusion_log = plan, plan.log


class StepRunner(Texts):
    """runner(list of input arrays) -> list of output arrays, one step per group from
    Python (TRACECOMP_LLVM_RUNNER=steps)."""

    def __init__(self, graph, plan, steps, library, names):
        self.graph, self.plan, self.steps, self.library = graph, plan, steps, library
        self.names = names
        self.fusion_log = plan.log

    def __call__(self, arrays):
        env = {}
        for node, a in zip(self.graph.inputs, arrays):
            env[node] = contiguous(a)
        for step in self.steps:
            try:
                out = step.run(env)
            except Exception as exc:
                raise execution_error(exc, step.node, self.names) from exc
            # a kernel reads exactly the node's dtype: a numpy result of another one
            # (np.matmul promotes) would be read as garbage
            env[step.node] = conform(out, step.node, self.names)
            for dead in step.free:
                del env[dead]
        return [env[o] for o in self.graph.outputs]


def contiguous(a):
    """a in C order (np.ascontiguousarray would turn a 0-d array into shape (1,))."""
    return a if a.flags.c_contiguous else a.copy(order="C")


class Step:
    __slots__ = ("free", "node", "run")

    def __init__(self, node, run):
        self.node, self.run, self.free = node, run, ()


def compile_graph(graph, runner=None, updates=None):
    """A runner for graph: `runner(list of input arrays) -> list of output arrays`.

    runner: "entry" (the default: one native call per segment) or "steps" (one call per
    kernel from Python); the default follows TRACECOMP_LLVM_RUNNER. updates: {output
    position: input position} of the outputs the caller writes back into an input's tensor,
    which the entry runner computes in place where it can (passes/donation.py)."""
    runner = runner or os.environ.get("TRACECOMP_LLVM_RUNNER", "").strip() or "entry"
    if runner not in RUNNERS:
        raise ValueError(f"compile_graph: runner must be one of {RUNNERS}, got {runner!r} "
                         "(check TRACECOMP_LLVM_RUNNER)")
    names, stage = node_names(graph), Stage()
    try:
        return _lower(graph, runner, names, stage, updates or {})
    except (TracecompError, MemoryError):
        raise
    except Exception as exc:    # valid code must not meet llvmlite's (or our) internals
        raise lowering_bug(exc, graph, names, stage) from exc


def _lower(graph, runner, names, stage, updates):
    """compile_graph's work; `stage` says what it is doing, for lowering_bug."""
    gemms = {d: blas.find_gemm(d) for d in ("float32", "float64")}
    recipe_text = None      # the disk cache's key, before the IR exists (recipe.py)
    if runner == "entry" and cache.cache_dir() is not None:
        recipe_text = recipe.describe(graph, updates, runner, {  # code calls a BLAS by name
            "blas": [(d, s and (s.name, s.int_bits)) for d, s in gemms.items()],
            "threads": parallel.threads(), "l2": host_cpu.l2_bytes(),  # how products split
            **recipe.environment()}, SOURCES)
    clone_log, guards = [], []
    if runner == "entry":       # guards on inputs run before the native code (input_guards.py)
        graph, guards, clone_log, names = input_guards.split_off(graph, names)
        # each product its own columns (chunk loops, passes/chunks.py)
        cloned, log = chunks.clone_columns(graph)
        if cloned is not graph:
            graph, names, clone_log = cloned, node_names(cloned), clone_log + log
    stage.begin("fusion", len(graph.nodes))                 # nodes -> groups
    # the BLAS and the generated GEMM both read an operand transposed where it lies
    plan = fusion.run(graph, target.host())
    plan.log += clone_log
    stage.end(len(plan.groups))
    split = {g.root: parallel.extent(g) for g in plan.groups
             if runner == "entry" and g.kind in RANGED and parallel.extent(g)}
    native = [g for g in plan.groups if g.kind in BUILDERS]
    # a large product: blocks of C over threads, or of K where it reads a weight the graph
    # updates (parallel.k_first), the partial products of blocks after the first in a
    # scratch value (memory.PartialProducts); a backward's trained parameters count as
    # updated: the optimizer's update writes them after the call
    updated = {graph.inputs[j] for j in updates.values()} | \
        {n for n in graph.inputs if n.params.get("trained")}
    cuts = {g.root: parallel.gemm_split(g, updated)
            for g in plan.groups if runner == "entry" and g.kind == "matmul"}
    cuts = {root: cut for root, cut in cuts.items() if cut}
    for g in plan.groups:
        if g.root in cuts:
            split[g.root] = parallel.gemm_extent(g, cuts[g.root])
    loops = []
    if runner == "entry":   # the order the entries run them in, where chunk loops are found
        plan.groups = schedule.hoisted(plan.groups, lambda g: g.kind in BUILDERS
                                       or g.kind == "matmul")
        plan.groups, loops = chunks.find(graph, plan.groups, parallel.chunk_slots())
        # a 2-D product whose mask can be written over a buffer the product is done with:
        # blocks of rows (passes/row_loops.py)
        # and one the threads would split by C's rows or columns, computed by dot products
        # (a forward layer, x @ W^T): fused with the kernel after it, a few rows at a time
        plan.groups, rows = row_loops.find(
            graph, plan.groups, parallel.chunk_slots(), gemm_choice.row_block(),
            {id(g) for loop in loops for g in loop.groups},
            fused=lambda g: _fused_rows(g, cuts.get(g.root), parallel.chunk_slots(),
                                        updated))
        loops += rows
    ranged = set(split)
    summed = {loop.summed.root for loop in loops if loop.summed is not None}
    for loop in loops:      # its kernels run a chunk at a time, inside the loop's entry
        for g in loop.groups:
            split.pop(g.root, None)
            cuts.pop(g.root, None)
        ranged |= {g.root for g in loop.makers + [loop.consumer] if g is not None}
    # a loop's sum over chunks is its partials added up by its own step: no kernel
    keys = {g.root: group_keys.key(g, g.root in ranged) for g in native
            if g.root not in summed}
    kernel_names, first = _kernel_names(plan.groups, keys)

    def emit_kernels(module, compiled=frozenset()):      # groups -> kernel functions
        """compiled: the structures whose kernels an earlier graph compiled (kernel_reuse.py):
        declared here, linked to that code."""
        stage.begin("llvm kernels", len(plan.groups))
        for group in first:
            name = kernel_names[group.root]
            if keys[group.root] in compiled:
                ir.Function(module, kernel_type(group, group.root in ranged), name)
                continue
            stage.enter(f"emitting {name}", group.nodes)
            if group.root in ranged:
                RANGED[group.kind](module, group, name, ranged=True)
            else:
                BUILDERS[group.kind](module, group, name)
            # called, never inlined: one copy of a kernel however many groups run it (an
            # unrolled RNN's time steps: a 2-layer GRU over 10 steps has 172 kernels, 27
            # distinct, 40 s -> 4 s), exported for the graphs compiled after this one
            module.globals[name].attributes.add("noinline")
        stage.end(len(first))

    for group in plan.groups:           # which graph nodes each kernel computes, for dumps
        label = kernel_names.get(group.root, group.kind)
        plan.log.append(f"{label}: " + ", ".join(f"{names[n]} {n.op}" for n in group.nodes)
                        + (f" (also stores {', '.join(names[n] for n in group.stores)})"
                           if group.stores else ""))
    if runner == "steps":
        module = engine.new_module(f"graph{next(_module_ids)}")
        emit_kernels(module)
        stage.enter("compiling the LLVM module")
        stage.begin("llvm compile", len(kernel_names))
        library = cache.compile_module(module, list(kernel_names.values())) \
            if kernel_names else None
        stage.end(len(kernel_names))
        steps = [_step(g, library, kernel_names) for g in plan.groups]
        _plan_frees(graph, plan, steps)
        return _with_phases(StepRunner(graph, plan, steps, library, names), stage)
    return _with_phases(_entry_runner(graph, plan, emit_kernels, first, kernel_names,
                                      names, split, cuts, stage, updates, recipe_text, keys,
                                      loops, summed, guards), stage)


def _kernel_names(groups, keys):
    """{group root: its kernel's name} for the groups with a structure key, and the groups
    whose kernels are emitted (the first of each structure: the others call it)."""
    names, shared, first = {}, {}, []
    for k, group in enumerate(groups):
        structure = keys.get(group.root)
        if structure is None:
            continue
        if structure not in shared:
            shared[structure] = f"kernel{k}_{group.root.op}"
            first.append(group)
        names[group.root] = shared[structure]
    return names, first


def _with_phases(runner, stage):
    """The runner, carrying the timed phases for the compile's pass log (compiler/driver.py)."""
    runner.phases = stage.phases
    return runner


def _entry_runner(graph, plan, emit_kernels, first, kernel_names, names, split, cuts,
                  stage, updates, recipe_text, keys, loops, summed, guards):
    """Plan the arena, add the entry functions, compile, wrap (runner.py). With a
    `recipe_text` (recipe.py) the disk cache is asked first, and the LLVM IR is emitted
    only on a miss, or when a dump asks for it."""
    def native(group):     # plan.groups are in their run order already (_lower hoisted them)
        return group.root in kernel_names or group.kind == "matmul" or group.root in summed
    stage.enter("planning memory")
    stage.begin("memory", len(plan.groups))                 # groups -> values in the arena
    # an output that may be donated an input's array holds that input's value until
    # written: no scratch in it
    donors = {graph.outputs[k] for k in updates or ()}
    scratch = {v: n for loop in loops for v, n in loop.scratch().items()}
    # a product split along K: its blocks, so its partial products. The memory plan keeps
    # them only where they cost no arena bytes (the bench MLP's lie in dW1's buffer, not
    # yet written); else those products are split by C's columns: the memory comes first
    partials = {root: split[root] for root, (axis, _) in cuts.items() if axis == 2}
    # a backward's residuals may lie in a gradient's buffer (runtime/lodging.py)
    memory_plan = memory.run(graph, plan, stored=native, hosts=lambda o: o not in donors,
                             scratch=scratch, together=[loop.groups for loop in loops],
                             in_place=True, partials=partials,
                             guests=[n for n in graph.inputs if n.params.get("residual")],
                             writable={v: over for loop in loops
                                       for v, over in loop.writable().items()})
    for g in plan.groups:
        if g.root in partials and g.root not in memory_plan.partials:
            cuts[g.root] = parallel.gemm_split(g)
            split[g.root] = parallel.gemm_extent(g, cuts[g.root])
    stage.end(len(memory_plan.offsets))
    gemm = {}       # root -> (code, the BLAS symbol or None, its Product), gemm/choice.py
    blas_symbols, shared = {}, {}   # what the products call: name -> address | variant
    tiered = {}     # root -> (variant, BLAS symbol): through a slot, the BLAS first (first_calls)
    row_blocks = {loop.product.root: (0, loop.rows) for loop in loops if loop.rows}
    for group in plan.groups:
        if group.kind == "matmul":     # (a row loop's product: what one block computes)
            product = _product(group, cuts.get(group.root) or row_blocks.get(group.root))
            code = gemm_choice.code(product)
            found = blas.load_for_llvm(product.dtype)
            sym = found if code == "blas" else None
            gemm[group.root] = code, sym, product
            variant = (product.dtype, code, product.trans_a, product.trans_b)
            if sym is not None:
                blas_symbols[sym.name] = sym.address
            elif found is not None:     # the BLAS until the library is in its slot
                tiered[group.root] = variant, found
                blas_symbols[found.name] = found.address
            else:       # compiled once per process (gemm/shared.py), linked below
                shared[shared_gemm.symbol(*variant)] = variant
    shared_gemm.prefetch(list(shared.values()) + [v for v, _ in tiered.values()])  # meanwhile
    if tiered:
        blas_symbols.update(first_calls.imports())
    serial_blas = any(code == "blas" for code, *_ in gemm.values())
    stage.begin("schedule", len(plan.groups))               # groups -> program segments
    layout = schedule.plan(graph, plan, memory_plan, native, lambda g: split.get(g.root),
                           loops)
    stage.end(len(layout.program))
    profile = [] if os.environ.get("TRACECOMP_PROFILE", "").strip() == "1" else None
    entry_names = [step.name for step in layout.program if step.kind != "python"] + \
        [run.name for run in layout.runs()]
    # kernels an earlier graph compiled: linked, not compiled again (kernel_reuse.py)
    structures = {keys[g.root]: kernel_names[g.root] for g in first}
    earlier = kernel_reuse.found(structures)
    linked = {structures[s]: library.address(name) for s, (library, name) in earlier.items()}
    own = {s: name for s, name in structures.items() if s not in earlier}    # compiled here
    # the native steps' first run needs the native pool's library (parallel.run_steps)
    imports = shared_gemm.Imports({**blas_symbols, **linked}, shared,
                                  [native_pool.library] if entry_names else ())

    def emit_module():
        module = engine.new_module(f"graph{next(_module_ids)}")
        emit_kernels(module, earlier)
        stage.enter("emitting the entry functions")
        def product(group):
            """What computes a product group: the BLAS symbol, or a generated GEMM or dots
            (compiled once per process, gemm/shared.py: declared here, imported by
            address)."""
            code, sym, p = gemm[group.root]
            if sym is not None:
                return sym
            if group.root in tiered:
                return first_calls.declare(module, *tiered[group.root])
            return shared_gemm.declare(module, p.dtype, code, p.trans_a, p.trans_b)
        emitted = entry.emit(module, layout, memory_plan, kernel_names, product, cuts,
                             profile)
        assert emitted == entry_names, "entry.emit names its functions as the layout does"
        stage.enter("compiling the LLVM module")     # what follows the emission
        return module

    library = None
    if entry_names:     # the kernels are emitted inside this phase, as a phase of their own
        stage.enter("linking the LLVM module from the disk cache (or compiling it)")
        stage.begin("llvm compile", len(entry_names))
        # with TRACECOMP_PROFILE the emission itself lists the profiled calls: always emit
        if recipe_text is None or profile is not None:
            split_compile.warm_up(len(own))     # a large module: start the worker
            library = cache.compile_module(emit_module(), entry_names + list(own.values()),
                                           imports=imports)
        else:
            codes = {root: code + (" after the BLAS" if root in tiered else "")
                     for root, (code, *_) in gemm.items()}
            recipe_text += "\n" + recipe.plan(graph, layout, memory_plan, kernel_names, keys,
                                               codes) \
                + f"\nkernels linked from earlier graphs: {sorted(linked)}"
            library = cache.compile_recipe(recipe_text, emit_module,
                                           entry_names + list(own.values()),
                                           imports=imports,
                                           on_miss=lambda: split_compile.warm_up(len(own)))
        stage.end(len(entry_names))
        kernel_reuse.keep(library, own)
        library.uses = list({id(lib): lib for lib, _ in earlier.values()}.values())
        plan.log += [f"{name}: compiled by an earlier graph, linked" for name in linked]
    stage.enter("building the runner")
    donated, donation_log = donation.run(graph, plan.groups, memory_plan, updates)
    plan.log += memory_plan.log + donation_log + _program_log(layout, kernel_names, names, cuts) \
        + [_product_line(g, *gemm[g.root][:2], names, g.root in tiered)
           for g in plan.groups if g.root in gemm]
    python_steps = {s.groups[0].root: _step(s.groups[0], None, {}).run
                    for s in layout.program if s.kind == "python"}
    runner = EntryRunner(graph, plan, layout, memory_plan, library, python_steps, names,
                         donated, serial_blas=serial_blas, guards=guards,
                         second_call=_filling(tiered))
    if profile is not None:
        runner.profile_sites([_site_label(step, g, kernel_names, names) for step, g in profile])
    runner.donation_log = donation_log
    return runner


def _filling(tiered):
    """What a runner runs before its second call where products take the BLAS first: fill
    their slots (gemm/first_calls.py); None where none does."""
    variants = tuple(dict.fromkeys(v for v, _ in tiered.values()))
    return (lambda: first_calls.fill(variants)) if variants else None


def _site_label(step, group, kernel_names, names):
    """What a profiled call computes: its kernel (or product) and the nodes in it."""
    root = group.root
    what = kernel_names.get(root) or f"gemm({names[root]})"
    ops = ", ".join(f"{names[n]} {n.op}" for n in group.nodes[-3:])
    more = "..., " if len(group.nodes) > 3 else ""
    how = {"split": " (split)", "chunks": " (chunk loop, with its kernels)",
           "sum": " (partial sums added)"}.get(step.kind, "")
    return f"{step.name}{how}: {what} [{more}{ops}] -> " \
        f"{list(root.shape)}"


def _product(group, split):
    """A product group as gemm/choice.py sees it: what one call computes (an item of a
    batched product; a block of C's rows or columns, or of K, where the product is split
    over threads: `split`, parallel.gemm_split's answer)."""
    (a, trans_a), (_, trans_b) = entry.matmul_operands(group)
    m, n = group.root.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    if split is not None:
        axis, width = split
        m, n, k = [min(side, width) if ax == axis else side for ax, side in enumerate((m, n, k))]
    dtype = group.root.dtype.name
    return gemm_choice.Product(dtype, m, n, k, trans_a, trans_b,
                               blas.find_gemm(dtype) is not None)


def _fused_rows(group, cut, slots, updated):
    """Rows per block of a fused row loop (passes/row_loops.py) for a product split over
    threads by C's rows or columns (`cut`) whose blocks dots computes: FUSED_BLOCKS_PER_SLOT
    blocks per thread, a whole number of dots' tile rows each; 0 for none. Not where B is
    `updated` (a training step's weight): each thread's blocks of rows read all of B, and
    the update's threads then write lines both cores hold copies of (parallel.rows_first:
    the bench MLP's whole step, W1's update 73 -> 164 us of thread time, the step 468 ->
    554 us)."""
    if cut is None or cut[0] == 2 or entry.matmul_operands(group)[1][0] in updated:
        return 0
    tile = dots.tile_shape()[0]
    rows = group.root.shape[0] // (slots * gemm_choice.FUSED_BLOCKS_PER_SLOT) // tile * tile
    product = _product(group, (0, max(rows, tile)))
    return rows if rows and gemm_choice.code(product) == "dots" else 0


SPLIT_AXES = ("rows", "columns", "along K (a partial product each)")
CODE_NAMES = {"generated": "the generated GEMM", "dots": "dots (dot products along K)"}


def _product_line(group, code, sym, names, tiered=False):
    """Which code computes a product (gemm/choice.py), and the operands it reads
    transposed where they lie; tiered: the BLAS until its library's slot is filled
    (gemm/first_calls.py)."""
    flags = [f"{x}^T" for x, (_, t) in zip("AB", entry.matmul_operands(group)) if t]
    return f"gemm({names[group.root]}): {CODE_NAMES.get(code) or sym.name}" \
        + (f", reading {' and '.join(flags)} in place" if flags else "") \
        + (" (the BLAS on first calls, gemm/first_calls.py)" if tiered else "")


def _program_log(layout, kernel_names, names, cuts):
    """One line per native segment (what its entry calls), split kernel or Python step.
    cuts: {product: parallel.gemm_split's answer} for the split products."""
    lines = []
    for step in layout.program:
        g = step.groups[0]
        if step.kind == "native":
            calls = [kernel_names.get(g.root) or f"gemm({names[g.root]})" for g in step.groups]
            lines.append(f"{step.name}: one native call runs " + ", ".join(calls))
        elif step.kind == "split" and g.root not in kernel_names:
            axis, width = cuts[g.root]
            lines.append(f"{step.name}: gemm({names[g.root]}) split over threads in "
                         f"{step.extent} blocks of {width} {SPLIT_AXES[axis]}")
        elif step.kind == "chunks":
            loop = step.loop
            calls = [kernel_names.get(g.root) or f"gemm({names[g.root]})" for g in loop.groups
                     if g is not loop.summed]
            rows = f" of {loop.rows} rows" if loop.rows else ""
            lines.append(f"{step.name}: chunk loop over {loop.chunks} chunks{rows}, "
                         f"{loop.slots} at a time (one per thread): " + ", ".join(calls)
                         + (" (each slot adding into a partial sum)" if loop.summed else ""))
        elif step.kind == "sum" and step.loop is None:
            lines.append(f"{step.name}: {names[g.root]} = the sum of its {step.extent} "
                         f"partial products")
        elif step.kind == "sum":
            lines.append(f"{step.name}: {names[g.root]} = the sum of the {step.loop.slots} "
                         f"partial sums of gemm({names[step.loop.product.root]})")
        elif step.kind == "split":
            lines.append(f"{step.name}: {kernel_names[g.root]} split over threads along dim 0 "
                         f"(extent {step.extent}, ~{parallel.work(g):.3g} element ops)")
        else:
            lines.append(f"python: {names[g.root]} {g.root.op} (numpy, between native calls)")
    return lines


def _step(group, library, kernel_names):
    root = group.root
    if group.kind in BUILDERS:
        return Step(root, _native(library, kernel_names[root], group))
    if group.kind in ("matmul", "batched_matmul"):     # the latter: numpy, transposes as views
        return Step(root, _matmul(group))
    if group.kind == "view":
        x, shape = root.inputs[0], root.shape
        return Step(root, lambda env: env[x].reshape(shape))
    if group.kind == "constant":
        value = contiguous(root.params["value"])
        return Step(root, lambda env: value)
    return Step(root, _numpy(root))


def _native(library, name, group):
    values, inputs = group.values(), group.inputs
    fn = library.cfunc(name, None, *([ctypes.c_void_p] * (len(inputs) + len(values))))

    def run(env):
        outs = [np.empty(v.shape, v.dtype) for v in values]
        fn(*[env[i].ctypes.data for i in inputs], *[o.ctypes.data for o in outs])
        for v, out in zip(values[1:], outs[1:]):    # the kernel's stores besides its root
            env[v] = out
        return outs[0]
    return run


def _matmul(group):
    """matmul(a, b) where a or b may be transposes pulled into the group."""
    members = set(group.nodes)
    operands = []
    for x in group.root.inputs:
        if x in members:            # a transpose: read its input transposed, as a view
            src = x.inputs[0]
            operands.append(lambda env, src=src: np.swapaxes(env[src], -1, -2))
        else:
            operands.append(lambda env, x=x: env[x])
    a, b = operands
    return lambda env: np.matmul(a(env), b(env))


def _numpy(node):
    prim, params, dtype = node.prim, node.params, node.dtype
    operands = node.inputs

    def run(env):
        arrays = [env[i] if isinstance(i, Node) else i for i in operands]
        out = prim.impl(*arrays, **params)
        if type(out) is not np.ndarray or out.dtype != dtype:
            out = prim.as_dtype(out, arrays, params, dtype)
        return contiguous(out)
    return run


def _plan_frees(graph, plan, steps):
    """Each value is dropped after the last step that reads it (graph outputs are kept)."""
    last = {}
    for k, group in enumerate(plan.groups):
        for x in group.inputs:
            last[x] = k
    keep = set(graph.outputs)
    for k, step in enumerate(steps):
        step.free = tuple(x for x in plan.groups[k].inputs if last[x] == k and x not in keep)


def compile_sized(graph, concrete):
    """A program for a dynamic graph (sizes that hold Syms; compiler/dynamic.py) whose
    `.at(s)` is its runner at size s; `concrete` is the graph at one size (sized.py)."""
    # imported here: a static graph's first call from the disk cache would pay ~1-2 ms
    from . import sized
    try:
        return sized.compile_sized(graph, concrete)
    except (TracecompError, MemoryError):
        raise
    except Exception as exc:    # as compile_graph: a tracecomp bug, named as one
        raise lowering_bug(exc, graph, node_names(graph), Stage()) from exc


compile_graph.sized = compile_sized     # compiler/dynamic.py looks for it
