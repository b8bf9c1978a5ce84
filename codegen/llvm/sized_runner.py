"""A dynamic graph's runner at one set of sizes: the segments' tables, laid out once per size.

    runner = SizedRunner(program, s, numbers)     # sized.SizedProgram.at(s, numbers)
    outputs = runner(list of input arrays)

What is worked out when the runner is made (once per size, when a new size first runs):

  - every stored value's bytes at s; a view (reshape) shares its base's buffer;
  - the arena: the values native steps write that no output holds, at offsets a first-fit
    plan over their lifetimes gives (a value's bytes are free again after the step that
    reads it last), so a training step's intermediates reuse memory as the static plan
    (passes/memory.py) has them do;
  - the ints table (sized_segments.py): each product's m, n, k, leading dims, batch and
    strides (a batch of rows times one matrix, one product over all rows), each ranged
    kernel's dim-0 extent and whether it is split over threads at this size (the entry
    runner's rule: parallel.KERNEL_SPLIT_WORK);
  - the constants at s.

A call fills the pointers table (the arena's base plus the offsets; the inputs; an array
per output that no caller holds: spares.spare_or_new, as the entry runner's), then runs the
program: one native call per segment (parallel.Pool.run_steps, which hands split kernels
to the native pool), and between segments the Python steps (a group without a native
kernel or product: numpy, one step per node) on arrays that view the arena, whose results'
pointers go into their slots before the next segment reads them.
"""
import math
import threading

import numpy as np

from tracecomp.errors import IRError, TracecompError
from tracecomp.ir import Node, execution_error, format_node
from tracecomp.symbolic import generated, value_at

from .lower.entry import matmul_operands
from .runtime import parallel
from .runtime.runner import address
from .runtime.spares import SPARE_FROM, spare_or_new
from .sized_segments import GEMM_INTS, PRODUCT_KINDS, reads_writes

ALIGN = 64      # bytes: each arena value's offset, and the arena's start


