"""Products with a small result and a long inner dimension, computed as dot products:

    C[M, N] = A[M, K] @ B[N, K]^T        (both operands stored row-major, read along K)

This is a convolution's weight gradient: (out channels, batch*pixels) @ (in channels*kh*kw,
batch*pixels)^T, e.g. 6 x 25 over K = 64*784 for LeNet's first conv. OpenBLAS packs both
operands and splits the work over M and N, of which there is too little: measured on the
dev VM, 6 x 25 x 50176 ran at ~32 GFLOP/s (~470 us) and 16 x 150 x 6400 at ~90 GFLOP/s.

Here an MB x NB tile of C is held in vector accumulators while the tile's MB rows of A and
NB rows of B stream along K: each step loads MB + NB vectors and does MB * NB `fmuladd`s;
the last partial vector of K is a masked load. At the end each accumulator's lanes are
summed (a `reassoc` reduction: the order of a dot product's partial sums is not kept, as in
any BLAS) and stored. A's rows are re-read once per tile column, from cache (they are K
elements each, M of them).

The kernel is built `ranged` over C's tile columns (`void f(ptr.., ptr c, i64 start, i64
stop)`), so parallel.py can split a large one over threads.

    use(group)                  -> whether a matmul group is such a product
    dots_kernel(module, group, name, ranged=False)
    tile_columns(group)         -> the extent a ranged kernel divides
"""
import math

from llvmlite import ir

from .. import target
from ..lower.entry import matmul_operands
from .generated import _FP, _at, _Kernel, _loop, default_tile

I1, I64, PTR = ir.IntType(1), ir.IntType(64), ir.PointerType()
# Accumulators per tile, by the host's register file. 18 with AVX-512 (with its MB + NB
# row vectors, within 32 zmm: the dev machine's figure). 12 with 16 ymm, measured on znver3
# (AVX2), medians of 5 runs, 18 -> 12: 4x64x8192 143 -> 116 us, 8x32x4096 77 -> 63,
# 1x64x16384 289 -> 154, 16x16x8192 122 -> 131.
ACCUMULATORS = {64: 18, 32: 12, 16: 12}     # by vector width in bytes
TILE = ACCUMULATORS[target.host().vector_bytes]
MAX_OUTPUT = 4096   # C elements: beyond, the BLAS's packing pays for itself
MIN_DEPTH = 8       # K / max(M, N): a long inner dimension relative to the result


def shape(group):
    """(M, N, K) of a matmul group, and its operands' stored nodes and transposes."""
    (a, trans_a), (b, trans_b) = matmul_operands(group)
    m, n = group.root.shape
    k = a.shape[0] if trans_a else a.shape[1]
    return (m, n, k), (a, trans_a), (b, trans_b)


def use(group):
    """A 2-D float product A @ B^T with a small result and a long K (module docstring)."""
    root = group.root
    if group.kind != "matmul" or root.ndim != 2 or root.dtype.name not in _FP:
        return False
    (m, n, k), (_, trans_a), (_, trans_b) = shape(group)
    return not trans_a and trans_b and 0 < m * n <= MAX_OUTPUT \
        and k >= MIN_DEPTH * max(m, n)


