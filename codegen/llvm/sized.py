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
over the dim),
Undecided stops it, and its nodes run their numpy impls instead, as the fusion log says
("numpy (its kernel needs a fixed size: ...)"). Products run on numpy's BLAS (np.matmul),
views reshape, other primitives run their numpy impls: every step is called from Python,
one per group, as the steps runner does (backend.py), on fresh arrays shaped for the
sizes. The
entry runner's arena and one native call per segment need sizes fixed at compile time; a
dynamic graph trades them for not compiling again.
"""
import ctypes
import itertools
import math

import numpy as np
from llvmlite import ir

from tracecomp.errors import IRError, TracecompError
from tracecomp.ir import Node, execution_error, format_node, node_names
from tracecomp.passes import fusion
from tracecomp.passes.fusion import Group
from tracecomp.symbolic import Sym, Undecided, generated, is_static, value_at

from . import target
from .lower.kernels import I64, PTR, c64, elementwise_kernel
from .lower.reductions import reduce_kernel
from .lower.window import fold_kernel, unfold_kernel
from .runtime import cache, engine, parallel
from .runtime.runner import address

# what a dynamic graph's groups compile to natively: the static backend's kernels, which
# raise Undecided where a size they need is a symbol's (then the group runs from numpy)
BUILDERS = {"elementwise": elementwise_kernel, "reduce": reduce_kernel, "fold": fold_kernel,
            "unfold": unfold_kernel}
# groups that run from Python by design: numpy's BLAS, a reshape, a constant
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
    kernels, splits = {}, {}        # root -> its kernel's name, its split entry's name
    # a name is never used twice: a kernel that could not be built leaves the module's
    # globals, but its name stays taken in the module's scope (llvmlite's DuplicatedNameError)
    numbers = itertools.count()
    log = [f"dynamic graph ({_symbols(graph)}):\n{graph}", *plan.log]
    for g in groups:
        if g.kind not in BUILDERS:
            if g.kind not in PYTHON_KINDS:
                log.append(f"numpy (no dynamic kernel for {g.kind}): "
                           f"{', '.join(names[n] for n in g.nodes)}")
            continue
        name = f"kernel{next(numbers)}_{g.root.op}"
        ranged = _splittable(g)
        try:
            kernel = BUILDERS[g.kind](module, g, name, ranged=True) if ranged else \
                BUILDERS[g.kind](module, g, name)
        except (Undecided, TypeError) as why:   # TypeError: int-only arithmetic on a Sym
            del module.globals[name]        # the half-emitted function
            log.append(f"numpy (its kernel needs a fixed size: {why}): "
                       f"{', '.join(f'{names[n]} {n.op}' for n in g.nodes)}")
            continue
        kernels[g.root] = name
        if ranged:
            splits[g.root] = _split_entry(module, g, kernel, f"split_{name}")
    exported = list(kernels.values()) + list(splits.values())
    library = cache.compile_module(module, exported) if kernels else None
    return SizedProgram(graph, groups, kernels, splits, library, names, log)


def _splittable(group):
    """Whether a group's kernel is built ranged, to be split over threads at the sizes where
    it is large enough (parallel.extent's rule, decided per size): an elementwise kernel,
    or a reduction that keeps dim 0, whose work may reach parallel.KERNEL_SPLIT_WORK."""
    root = group.root
    if group.kind not in ("elementwise", "reduce") or root.ndim == 0 or \
            group.kind == "reduce" and 0 in root.params["dims"]:
        return False
    return not is_static(parallel.counted(group).shape) or \
        parallel.work(group) >= parallel.KERNEL_SPLIT_WORK


def _split_entry(module, group, kernel, name):
    """`void name(ptr slots, i64 start, i64 stop)`: the ranged kernel on the buffers in
    slots (then the sizes' and the numbers' tables), for parallel.pool; returns name."""
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]), name)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    slots, start, stop = fn.args
    n = len(group.inputs) + len(group.values())

    def slot(k, typ):
        return b.load(b.gep(slots, [c64(k)], source_etype=typ), typ=typ)
    sized = [slot(n, PTR), slot(n + 1, PTR)] if group.sized else []
    b.call(kernel, [slot(k, PTR) for k in range(n)] + [start, stop] + sized)
    b.ret_void()
    return name


def _symbols(graph):
    """Which input dim each symbol is, in words: "s: x dim 0", "s0: ids dim 0, s1: ids
    dim 1"."""
    found = {}
    for n in graph.inputs:
        for d, size in enumerate(n.shape):
            if isinstance(size, Sym) and list(size.terms.values()) == [1] and \
                    sum(next(iter(size.terms))) == 1:
                found.setdefault(size.symbols()[0], (size.domain, f"{n.name} dim {d}"))
    return ", ".join(f"{domain.names()[k]}: {dim}" for k, (domain, dim) in sorted(found.items()))


def _domain(graph):
    """The Domain of the graph's Syms (an input dim holds each symbol)."""
    return next(size.domain for n in graph.inputs for size in n.shape if isinstance(size, Sym))


def _static(node):
    """Whether nothing about node depends on the size: shape, params, scalar operands."""
    return is_static(node.shape) and is_static(tuple(node.params.values())) and \
        is_static(tuple(i for i in node.inputs if not isinstance(i, Node)))


class SizedProgram:
    """The compiled kernels of a dynamic graph, and how to run its groups at a size."""

    def __init__(self, graph, groups, kernels, splits, library, names, log):
        self.graph, self.groups, self.kernels = graph, groups, kernels
        self.library, self.names, self.fusion_log = library, names, log
        self.fns = {g.root: library.cfunc(kernels[g.root], None, *[ctypes.c_void_p] * (
            len(g.inputs) + len(g.values())), *[ctypes.c_int64] * 2 * (g.root in splits),
            *[ctypes.c_void_p] * 2 * g.sized) for g in groups if g.root in kernels}
        # root -> (its split entry, the entry's address) for parallel.pool
        self.splits = {root: (library.cfunc(name, None, ctypes.c_void_p, ctypes.c_int64,
                                            ctypes.c_int64), library.address(name))
                       for root, name in splits.items()}

    def at(self, sizes, numbers=()):
        """A runner(arrays) -> arrays of the graph at `sizes` (one per symbol), its
        RuntimeNumbers `numbers`."""
        return SizedRunner(self, sizes, numbers)

    llvm_ir = property(lambda self: self.library.llvm_ir if self.library else "")
    optimized_ir = property(lambda self: cache.optimized_ir(self.library)
                            if self.library else "")
    asm = property(lambda self: self.library.asm if self.optimized_ir else "")


class SizedRunner:
    """runner(list of input arrays) -> list of output arrays, at one set of sizes: one step
    per group from Python, every array shaped at them."""

    def __init__(self, program, s, numbers):
        self.program, self.s = program, s
        # the sizes' and the numbers' tables the kernels read (kept alive with the runner)
        self.sizes = np.array(s, np.int64)
        self.numbers = np.array(numbers or [0.0], np.float64)
        self.where = _domain(program.graph).describe(s)
        self.fusion_log = program.fusion_log + [f"dynamic graph run at {self.where}"]
        graph = program.graph
        last = {}
        for k, g in enumerate(program.groups):
            for x in g.inputs:
                last[x] = k
        keep = set(graph.outputs)
        self.steps = []     # (node, run(env), node's shape at s, values to drop)
        for k, g in enumerate(program.groups):
            steps = [(node, run, value_at(node.shape, s), ())
                     for node, run in _steps(program, g, s, self.sizes, self.numbers)]
            steps[-1] = (*steps[-1][:3], tuple(x for x in g.inputs
                                               if last[x] == k and x not in keep))
            self.steps += steps

    llvm_ir = property(lambda self: self.program.llvm_ir)
    optimized_ir = property(lambda self: self.program.optimized_ir)
    asm = property(lambda self: self.program.asm)

    def __call__(self, arrays):
        # numpy's BLAS on one thread, as the entry runner has it: on our 2-core VMs its
        # threads waking for each small product made some take 4 ms instead of 80 us
        parallel.serial_blas_begin()
        try:
            return self._run(arrays)
        finally:
            parallel.serial_blas_end()

    def _run(self, arrays):
        graph, names = self.program.graph, self.program.names
        env = {n: a if a.flags.c_contiguous else a.copy(order="C")
               for n, a in zip(graph.inputs, arrays)}
        for node, run, shape, free in self.steps:
            try:
                out = run(env)
            except TracecompError:
                raise
            except Exception as exc:
                raise execution_error(exc, node, names) from exc
            if out is not None:             # a native call stored its values itself
                if out.shape != shape:
                    raise IRError(f"a Python step of a dynamic graph returned shape "
                                  f"{list(out.shape)} where the graph says {list(shape)} at "
                                  f"{self.where}\nWhile executing {format_node(node, names)}")
                env[node] = out
            for dead in free:
                del env[dead]
        return [env[o] for o in graph.outputs]


def _steps(program, group, s, sizes, numbers):
    """(node, run(env)) for the group at sizes s (`sizes` their table): one native call
    (which stores its values in env, and returns None), or one step per member (numpy)."""
    root = group.root
    fn = program.fns.get(root)
    if fn is not None:
        return [(root, _native(program, group, s, sizes, numbers))]
    if group.kind in ("matmul", "batched_matmul"):
        return [(root, _matmul(group, s))]
    if group.kind == "view":
        x, shape = root.inputs[0], value_at(root.shape, s)
        return [(root, lambda env: env[x].reshape(shape))]
    if group.kind == "constant":    # one of a dynamic shape is made at s from its params
        value = root.params["value"].copy(order="C") if "value" in root.params else \
            generated(root.params, value_at(root.shape, s), root.dtype)
        return [(root, lambda env: value)]
    return [(n, _numpy(n, s, numbers)) for n in group.nodes
            if n.op not in ("input", "constant")]


def _native(program, group, s, sizes, numbers):
    """One kernel call at sizes s: on dim 0's range [0, extent) when built ranged, split
    over threads (parallel.pool) where its work at s reaches parallel.KERNEL_SPLIT_WORK."""
    fn, root = program.fns[group.root], group.root
    values, inputs = group.values(), group.inputs
    shapes = [(v, value_at(v.shape, s), v.dtype) for v in values]
    size = (address(sizes), address(numbers)) if group.sized else ()
    split = program.splits.get(root)
    extent = value_at(root.shape[0], s) if split else None
    if split and extent >= 2 and math.prod(value_at(parallel.counted(group).shape, s)) * \
            parallel.weight(group) >= parallel.KERNEL_SPLIT_WORK:
        entry, entry_address = split
        slot_type = ctypes.c_void_p * (len(inputs) + len(values) + len(size))

        def run_split(env):
            outs = [np.empty(shape, dtype) for _, shape, dtype in shapes]
            slots = slot_type(*[address(env[i]) for i in inputs],
                              *[address(o) for o in outs], *size)
            parallel.pool.run(entry, slots, extent, address=entry_address)
            for (v, _, _), out in zip(shapes, outs):
                env[v] = out
        return run_split
    whole = (0, extent) if split else ()

    def run(env):
        outs = [np.empty(shape, dtype) for _, shape, dtype in shapes]
        fn(*[address(env[i]) for i in inputs], *[address(o) for o in outs], *whole, *size)
        for (v, _, _), out in zip(shapes, outs):
            env[v] = out
    return run


def _matmul(group, s):
    """matmul(a, b) where a or b may be transposes pulled into the group (read as views).
    A batch of rows times one matrix (a layer's [B, T, E] @ W) is one product over B * T
    rows: numpy would make B small ones (8 calls of a [48, 64] @ [64, 192] product took
    ~4x as long as one [384, 64] @ [64, 192]). The BLAS runs on one thread (SizedRunner)
    except for a product as large as the entry runner splits over threads (parallel.py):
    a LeNet step's convolution products at batch 50 took 5.0 ms on one thread."""
    members = set(group.nodes)
    ops = [(x.inputs[0], True) if x in members else (x, False) for x in group.root.inputs]
    (a, ta), (b, tb) = ops
    root = group.root
    work = math.prod(value_at(root.shape, s)) * value_at(root.inputs[0].shape[-1], s)
    threaded = work >= parallel.SPLIT_WORK

    def product(x, y):
        x = np.swapaxes(x, -1, -2) if ta else x
        y = np.swapaxes(y, -1, -2) if tb else y
        if x.ndim > 2 and y.ndim == 2 and not ta:       # x is C-contiguous: rows in a row
            return np.matmul(x.reshape(-1, x.shape[-1]), y).reshape(*x.shape[:-1], -1)
        return np.matmul(x, y)

    def run(env):
        if not threaded:
            return product(env[a], env[b])
        parallel.serial_blas_end()      # the BLAS's own threads, for this product only
        try:
            return product(env[a], env[b])
        finally:
            parallel.serial_blas_begin()
    return run


def _numpy(node, s, numbers):
    prim, params, dtype = node.prim, value_at(node.params, s), node.dtype
    operands = [value_at(i, s, numbers) for i in node.inputs]

    def run(env):
        arrays = [env[i] if isinstance(i, Node) else i for i in operands]
        out = prim.impl(*arrays, **params)
        if type(out) is not np.ndarray or out.dtype != dtype:
            out = prim.as_dtype(out, arrays, params, dtype)
        return out if out.flags.c_contiguous else out.copy(order="C")
    return run
