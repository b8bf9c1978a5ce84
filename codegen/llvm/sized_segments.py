"""Native segments of a dynamic graph: the kernels and products between two Python steps
run from ONE native call, as the static entry runner's runs do (lower/entry.py), with
every size read at run time from tables that the runner fills once per size.

    segments = Segments(groups, kernels, module)      # after the kernels are emitted
    segments.program   # [("native", name, groups) | ("python", group)], in run order

A segment is `void segK(ptr ctx, ptr pool, ptr pool_split, i64 parts)`, the signature of
a run of native steps (parallel.Pool.run_steps calls it), where ctx points at four tables:

    ctx[0]  pointers   one data pointer per slot: each value a native step reads or writes
                       (`slot`); the runner fills it per call (the arena plus offsets, the
                       inputs, the outputs, the Python steps' results)
    ctx[1]  ints       what depends on the sizes, laid out per group (`ints`): a product's
                       m, n, k, leading dims, batch and strides; a ranged kernel's dim-0
                       extent and whether to split it over threads (sized_runner.py)
    ctx[2]  sizes      the symbols' values, ctx[3] the RuntimeNumbers: the sized kernels'
                       own tables
    ctx[4]  counters   with TRACECOMP_PROFILE=1 at compile time: per group, its time in
                       nanoseconds and its calls (SizedRunner.kernel_profile)

A kernel built ranged (sized._splittable) also gets `void splitK(ptr ctx, i64 start, i64
stop)`; where the ints say so at this size, the segment hands it to `pool_split` (the
native pool's rule, runtime/native_pool.py), else calls the kernel on [0, extent).
A product calls what gemm/choice.py picks for its shape at the size it was compiled at (the
BLAS, the generated GEMM or dot products: gemm/shared.py compiles those once per process),
once, or once per item of its batch; a 2-D one as large as the entry runner splits is cut
into blocks of C's rows or columns at each size (parallel.block_cut) and handed to the
native pool, each block one call on its thread (the runner holds the BLAS's own threads at
one, as the entry runner does).
Views (reshapes of contiguous buffers) and constants take no step: a view's slot holds its
base's pointer, a constant's its array's.
"""
import numpy as np
from llvmlite import ir

from .gemm import blas
from .gemm import choice as gemm_choice
from .gemm import shared as shared_gemm
from .lower.entry import RUN_TYPE, clock_ns, matmul_operands, product_call
from .lower.kernels import I64, PTR, c64, loop_head, loop_latch
from .runtime import parallel

PRODUCT_KINDS = ("matmul", "batched_matmul")
# a product's ints (sized_runner._gemm_ints): its sizes, then how it is cut over threads
# (C's rows, axis 0, or columns, 1, in blocks of `width`; blocks 1: whole)
GEMM_INTS = ("m", "n", "k", "lda", "ldw", "batch", "stride_a", "stride_w", "stride_c",
             "axis", "width", "blocks")
SPLIT_TYPE = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
I8, I1 = ir.IntType(8), ir.IntType(1)
MEMSET = ir.FunctionType(ir.VoidType(), [PTR, I8, I64, I1])


def native_product(group):
    """Whether a product group runs in a segment: a float product the BLAS computes, whose
    operands are each one matrix or a batch of the product's batch shape (numpy broadcasts
    others: they run from Python)."""
    root = group.root
    if group.kind not in PRODUCT_KINDS or np.dtype(root.dtype).name not in ("float32",
                                                                          "float64"):
        return False
    if blas.find_gemm(np.dtype(root.dtype).name) is None:
        return False
    return all(x.ndim == 2 or tuple(x.shape[:-2]) == tuple(root.shape[:-2])
               for x, _ in matmul_operands(group))


def reads_writes(group):
    """The stored values a native step reads, then those it writes."""
    if group.kind in PRODUCT_KINDS:
        return [x for x, _ in matmul_operands(group)], [group.root]
    return list(group.inputs), group.values()