def _tile(m, n):
    rows = min(m, 6)
    return rows, max(1, min(n, TILE // rows))


def tile_columns(group):
    (m, n, _), *_ = shape(group)
    return math.ceil(n / _tile(m, n)[1])


def dots_kernel(module, group, name, ranged=False):
    """`void name(ptr inputs.., ptr c[, i64 start, i64 stop])`: C for tile columns
    [start, stop) (all of them when not ranged)."""
    (m, n, k), (a, _), (b, _) = shape(group)
    fp, size, _ = _FP[group.root.dtype.name]
    lanes = default_tile()[0] // size
    rows, cols = _tile(m, n)
    micro = _Micro(module, fp, size, lanes, k, n, name)
    args = [PTR] * (len(group.inputs) + 1) + [I64, I64] * ranged
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), name)
    ptr = dict(zip(group.inputs, fn.args))
    pa, pb, pc = ptr[a], ptr[b], fn.args[len(group.inputs)]
    count = math.ceil(n / cols)
    start, stop = fn.args[-2:] if ranged else (ir.Constant(I64, 0), ir.Constant(I64, count))
    bld = ir.IRBuilder(fn.append_basic_block("entry"))

    def column(j0, width):
        """Every row tile of the tile column starting at C column j0, `width` wide."""
        b_rows = _at(bld, pb, bld.mul(j0, ir.Constant(I64, k)), fp)
        for i0, height in _spans(m, rows):
            bld.call(micro.get(height, width),
                     [_at(bld, pa, ir.Constant(I64, i0 * k), fp), b_rows,
                      _at(bld, pc, bld.add(ir.Constant(I64, i0 * n), j0), fp)])

    last, rest = count - 1, n - (count - 1) * cols
    with _loop(bld, start, stop, 1, "column") as t:
        j0 = bld.mul(t, ir.Constant(I64, cols))
        if rest == cols:
            column(j0, cols)
        else:
            with bld.if_else(bld.icmp_signed("==", t, ir.Constant(I64, last))) as (tail, full):
                with tail:
                    column(j0, rest)
                with full:
                    column(j0, cols)
    bld.ret_void()
    return fn


def _spans(extent, step):
    """[(start, size)] cutting range(extent) into pieces of `step` (the last may be short)."""
    return [(s, min(step, extent - s)) for s in range(0, extent, step)]


class _Micro(_Kernel):
    """The tile functions `void f(ptr a, ptr b, ptr c)`, one per (rows, cols) shape:
    C[r, j] = sum over K of A[r, :] * B[j, :] for r < rows, j < cols (row strides K, C's N).
    The vector type, fmuladd, masked load and `_load` are generated.py's."""

    def __init__(self, module, fp, size, lanes, k, ldc, name):
        super().__init__(module, fp, size, lanes, name)
        self.k, self.ldc, self.made = k, ldc, {}
        suffix = f"v{lanes}{'f32' if size == 4 else 'f64'}"
        self.reduce = self._intrinsic(f"llvm.vector.reduce.fadd.{suffix}", fp,
                                      [fp, self.vec])

    def get(self, rows, cols):
        fn = self.made.get((rows, cols))
        if fn is None:
            fn = self.made[(rows, cols)] = self._emit(rows, cols)
        return fn

    def _emit(self, rows, cols):
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR] * 3),
                         f"{self.name}.tile{rows}x{cols}")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        a, b, c = fn.args
        for arg in fn.args:
            arg.add_attribute("noalias")
        bld = ir.IRBuilder(fn.append_basic_block("entry"))
        k, lanes = self.k, self.lanes
        # accumulators live in allocas that SROA promotes to registers
        accs = [[bld.alloca(self.vec) for _ in range(cols)] for _ in range(rows)]
        for row in accs:
            for slot in row:
                bld.store(ir.Constant(self.vec, None), slot)
        a_rows = [_at(bld, a, ir.Constant(I64, r * k), self.fp) for r in range(rows)]
        b_rows = [_at(bld, b, ir.Constant(I64, j * k), self.fp) for j in range(cols)]

        def step(at, mask):
            av = [self._load(bld, _at(bld, p, at, self.fp), mask) for p in a_rows]
            bv = [self._load(bld, _at(bld, p, at, self.fp), mask) for p in b_rows]
            for r in range(rows):
                for j in range(cols):
                    acc = bld.load(accs[r][j], typ=self.vec)
                    bld.store(bld.call(self.fmuladd, [av[r], bv[j], acc]), accs[r][j])

        full = k - k % lanes
        if full:
            with _loop(bld, ir.Constant(I64, 0), ir.Constant(I64, full), lanes, "k") as at:
                step(at, None)
        if k % lanes:
            mask = ir.Constant(ir.VectorType(I1, lanes), [i < k % lanes for i in range(lanes)])
            step(ir.Constant(I64, full), mask)
        for r in range(rows):
            for j in range(cols):
                total = bld.call(self.reduce, [ir.Constant(self.fp, 0.0),
                                               bld.load(accs[r][j], typ=self.vec)],
                                 fastmath=("reassoc",))
                bld.store(total, _at(bld, c, ir.Constant(I64, r * self.ldc + j), self.fp),
                          align=self.size)
        bld.ret_void()
        return fn
