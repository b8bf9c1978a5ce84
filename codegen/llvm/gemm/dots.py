"""Products A @ B^T computed as dot products along K, with the generated GEMM's signature:

    fn = emit_dots(module, "float32", name)     # void fn(i64 m, i64 n, i64 k, ptr a, i64 lda,
                                                #         ptr b, i64 ldb, ptr c, i64 ldc, i32 acc)
    C[M, N] (+)= A[M, K] @ B[N, K]^T            # both stored row-major, read along K

That is a linear layer's forward x @ W^T, and a convolution's weight gradient (out channels,
batch*pixels) @ (in channels*kh*kw, batch*pixels)^T. A GEMM wants B's rows along N: for B^T
it packs B by a transposing copy (generated.py) and OpenBLAS does the same, a cost that
products of few rows, which pass over each panel only a few times, do not repay. Here both
operands are read as they lie.

An R x C tile of C is held in R*C vector accumulators while the tile's R rows of A and C
rows of B stream along K: each step loads R + C vectors and does R*C `fmuladd`s; the last
partial vector of K is a masked load. At the end each accumulator's lanes are summed, all
of a tile's together by a transposing tree (`_Tiles._sums`; the order of a dot product's
partial sums is not kept, as in any BLAS), and stored, or added to C when `acc` != 0. The
loops run over C's tile columns, and within each over its row tiles, so a column's C rows
of B stay in cache while A streams past.
Rows left below the last full row tile take tiles of R/2 rows, then 1 (a conv's 6 output
channels are one tile of 4 and one of 2); columns left of the last full tile column, the
same: C/2, then 1 wide. The entry's split hands each thread a block of C's rows or columns.

The tile functions take K, the leading dimensions and C's pointer at run time, so one
library serves every product (gemm/shared.py compiles it once per process).
"""
from llvmlite import ir

from .. import target
from .generated import _FP, FUNCTION_TYPE, _at, _Kernel, _loop, _rows

I1, I32, I64, PTR = ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.PointerType()

# (rows, columns) of C per tile by vector width in bytes: R*C accumulators plus R + C
# vectors loaded per step within the register file. One thread, znver4, float32, GFLOP/s,
# medians of 7 interleaved rounds (M x K x N):
#   64 bytes, 32 zmm:  4x5 against 4x4 / 6x3: 64x784x128 88 / 81 / 79, 16x6400x150 95 / 62 /
#                      64, 512x784x128 85 / 79 / 75.
#   32 bytes, 16 ymm (TRACECOMP_CPU_FEATURES=-avx512f): 4x3 against 3x4 / 2x5 / 4x5, and
#                      OpenBLAS's Haswell kernels: 64x784x128 102 / 48 / 94 / 42, BLAS 88;
#                      512x784x128 86 / 47 / 88 / 43, BLAS 101 (3x4 and 4x5 spill).
# Blocking K (blocks of 1024-4096, partial sums added into C) gained nothing measurable.
TILES = {64: (4, 5), 32: (4, 3), 16: (4, 3)}


def tile_shape(vector_bytes=None):
    """(rows, columns) of C per tile for a vector width (the host's by default)."""
    return TILES[vector_bytes or target.host().vector_bytes]