class SizedRunner:
    """runner(list of input arrays) -> list of output arrays, at the sizes s."""

    def __init__(self, program, s, numbers, where):
        self.program, self.s, self.where = program, s, where
        segments, graph = program.segments, program.graph
        self.sizes = np.array(s, np.int64)
        self.numbers = np.array(numbers or [0.0], np.float64)
        self.fusion_log = program.fusion_log + [f"dynamic graph run at {where}"]
        base = {}
        for g in program.groups:
            if g.kind == "view":
                x = g.root.inputs[0]
                base[g.root] = base.get(x, x)
        self.base = lambda n: base.get(n, n)
        self.consts = {g.root: _constant(g.root, s) for g in program.groups
                       if g.kind == "constant"}
        self.ints = self._ints(segments)
        inputs = {n: k for k, n in enumerate(graph.inputs)}
        written = {v for kind, *rest in segments.program if kind == "native"
                   for g in rest[1] for v in reads_writes(g)[1]}
        self.fresh = list(dict.fromkeys(self.base(o) for o in graph.outputs
                                        if self.base(o) in written))
        self.fresh_at = {b: k for k, b in enumerate(self.fresh)}
        offsets, self.arena_bytes = self._plan(segments, written - set(self.fresh))
        # the pointers table: constants and arena offsets now; per call: the arena's base
        # added, the inputs, fresh outputs and Python results written
        table = np.zeros(max(1, len(segments.slot)), np.int64)
        arena_slots, self.per_call = [], {}     # per_call: base -> its slots
        for node, k in segments.slot.items():
            b = self.base(node)
            if b in offsets:
                table[k] = offsets[b]
                arena_slots.append(k)
            elif b in self.consts:
                table[k] = self.consts[b].ctypes.data
            else:
                self.per_call.setdefault(b, []).append(k)
        self.table, self.arena_slots = table, np.array(arena_slots, np.intp)
        self.offsets = offsets
        self.input_slots = [(inputs[b], ks) for b, ks in self.per_call.items() if b in inputs]
        self.fresh_spec = [(value_at(b.shape, s), b.dtype, self.per_call.get(b, []))
                           for b in self.fresh]
        # output buffers of a page or more are reused once no caller holds them (a fresh
        # one per call page-faulted: the CNN step's updated weights, 125 KB)
        self.spares = [[] if math.prod(shape) * dtype.itemsize >= SPARE_FROM else None
                       for shape, dtype, _ in self.fresh_spec]
        self.out_plan = [self._source(o, inputs) for o in graph.outputs]
        self.steps = [(kind, program.fns[rest[0]]) if kind == "native" else
                      (kind, python_steps(rest[0], s, self.numbers))
                      for kind, *rest in segments.program]
        self._lock = threading.Lock()
        self._arena = _arena(self.arena_bytes)
        profiled = segments.profiled or ()
        self.counts = np.zeros(max(1, 2 * len(profiled)), np.int64)     # TRACECOMP_PROFILE
        self.calls = 0

    @property
    def kernel_profile(self):
        """Lines of time per kernel and product at these sizes, most first, since the
        runner was made (TRACECOMP_PROFILE=1 at compile time; else an empty list)."""
        profiled = self.program.segments.profiled
        if not profiled:
            return []
        ns, calls = self.counts[0::2], self.counts[1::2]
        total, runs = max(1, int(ns.sum())), max(1, self.calls)
        names = self.program.names

        def label(g):
            nodes = ", ".join(f"{names[n]} {n.op}" for n in g.nodes[-3:])
            return f"{g.kind} [{nodes}] -> {list(value_at(g.root.shape, self.s))}"
        return [f"{ns[k] / 1e3 / runs:10.1f} us {100 * ns[k] / total:5.1f} %  "
                f"{calls[k] / runs:4.0f} calls  {label(profiled[k])}"
                for k in np.argsort(-ns, kind="stable")] + \
            [f"(per call of the graph at {self.where}, over {self.calls} calls)"]

    @property
    def split(self):
        """The roots of the kernels and products split over threads at these sizes."""
        segments, blocks = self.program.segments, GEMM_INTS.index("blocks")
        return [root for root in segments.ranged if self.ints[segments.ints[root] + 1]] + \
            [root for root in segments.codes if self.ints[segments.ints[root] + blocks] > 1]

    llvm_ir = property(lambda self: self.program.llvm_ir)
    optimized_ir = property(lambda self: self.program.optimized_ir)
    asm = property(lambda self: self.program.asm)

    def _ints(self, segments):
        """The ints table at these sizes (sized_segments.py)."""
        ints = np.zeros(max(1, segments.n_ints), np.int64)
        for kind, *rest in segments.program:
            for g in rest[1] if kind == "native" else ():
                at = segments.ints[g.root]
                if g.kind in PRODUCT_KINDS:
                    ints[at:at + len(GEMM_INTS)] = _gemm_ints(g, self.s)
                elif g.root in segments.ranged:
                    extent = value_at(g.root.shape[0], self.s)
                    work = math.prod(value_at(parallel.counted(g).shape, self.s)) * \
                        self.program.weight(g)
                    ints[at:at + 2] = extent, extent >= 2 and \
                        work >= parallel.KERNEL_SPLIT_WORK
        return ints

    def _plan(self, segments, arena):
        """{arena value: byte offset}, and the arena's bytes: first fit over lifetimes
        (a value is written by one step and free after the last step that reads it or a
        view of it)."""
        last, order = {}, []
        for t, (kind, *rest) in enumerate(segments.program):
            groups = rest[1] if kind == "native" else [rest[0]]
            for g in groups:
                reads, writes = reads_writes(g) if kind == "native" else (g.inputs, [])
                order.append((t, [v for v in writes if v in arena]))
                for x in reads:
                    last[self.base(x)] = t
        offsets, live, top = {}, [], 0      # live: (offset, bytes, last step)
        for t, made in order:
            live = [x for x in live if x[2] >= t]
            for v in made:
                need = _rounded(math.prod(value_at(v.shape, self.s)) * v.dtype.itemsize)
                at = 0
                for lo, size, _ in sorted(live):
                    if lo - at >= need:
                        break
                    at = max(at, lo + size)
                offsets[v] = at
                live.append((at, need, last.get(v, t)))
                top = max(top, at + need)
        return offsets, top

    def _source(self, out, inputs):
        """How a call finds output `out`: (where, key, shape or None)."""
        b = self.base(out)
        shape = None if b is out else value_at(out.shape, self.s)
        if b in inputs:
            return ("input", inputs[b], shape)
        if b in self.consts:
            return ("constant", b, shape)
        if b in self.fresh_at:
            return ("fresh", self.fresh_at[b], shape)
        return ("python", b, shape)

    def __call__(self, arrays):
        # numpy's BLAS on one thread, as the entry runner has it: on our 2-core VMs its
        # threads waking for each small product made some take 4 ms instead of 80 us
        parallel.serial_blas_begin()
        mine = self._lock.acquire(False)
        try:
            return self._run(arrays, self._arena if mine else _arena(self.arena_bytes))
        finally:
            if mine:
                self._lock.release()
            parallel.serial_blas_end()

    def _run(self, arrays, arena):
        arrays = [a if a.flags.c_contiguous else a.copy(order="C") for a in arrays]
        table = self.table.copy()
        start = address(arena) + (-address(arena)) % ALIGN
        table[self.arena_slots] += start
        for k, slots in self.input_slots:
            table[slots] = address(arrays[k]) if arrays[k].size else 0
        fresh = []
        for (shape, dtype, slots), spare in zip(self.fresh_spec, self.spares):
            a = np.empty(shape, dtype) if spare is None else spare_or_new(spare, shape, dtype)
            fresh.append(a)
            if slots:
                table[slots] = address(a)
        ctx = np.array([table.ctypes.data, self.ints.ctypes.data, self.sizes.ctypes.data,
                        self.numbers.ctypes.data, self.counts.ctypes.data], np.int64)
        self.calls += 1
        env = _Env(self, arrays, fresh, arena, start)
        parts = None
        for kind, step in self.steps:
            if kind == "native":
                parts = parts or parallel.usable_threads()
                parallel.pool.run_steps(step, ctx.ctypes.data, parts)
                continue
            for node, run, shape in step:
                try:
                    out = run(env)
                except TracecompError:
                    raise
                except Exception as exc:
                    raise execution_error(exc, node, self.program.names) from exc
                env.put(node, self._conformed(out, node, shape, start), table)
        return [env.output(where, key, shape) for where, key, shape in self.out_plan]

    def _conformed(self, out, node, shape, start):
        """A Python step's result as the segments read it: the node's dtype, C-contiguous,
        never a view into the arena (whose bytes a later value reuses)."""
        if out.shape != shape:
            raise IRError(f"a Python step of a dynamic graph returned shape "
                          f"{list(out.shape)} where the graph says {list(shape)} at "
                          f"{self.where}\nWhile executing {format_node(node, self.program.names)}")
        if out.size and start <= out.ctypes.data < start + self.arena_bytes:
            out = out.copy()
        return out