class Segments:
    """The segments of a dynamic graph's groups, emitted into `module` (which holds the
    kernels: `kernels`, group root -> kernel name; `ranged`, the roots built ranged).
    slot: value -> its index in the pointers table; ints: group root -> the index of its
    first int; n_ints; program: the run order (see the module docstring); names: the
    functions the library exports."""

    def __init__(self, groups, kernels, ranged, module, concrete, profile=False):
        self.slot, self.ints, self.program, self.names = {}, {}, [], []
        self.ranged = ranged
        # TRACECOMP_PROFILE: the groups timed, in the order of their counters
        self.profiled = [] if profile else None
        # product root -> what computes it (gemm/choice.py, on the concrete graph's shape)
        self.codes = {g.root: _code(c) for g, c in zip(groups, concrete) if native_product(g)}
        self.n_ints = 0
        run = []
        for g in groups:
            if g.kind in ("view", "constant"):
                continue
            if g.root in kernels or native_product(g):
                run.append(g)
                for x in sum(reads_writes(g), []):
                    self.slot.setdefault(x, len(self.slot))
                width = len(GEMM_INTS) if g.kind in PRODUCT_KINDS else \
                    2 * (g.root in ranged)
                self.ints[g.root], self.n_ints = self.n_ints, self.n_ints + width
                continue
            self._close(run, module, kernels, ranged)
            run = []
            self.program.append(("python", g))
        self._close(run, module, kernels, ranged)

    def _close(self, run, module, kernels, ranged):
        if not run:
            return
        name = f"sized_seg{len(self.names)}"
        fn = ir.Function(module, RUN_TYPE, name)
        ctx, pool, pool_split, parts = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        for g in run:
            start = clock_ns(b) if self.profiled is not None else None
            if g.kind in PRODUCT_KINDS:
                self._product(b, ctx, g, pool, pool_split, parts)
            elif g.root not in ranged:
                b.call(module.get_global(kernels[g.root]), self._kernel_args(b, ctx, g))
            else:
                self._ranged(b, ctx, g, module.get_global(kernels[g.root]), pool,
                             pool_split, parts)
            if start is not None:       # (ns, calls) += (elapsed, 1) in the table at ctx[4]
                pair = b.gep(_table(b, ctx, 4), [c64(2 * len(self.profiled))],
                             source_etype=I64)
                b.store(b.add(b.load(pair, typ=I64), b.sub(clock_ns(b), start)), pair)
                once = b.gep(pair, [c64(1)], source_etype=I64)
                b.store(b.add(b.load(once, typ=I64), c64(1)), once)
                self.profiled.append(g)
        b.ret_void()
        self.names.append(name)
        self.program.append(("native", name, run))

    def _ranged(self, b, ctx, group, kernel, pool, pool_split, parts):
        """A ranged kernel: split over the native pool where its ints say so at this size,
        else on [0, extent)."""
        split = self._split_entry(module=b.module, kernel=kernel, group=group,
                                  segment=len(self.names))
        extent, parted = self._int(b, ctx, group, 0), self._int(b, ctx, group, 1)
        with b.if_else(b.icmp_unsigned("!=", parted, c64(0))) as (then, otherwise):
            with then:
                b.call(pool_split, [pool, split, ctx, extent, parts])
            with otherwise:
                b.call(kernel, self._kernel_args(b, ctx, group, (c64(0), extent)))

    def _split_entry(self, module, kernel, group, segment):
        """`void splitK(ptr ctx, i64 start, i64 stop)`: the ranged kernel over [start,
        stop), for the native pool."""
        fn = ir.Function(module, SPLIT_TYPE, f"sized_split{segment}_{kernel.name}")
        fn.linkage = "internal"
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.call(kernel, self._kernel_args(b, fn.args[0], group, fn.args[1:]))
        b.ret_void()
        return fn

    def _kernel_args(self, b, ctx, group, bounds=()):
        """A kernel's arguments: its buffers, its range (a ranged kernel's), the sizes'
        and numbers' tables (a sized kernel's)."""
        tables = [_table(b, ctx, 2), _table(b, ctx, 3)] if group.sized else []
        return [self._pointer(b, ctx, x) for x in group.inputs + group.values()] + \
            list(bounds) + tables

    def _pointer(self, b, ctx, node):
        at = b.gep(_table(b, ctx, 0), [c64(self.slot[node])], source_etype=PTR)
        return b.load(at, typ=PTR)

    def _int(self, b, ctx, group, k):
        at = b.gep(_table(b, ctx, 1), [c64(self.ints[group.root] + k)], source_etype=I64)
        return b.load(at, typ=I64)

    def _product(self, b, ctx, group, pool, pool_split, parts):
        """C = op(A) @ op(W): cut into blocks over threads where the ints say so (a 2-D
        product), else per item of the batch (the runner folds a batch of rows times one
        matrix into one product); zeros where K is 0, which the BLAS is not asked to decide."""
        (a, trans_a), (w, trans_b) = matmul_operands(group)
        root = group.root
        m, n, k, lda, ldw, batch, sa, sw, sc, _, _, blocks = (
            self._int(b, ctx, group, j) for j in range(len(GEMM_INTS)))
        pa, pw, out = (self._pointer(b, ctx, x) for x in (a, w, root))
        size = c64(np.dtype(root.dtype).itemsize)
        callee = self._callee(b.module, group)
        with b.if_else(b.icmp_unsigned(">", blocks, c64(1))) as (cut, whole):
            with cut:
                split = self._blocks_entry(b.module, group, callee)
                b.call(pool_split, [pool, split, ctx, blocks, parts])
            with whole:
                empty = b.icmp_unsigned("==", b.mul(b.mul(m, n), batch), c64(0))
                with b.if_then(b.not_(empty)):
                    with b.if_else(b.icmp_unsigned("==", k, c64(0))) as (zero, some):
                        with zero:
                            memset = b.module.declare_intrinsic("llvm.memset", [PTR, I64],
                                                                MEMSET)
                            b.call(memset, [out, ir.Constant(I8, 0),
                                            b.mul(b.mul(b.mul(batch, m), n), size),
                                            ir.Constant(I1, 0)])
                        with some:
                            i = loop_head(b, c64(0))

                            def at(base, stride):
                                return b.gep(base, [b.mul(b.mul(i, stride), size)],
                                             source_etype=I8)
                            product_call(b, callee, m, n, k, at(pa, sa), lda, at(pw, sw), ldw,
                                  at(out, sc), n, trans_a, trans_b)
                            loop_latch(b, i, batch)

    def _callee(self, module, group):
        """The BLAS symbol or the shared GEMM function (gemm/shared.py) of the product."""
        (_, trans_a), (_, trans_b) = matmul_operands(group)
        dtype = np.dtype(group.root.dtype).name
        code = self.codes[group.root]
        if code == "blas":
            return blas.load_for_llvm(dtype)
        return shared_gemm.declare(module, dtype, code, trans_a, trans_b)

    def _blocks_entry(self, module, group, callee):
        """`void splitK(ptr ctx, i64 start, i64 stop)`: blocks [start, stop) of a 2-D
        product's C, rows or columns as its ints' axis says (one gemm on the operands'
        matching rows or columns: lower/entry.py's _gemm_blocks, with the axis read at run
        time)."""
        (a, trans_a), (w, trans_b) = matmul_operands(group)
        root = group.root
        fn = ir.Function(module, SPLIT_TYPE, f"sized_blocks{len(self.names)}_"
                         f"{len(module.globals)}")
        fn.linkage = "internal"
        ctx, start, stop = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        m, n, k, lda, ldw, _, _, _, _, axis, width, _ = (
            self._int(b, ctx, group, j) for j in range(len(GEMM_INTS)))
        size = c64(np.dtype(root.dtype).itemsize)
        rows = b.icmp_unsigned("==", axis, c64(0))
        side = b.select(rows, m, n)
        lo, hi = b.mul(start, width), b.mul(stop, width)
        count = b.sub(b.select(b.icmp_unsigned(">", hi, side), side, hi), lo)
        zero = c64(0)
        skip_a = b.select(rows, lo if trans_a else b.mul(lo, lda), zero)
        skip_w = b.select(rows, zero, b.mul(lo, ldw) if trans_b else lo)
        skip_c = b.select(rows, b.mul(lo, n), lo)

        def at(x, elements):
            return b.gep(self._pointer(b, ctx, x), [b.mul(elements, size)], source_etype=I8)
        product_call(b, callee, b.select(rows, count, m), b.select(rows, n, count), k,
              at(a, skip_a), lda, at(w, skip_w), ldw, at(root, skip_c), n, trans_a, trans_b)
        b.ret_void()
        return fn

    def imports(self):
        """{symbol: address} of what the products call (the BLAS, the shared GEMMs), for
        linking the module; the shared GEMMs' libraries are started building now."""
        variants = {}
        for root, code in self.codes.items():
            if code != "blas":
                group = next(g for kind, *rest in self.program if kind == "native"
                             for g in rest[1] if g.root is root)
                (_, trans_a), (_, trans_b) = matmul_operands(group)
                variant = (np.dtype(root.dtype).name, code, trans_a, trans_b)
                variants[shared_gemm.symbol(*variant)] = variant
        shared_gemm.prefetch(variants.values())
        fixed = {s.name: s.address for s in (blas.find_gemm(d) for d in ("float32", "float64"))
                 if s is not None}
        return shared_gemm.Imports(fixed, variants)


def _code(concrete):
    """What computes a product (gemm/choice.py), chosen on its concrete shape as the entry
    runner chooses: for one thread's block where the product is cut over threads."""
    (a, trans_a), (w, trans_b) = matmul_operands(concrete)
    root = concrete.root
    m, n = root.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    flat = root.ndim == 2 or w.ndim == 2 and not trans_a    # (a batch of rows times one
    m *= int(np.prod(root.shape[:-2]))                      # matrix is one product)
    cut = parallel.block_cut(m, n, k, root.dtype.itemsize) if flat else None
    if cut is not None:
        m, n = (min(m, cut[1]), n) if cut[0] == 0 else (m, min(n, cut[1]))
    dtype = np.dtype(root.dtype).name
    return gemm_choice.code(gemm_choice.Product(dtype, m, n, k, trans_a, trans_b, True))
def _table(b, ctx, k):
    return b.load(b.gep(ctx, [c64(k)], source_etype=PTR), typ=PTR)