def emit_dots(module, dtype, name):
    """Add `name`, C (+)= A @ B^T for dtype ("float32" / "float64"), to module and return
    it; lda and ldb are A's and B's stored row lengths. k == 0 writes C = 0 (or leaves it
    when acc != 0)."""
    fp, size, _ = _FP[dtype]
    vector_bytes = target.host().vector_bytes
    rows, cols = tile_shape(vector_bytes)
    tiles = _Tiles(module, fp, size, vector_bytes // size, name)
    fn = ir.Function(module, FUNCTION_TYPE, name)
    m, n, k, a, lda, b, ldb, c, ldc, acc = fn.args
    for arg, label in zip(fn.args, ["m", "n", "k", "a", "lda", "b", "ldb", "c", "ldc", "acc"]):
        arg.name = label
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    add_to_c = bld.icmp_signed("!=", acc, ir.Constant(I32, 0))

    def column(j0, width):
        """Every row tile of the tile column of C starting at column j0."""
        b_rows = _at(bld, b, bld.mul(j0, ldb), fp)

        def run(height, i0):
            bld.call(tiles.get(height, width),
                     [_at(bld, a, bld.mul(i0, lda), fp), lda, b_rows, ldb,
                      _at(bld, c, bld.add(bld.mul(i0, ldc), j0), fp), ldc, k, add_to_c])
        i0 = None
        for height in dict.fromkeys([rows, max(1, rows // 2), 1]):
            i0 = _rows(bld, m, height, lambda i, h=height: run(h, i), start=i0)

    j0 = None
    for width in dict.fromkeys([cols, max(1, cols // 2), 1]):
        j0 = _rows(bld, n, width, lambda j, w=width: column(j, w), start=j0)
    bld.ret_void()
    return fn


class _Tiles(_Kernel):
    """The tile functions, one per (rows, cols) shape, made on first use:
    `void tile(ptr a, i64 lda, ptr b, i64 ldb, ptr c, i64 ldc, i64 k, i1 add_to_c)`,
    C[r, j] (+)= sum over K of A[r, :] * B[j, :] for r < rows, j < cols. The vector type,
    fmuladd, masked load and `_load` are generated.py's."""


    def get(self, rows, cols):
        if (rows, cols) not in self.tiles:
            self.tiles[rows, cols] = self._emit(rows, cols)
        return self.tiles[rows, cols]

    def _emit(self, rows, cols):
        fnty = ir.FunctionType(ir.VoidType(), [PTR, I64, PTR, I64, PTR, I64, I64, I1])
        fn = ir.Function(self.module, fnty, f"{self.name}.tile{rows}x{cols}")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")   # one copy per shape, however many calls
        a, lda, b, ldb, c, ldc, k, add_to_c = fn.args
        bld = ir.IRBuilder(fn.append_basic_block("entry"))
        # accumulators live in allocas that SROA promotes to registers
        accs = [[bld.alloca(self.vec) for _ in range(cols)] for _ in range(rows)]
        for row in accs:
            for slot in row:
                bld.store(ir.Constant(self.vec, None), slot)
        a_rows = [_at(bld, a, bld.mul(ir.Constant(I64, r), lda), self.fp) for r in range(rows)]
        b_rows = [_at(bld, b, bld.mul(ir.Constant(I64, j), ldb), self.fp) for j in range(cols)]
        rem = bld.srem(k, ir.Constant(I64, self.lanes))
        full = bld.sub(k, rem)

        def step(at, mask):
            av = [self._load(bld, _at(bld, p, at, self.fp), mask) for p in a_rows]
            bv = [self._load(bld, _at(bld, p, at, self.fp), mask) for p in b_rows]
            for r in range(rows):
                for j in range(cols):
                    total = bld.call(self.fmuladd, [av[r], bv[j],
                                                    bld.load(accs[r][j], typ=self.vec)])
                    bld.store(total, accs[r][j])

        # not unrolled, as generated.py's tiles (one thread, znver4, GFLOP/s unrolled / not,
        # two runs: 16 x 6400 x 150 72 / 94 and 80 / 107, 6 x 50176 x 25 53 / 65 and
        # 64 / 76, 64 x 784 x 128 91 / 97 and 95 / 103)
        with _loop(bld, ir.Constant(I64, 0), full, self.lanes, "k", unroll=False) as at:
            step(at, None)
        with bld.if_then(bld.icmp_signed(">", rem, ir.Constant(I64, 0))):
            lane_ids = ir.Constant(ir.VectorType(I64, self.lanes), list(range(self.lanes)))
            step(full, bld.icmp_signed("<", lane_ids,
                                       self._splat(bld, rem, ir.VectorType(I64, self.lanes))))
        keys = [(r, j) for r in range(rows) for j in range(cols)]
        vectors = [bld.load(accs[r][j], typ=self.vec) for r, j in keys]
        sums = dict(zip(keys, self._sums(bld, vectors)))
        at = {(r, j): _at(bld, c, bld.add(bld.mul(ir.Constant(I64, r), ldc),
                                          ir.Constant(I64, j)), self.fp) for r, j in sums}
        with bld.if_else(add_to_c) as (add, overwrite):
            with add:
                for key, total in sums.items():
                    old = bld.load(at[key], typ=self.fp, align=self.size)
                    bld.store(bld.fadd(old, total), at[key], align=self.size)
            with overwrite:
                for key, total in sums.items():
                    bld.store(total, at[key], align=self.size)
        bld.ret_void()
        return fn

    def _sums(self, bld, vectors):
        """Each vector's lanes summed: [sum(v) for v in vectors], by a transposing tree
        over `lanes` vectors at a time. Each level pairs two vectors whose lanes hold
        segments of partial sums (one segment per accumulator) and halves every segment:
        out = shuffle(x, y, first halves) + shuffle(x, y, second halves). After log2(lanes)
        levels one vector holds `lanes` totals, in order: lanes - 1 shuffle pairs and adds
        per `lanes` sums, where a reduction per vector takes log2(lanes) steps of its own
        (4x5 tiles, 16 lanes: ~60 operations instead of ~160)."""
        lanes, totals = self.lanes, []
        zero = ir.Constant(self.vec, None)
        for start in range(0, len(vectors), lanes):
            level, size = list(vectors[start:start + lanes]), lanes
            while size > 1:             # segments of `size` lanes -> of size // 2
                if len(level) % 2:
                    level.append(zero)
                half, segments = size // 2, lanes // size
                low = [off + k * size + i for off in (0, lanes) for k in range(segments)
                       for i in range(half)]
                idx_low = ir.Constant(ir.VectorType(I32, lanes), low)
                idx_high = ir.Constant(ir.VectorType(I32, lanes), [i + half for i in low])
                level = [bld.fadd(bld.shuffle_vector(x, y, idx_low),
                                  bld.shuffle_vector(x, y, idx_high))
                         for x, y in zip(level[::2], level[1::2])]
                size = half
            count = min(lanes, len(vectors) - start)
            totals += [bld.extract_element(level[0], ir.Constant(I32, i)) for i in range(count)]
        return totals