class _Env:
    """env[node] -> node's array during a call, for the Python steps."""

    def __init__(self, runner, arrays, fresh, arena, start):
        self.r, self.arrays, self.fresh = runner, arrays, fresh
        self.arena, self.start = arena, start - address(arena)
        self.results = {}
        self.inputs = {n: a for n, a in zip(runner.program.graph.inputs, arrays)}

    def __getitem__(self, node):
        r = self.r
        b = r.base(node)
        if b in self.results:
            a = self.results[b]
        elif b in self.inputs:
            a = self.inputs[b]
        elif b in r.consts:
            a = r.consts[b]
        elif b in r.offsets:
            shape = value_at(b.shape, r.s)
            lo = self.start + r.offsets[b]
            a = self.arena[lo:lo + math.prod(shape) * b.dtype.itemsize].view(b.dtype)
            a = a.reshape(shape)
        else:
            a = self.fresh[r.fresh_at[b]]
        return a if b is node else a.reshape(value_at(node.shape, r.s))

    def put(self, node, out, table):
        self.results[node] = out
        slots = self.r.per_call.get(node)
        if slots:
            table[slots] = address(out) if out.size else 0

    def output(self, where, key, shape):
        a = {"input": lambda: self.arrays[key], "constant": lambda: self.r.consts[key].copy(),
             "fresh": lambda: self.fresh[key], "python": lambda: self.results[key]}[where]()
        return a if shape is None else a.reshape(shape)


def _arena(nbytes):
    return np.empty(nbytes + ALIGN, np.uint8)


def _rounded(nbytes):
    return -(-max(nbytes, 1) // ALIGN) * ALIGN


def _constant(node, s):
    """A constant's array at sizes s: its value, or one of a dynamic shape made from its
    params."""
    if "value" in node.params:
        return node.params["value"].copy(order="C")
    return np.ascontiguousarray(generated(node.params, value_at(node.shape, s), node.dtype))


def _gemm_ints(group, s):
    """A product's ints at s (sized_segments.GEMM_INTS): m, n, k, lda, ldw, batch, the
    three batch strides (elements), and its cut over threads (parallel.block_cut)."""
    (a, ta), (w, tb) = matmul_operands(group)
    shape_a, shape_w = value_at(a.shape, s), value_at(w.shape, s)
    root = value_at(group.root.shape, s)
    m, n = root[-2:]
    batch = math.prod(root[:-2])
    k = shape_a[-2] if ta else shape_a[-1]
    sa = math.prod(shape_a[-2:]) if a.ndim > 2 else 0
    sw = math.prod(shape_w[-2:]) if w.ndim > 2 else 0
    sc = m * n
    if batch > 1 and sw == 0 and not ta:    # a batch of rows times one matrix: one product
        m, batch, sa, sc = batch * m, 1, 0, 0
    cut = parallel.block_cut(m, n, k, group.root.dtype.itemsize) if batch == 1 and k else None
    axis, width = cut or (0, max(1, m))
    blocks = -(-(m, n)[axis] // width) if cut else 1
    return m, n, k, max(1, shape_a[-1]), max(1, shape_w[-1]), batch, sa, sw, sc, axis, \
        width, blocks


def python_steps(group, s, numbers):
    """[(node, run(env), node's shape at s)] for a group that runs from Python: a product
    numpy computes (np.matmul broadcasts), else one numpy impl per member."""
    if group.kind in PRODUCT_KINDS:
        return [(group.root, _matmul(group), value_at(group.root.shape, s))]
    return [(n, _numpy(n, s, numbers), value_at(n.shape, s)) for n in group.nodes
            if n.op not in ("input", "constant")]


def _matmul(group):
    """A product a segment does not compute (an integer one, or one that broadcasts), its
    transposes read as views."""
    (a, ta), (b, tb) = matmul_operands(group)

    def run(env):
        x, y = env[a], env[b]
        return np.ascontiguousarray(np.matmul(np.swapaxes(x, -1, -2) if ta else x,
                                              np.swapaxes(y, -1, -2) if tb else y))
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

