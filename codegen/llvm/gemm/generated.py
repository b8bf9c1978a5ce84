"""A generated GEMM: C[M,N] (+)= op(A)[M,K] @ op(B)[K,N], row-major (choice.py says when it
is used: where no BLAS is found, and where it beats the BLAS on the host).

    fn = emit_gemm(module, "float32")   # void fn(i64 m, i64 n, i64 k, ptr a, i64 lda,
                                        #         ptr b, i64 ldb, ptr c, i64 ldc, i32 acc)

`acc` != 0 adds to C, 0 overwrites it (C is then never read, so it may hold garbage).
Leading dimensions are in elements. Nothing is assumed about alignment: numpy buffers are
only element-aligned, and aligned vector loads on them crash (shared/LLVM-NOTES.md).

How it is blocked (BLIS-style, B packed unless A has few rows, A read in place):
- K is cut into blocks of `kc`. For each block and each nr-wide column panel, the kc x nr
  slab of B is copied into a contiguous stack buffer, which then stays in L1/L2 while every
  row tile of A passes over it. Unpacked, B rows sit ldb apart, and a 1024-wide float32 B
  (4 KiB rows) maps them all to the same L1 sets: 512^3 ran at ~200 GFLOP/s but 1024^3 fell
  to ~130; packed, both run at ~220-235 on one Zen 5 core. Each K block's products are
  summed from zero and then added to C (from the second block on): a blocked sum, whose
  float32 error stays near OpenBLAS's where one chain over all of K grew with K.
- The micro-kernel keeps a rows x nr tile of C in vector registers (nr = vectors x lanes) and,
  for each k, loads `vectors` vectors of one B row, broadcasts one A element per row, and
  does rows x vectors `llvm.fmuladd`s. fmuladd, not fma: it fuses where the CPU has FMA and
  stays a plain multiply-add (not a libm call) where it does not.
- Edges never run off the end: rows left over below the last full row tile get tiles of 4,
  2 and 1 rows in full-width panels (a power-of-two M leaves 2 or 4 after 6-row tiles; a
  tile per row would pass over the panel once per row), 1-row tiles in the narrow ones;
  columns left over right of the last full nr panel get 1-vector tiles, and the last partial
  vector is a masked load/store of exactly the remaining lanes.
- Transposed operands (`trans_a`, `trans_b`: op(A) = A^T stored K x M, op(B) = B^T stored
  N x K, as a BLAS takes them) are read where they lie, so a product needs no transpose
  kernel: A^T's element (i, k) is loaded from a[k * lda + i] for the broadcast, and B^T's
  panels are always packed, by a transposing copy (rows of B^T are read along K, each
  element once per K block, as the plain pack reads B).
The tile shape follows the host's vector registers (see `default_tile`); the IR uses
fixed-width vector types, which LLVM splits into the registers the target has.
"""
from contextlib import contextmanager

from llvmlite import ir

from .. import target
from ..runtime import host_cpu

I1, I32, I64, PTR = ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.PointerType()
_FP = {"float32": (ir.FloatType(), 4, "f32"), "float64": (ir.DoubleType(), 8, "f64")}


# (rows, vectors) of the register tile by vector width in bytes: enough accumulators to
# hide the FMA latency, few enough to leave registers for the B vectors and the broadcast
# 64 bytes: 6 x 4 against 4 x 4, one thread, znver4, float32 GFLOP/s (medians of 7
# interleaved rounds, two runs): 6 x 25 x 12544 (LeNet's conv1, one row tile instead of
# 4 + 2) 78 / 67 against 49 / 58, 16 x 150 x 1600 84 / 79 against 68 / 72, 128 x 64 x 784
# A^T 98 / 92 against 89 / 83, 512^3 101 / 98 against 99 / 96
TILES = {64: (6, 4),    # 24 of 32 zmm accumulate
         32: (6, 2),    # 12 of 16 ymm accumulate (the classic 6x16 float kernel)
         16: (4, 2)}    # SSE / NEON: 8 of 16+ registers accumulate


def default_tile(vector_bytes=None):
    """(vector_bytes, rows, vectors) for a vector width (the host's by default)."""
    vector_bytes = vector_bytes or target.host().vector_bytes
    return (vector_bytes, *TILES[vector_bytes])


# B's panels are packed only for products of this many rows or more: fewer rows pass over
# a panel too few times to repay the copy. One thread, znver4, GFLOP/s packed -> in place:
# 6 x 25 x 12544 61 -> 66, 16 x 150 x 1600 80 -> 100, 32 x 784 x 256 92 -> 107,
# 64 x 784 x 128 100 -> 105; 128 x 256 x 256 105 either way, and no loss at B rows 4 KiB
# apart for these few rows (64 x 512 x 2048 98 -> 98). B^T is always packed.
PACK_FROM_ROWS = 65
LINE = 64       # bytes of a cache line


def l1_panel_rows(panel_bytes, stride_bytes):
    """How many rows of a B panel read in place (rows `stride_bytes` apart, `panel_bytes`
    long) the host's L1 (host_cpu.l1d) holds at once: more, and a K block's rows evict each
    other before the next row tile reads them again, so B is packed though the product has
    few rows (`emit_gemm`, which computes the same in IR from B's row stride at run time).

    Addresses one L1 way apart (bytes / ways) share a set. Rows s bytes apart, each
    panel_bytes / LINE lines, fall at way / gcd(s, way) distinct offsets (the way is a power
    of two: the gcd is s's lowest set bit, at most the way), `ways` lines each. znver3
    (32 KiB, 8 ways; AVX2: a panel row is one line), one thread, GMAC/s in place -> packed:
    B rows 1 KiB apart (32 rows of a K block of 128 fit) 64 x 784 x 256 32.1 -> 37.0,
    64 x 256 x 512 (2 KiB: 16) 32.4 -> 39.7, 64 x 128 x 256 39.1 -> 42.7; rows 1056 or 3136
    bytes apart (256 or 512 fit) 43.9 / 41.5 in place, 42.4 / 40.8 packed; LeNet's conv1,
    6 x 25 x 12544 (49 KiB apart: 32 fit, K is 25), 30.3 in place, 27.4 packed. On znver4
    (48 KiB, 12 ways; AVX-512: 4 lines a panel row, 192 rows fit at 1 KiB) rows 1 KiB apart
    ran faster in place (see PACK_FROM_ROWS)."""
    size, ways = host_cpu.l1d()
    way = size // ways
    lowest = stride_bytes & -stride_bytes or way
    return max(1, panel_bytes // LINE) * (way // min(lowest, way)) * ways
# C's rows come in blocks: each K block's rows of A are passed over once per column panel,
# so a block of them should stay in L2, not all M rows. A quarter of L2 (128 KiB on znver3:
# 256 rows of a K block of 128 float32), one thread, GMAC/s all rows -> blocks: 512 x 512 x
# 512 40.5 -> 42.9, 1024 x 1024 x 256 40.0 -> 41.9, 384 x 256 x 256 41.2 -> 45.1 (blocks
# of 96, 144 and 192 rows measured 43.2 / 44.1 / 44.3 at 512^3); a test sets it to make
# blocks of few rows
A_BLOCK_SHARE = 4
FUNCTION_TYPE = ir.FunctionType(ir.VoidType(), [I64, I64, I64, PTR, I64, PTR, I64, PTR, I64, I32])


def emit_gemms(module, dtype, prefix, transposes):
    """dtype's GEMMs for each (trans_a, trans_b) in `transposes`, named `prefix +
    variant_suffix(...)`, sharing one set of micro-kernels (the tiles take A's strides as
    arguments, so A and A^T run the same code): {(trans_a, trans_b): function}."""
    fp, size, _ = _FP[dtype]
    kernel = _Kernel(module, fp, size, default_tile()[0] // size, prefix)
    return {t: emit_gemm(module, dtype, prefix + variant_suffix(*t), trans_a=t[0], trans_b=t[1],
                         kernel=kernel) for t in transposes}


def variant_suffix(trans_a, trans_b):
    return "_ta" * trans_a + "_tb" * trans_b


def emit_gemm(module, dtype="float32", name=None, tile=None, kc=128, trans_a=False,
              trans_b=False, kernel=None):
    """Add the GEMM function for dtype ("float32" / "float64") to module and return it:
    C (+)= op(A) @ op(B), op(x) = x^T where trans_x (the leading dimensions are then the
    transposed operands' stored row lengths, as for a BLAS).

    tile = (vector_bytes, rows, vectors) overrides default_tile(); kc is the K block;
    `kernel` (an emit_gemms detail) shares the micro-kernels of another variant."""
    fp, size, tag = _FP[dtype]
    vector_bytes, rows, vectors = tile or default_tile()
    lanes = vector_bytes // size
    name = name or "tc_gemm_" + tag
    k = kernel or _Kernel(module, fp, size, lanes, name)
    fn = ir.Function(module, FUNCTION_TYPE, name)
    m, n, kdim, a, lda, b, ldb, c, ldc, acc = fn.args
    for arg, label in zip(fn.args, ["m", "n", "k", "a", "lda", "b", "ldb", "c", "ldc", "acc"]):
        arg.name = label
    # row tiles of a full-width panel: `rows`, then the leftover rows in tiles of 4, 2 and 1
    # (what a power-of-two M leaves after 6-row tiles); narrow panels take `rows` and 1
    heights = {vectors: [h for h in dict.fromkeys([rows, 4, 2, 1]) if h <= rows],
               1: list(dict.fromkeys([rows, 1]))}
    shapes = [(h, w, masked) for w, masked in [(vectors, False), (1, False), (1, True)]
              for h in heights[w]]
    tiles = {shape: k.tile(*shape) for shape in dict.fromkeys(shapes)}  # vectors may be 1
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    kc_const = ir.Constant(I64, kc)
    l1_way = host_cpu.l1d()[0] // host_cpu.l1d()[1]
    # the packed B panel: kc x nr elements on the stack (32 KiB with the defaults), allocated
    # as vectors because llvmlite types a pointer from alloca by what it allocates
    scratch = bld.alloca(k.vec, size=ir.Constant(I64, kc * vectors), name="packed_b")
    scratch.align = vector_bytes
    # at least one K block, so that k == 0 still writes C = 0 (or leaves it when acc != 0)
    k_end = bld.select(bld.icmp_signed(">", kdim, ir.Constant(I64, 0)), kdim, ir.Constant(I64, 1))
    # C's rows in blocks whose A rows (a K block of them) take at most 1 / A_BLOCK_SHARE of
    # L2, as even as whole row tiles make them (not a full block and a thin one, for which
    # B's panels would be packed again)
    depth = bld.select(bld.icmp_signed("<", k_end, kc_const), k_end, kc_const)
    most = bld.sdiv(ir.Constant(I64, host_cpu.l2_bytes() // A_BLOCK_SHARE // size), depth)
    most = bld.select(bld.icmp_signed(">", most, ir.Constant(I64, rows)), most,
                      ir.Constant(I64, rows))
    blocks = bld.sdiv(bld.add(m, bld.sub(most, ir.Constant(I64, 1))), most)
    blocks = bld.select(bld.icmp_signed(">", blocks, ir.Constant(I64, 0)), blocks,
                        ir.Constant(I64, 1))
    tile_rows = ir.Constant(I64, rows)
    block = bld.mul(bld.sdiv(bld.add(bld.sdiv(bld.add(m, bld.sub(blocks, ir.Constant(I64, 1))),
                                              blocks), ir.Constant(I64, rows - 1)), tile_rows),
                    tile_rows)      # ceil(ceil(m / blocks) / rows) * rows
    with _loop(bld, ir.Constant(I64, 0), k_end, kc, "kb") as k0:
        klen = bld.sub(kdim, k0)
        klen = bld.select(bld.icmp_signed("<", klen, kc_const), klen, kc_const)
        load_c = bld.or_(bld.icmp_signed("!=", acc, ir.Constant(I32, 0)),
                         bld.icmp_signed(">", k0, ir.Constant(I64, 0)))
        one = ir.Constant(I64, 1)
        a_row, a_col = (one, lda) if trans_a else (lda, one)    # op(A)[i, k] at i*row + k*col
        b_k = _at(bld, b, k0 if trans_b else bld.mul(k0, ldb), fp)  # op(B)[k0, 0]
        # whether B's panels are read in place: few rows (PACK_FROM_ROWS), and a K block of
        # B's rows fits in L1 at B's row stride (l1_panel_rows, here at run time)
        few = bld.icmp_signed("<", m, ir.Constant(I64, PACK_FROM_ROWS))
        ldb_bytes = bld.mul(ldb, ir.Constant(I64, size))
        lowest = bld.and_(ldb_bytes, bld.neg(ldb_bytes))
        in_way = bld.icmp_unsigned("<", bld.sub(lowest, ir.Constant(I64, 1)),
                                   ir.Constant(I64, l1_way - 1))    # 0 < lowest < the way
        lowest = bld.select(in_way, lowest, ir.Constant(I64, l1_way))
        fits = bld.udiv(ir.Constant(I64, l1_panel_rows(vector_bytes * vectors, l1_way)
                                     * l1_way), lowest)
        few = bld.and_(few, bld.icmp_signed("<=", klen, fits))
        with _loop(bld, ir.Constant(I64, 0), m, block, "mb") as m0:
            rows_left = bld.sub(m, m0)
            mlen = bld.select(bld.icmp_signed("<", rows_left, block), rows_left, block)
            # op(A)[m0, k0] and C[m0, 0]: this block of rows
            a_k = _at(bld, a, bld.add(bld.mul(k0, lda), m0) if trans_a
                      else bld.add(bld.mul(m0, lda), k0), fp)
            c_m = _at(bld, c, bld.mul(m0, ldc), fp)
            _panels(bld, k, tiles, heights, mlen, n, a_k, a_row, a_col, b_k, ldb, c_m, ldc,
                    klen, load_c, trans_b, few, scratch, vectors, lanes)
    bld.ret_void()
    return fn


def _panels(bld, k, tiles, heights, m, n, a_k, a_row, a_col, b_k, ldb, c, ldc, klen, load_c,
            trans_b, few, scratch, vectors, lanes):
    """Every column panel of C's rows [0, m) for one K block: full nr-wide panels (B packed
    into `scratch` unless `few`; B^T always), then 1-vector panels, then a masked one."""
    nr_const = ir.Constant(I64, lanes * vectors)
    zero = ir.Constant(I64, 0)

    def column(j0, width, masked, rem, packed=None):
        """All row tiles of the column panel starting at j0 (`width` vectors); B comes
        from `packed` (row stride nr) when given."""
        if trans_b and packed is None:      # B^T is only ever read packed
            k.pack_transposed(bld, _at(bld, b_k, bld.mul(j0, ldb), k.fp), ldb, klen,
                              rem if masked else ir.Constant(I64, width * lanes), scratch,
                              nr_const)
            packed = scratch
        b_panel, b_stride = (packed, nr_const) if packed else (_at(bld, b_k, j0, k.fp), ldb)

        def run(r, i0):
            args = [_at(bld, a_k, bld.mul(i0, a_row), k.fp), b_panel,
                    _at(bld, c, bld.add(bld.mul(i0, ldc), j0), k.fp), klen, a_row, a_col,
                    b_stride, ldc, load_c, rem]
            bld.call(tiles[(r, width, masked)], args)
        i0 = None
        for height in heights[width]:
            i0 = _rows(bld, m, height, lambda i, h=height: run(h, i), start=i0)

    def full_panel(j0):
        if trans_b:
            k.pack_transposed(bld, _at(bld, b_k, bld.mul(j0, ldb), k.fp), ldb, klen, nr_const,
                              scratch, nr_const)
            column(j0, vectors, False, zero, packed=scratch)
            return
        with bld.if_else(few) as (in_place, packed):
            with in_place:
                column(j0, vectors, False, zero)
            with packed:
                k.pack(bld, _at(bld, b_k, j0, k.fp), ldb, klen, vectors, scratch)
                column(j0, vectors, False, zero, packed=scratch)

    j0 = _rows(bld, n, lanes * vectors, full_panel)
    j0 = _rows(bld, n, lanes, lambda j: column(j, 1, False, zero), start=j0)
    rem = bld.sub(n, j0)
    with bld.if_then(bld.icmp_signed(">", rem, zero)):
        column(j0, 1, True, rem)


def _at(bld, base, offset, fp):
    """&base[offset], offset counted in elements of type fp."""
    return bld.gep(base, [offset], inbounds=True, source_etype=fp)


@contextmanager
def _loop(bld, start, stop, step, name, unroll=True):
    """for (i = start; i < stop; i += step): yields i (step: a constant or an i64 value
    the loop does not change); after the block, i is the exit value
    (the loop header dominates the exit, so the phi is usable there). unroll=False: LLVM
    may not unroll it (a micro-kernel's K loop, whose tile already does many independent
    multiply-adds per step)."""
    pre = bld.block
    head, body, done = (bld.append_basic_block(f"{name}.{s}") for s in ("head", "body", "end"))
    bld.branch(head)
    bld.position_at_end(head)
    i = bld.phi(I64, name)
    i.add_incoming(start, pre)
    bld.cbranch(bld.icmp_signed("<", i, stop), body, done)
    bld.position_at_end(body)
    yield i
    step = step if isinstance(step, ir.Value) else ir.Constant(I64, step)
    i.add_incoming(bld.add(i, step), bld.block)
    latch = bld.branch(head)
    if not unroll:
        latch.set_metadata("llvm.loop", _no_unroll(bld.module))
    bld.position_at_end(done)


def _no_unroll(module):
    """Loop metadata: llvm.loop.unroll.disable (a loop ID refers to itself first; one node
    per loop, made unique by a count)."""
    option = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
    loop_id = module.add_metadata([option, ir.Constant(I64, len(module.metadata))])
    loop_id.operands = (loop_id, *loop_id.operands)
    return loop_id


def _rows(bld, extent, step, emit, start=None):
    """Call emit(i) for every i = start, start + step, ... with i + step <= extent; returns
    the first index not covered."""
    start = ir.Constant(I64, 0) if start is None else start
    stop = bld.add(bld.sub(extent, ir.Constant(I64, step)), ir.Constant(I64, 1))
    with _loop(bld, start, stop, step, f"by{step}") as i:
        emit(i)
    return i


class _Kernel:
    """Emits the micro-kernels (one private function per tile shape) for one element type."""

    def __init__(self, module, fp, size, lanes, name):
        self.module, self.fp, self.size, self.lanes, self.name = module, fp, size, lanes, name
        self.tiles = {}             # (rows, vectors, masked) -> the tile function
        self._tpack = {}            # constant width or None -> the transposing pack
        self._width = {}            # a constant-width pack function -> its width
        self.vec = ir.VectorType(fp, lanes)
        self.vector_bytes = size * lanes
        suffix = f"v{lanes}{'f32' if size == 4 else 'f64'}"
        mask = ir.VectorType(I1, lanes)
        self.fmuladd = self._intrinsic(f"llvm.fmuladd.{suffix}", self.vec, [self.vec] * 3)
        # the 4-operand form with an explicit i32 alignment: LLVM 22 auto-upgrades it to the
        # new pointer `align` attribute, and older LLVMs (llvmlite >= 0.44) only know this one
        self.mload = self._intrinsic(f"llvm.masked.load.{suffix}.p0", self.vec,
                                     [PTR, I32, mask, self.vec])
        self.mstore = self._intrinsic(f"llvm.masked.store.{suffix}.p0", ir.VoidType(),
                                      [self.vec, PTR, I32, mask])

    def _intrinsic(self, name, ret, args):
        if name in self.module.globals:
            return self.module.globals[name]
        return ir.Function(self.module, ir.FunctionType(ret, args), name)

    def tile(self, rows, vectors, masked):
        """void tile(a, b, c, klen, a_row, a_col, ldb, ldc, load_c, rem): C[0:rows, 0:nr] =
        (C if load_c else 0) + (A[0:rows, 0:klen] @ B[0:klen, 0:nr]), A's element (r, k) at
        a[r * a_row + k * a_col]; when masked, nr is `rem`. Made once per shape."""
        key = (rows, vectors, masked)
        if key not in self.tiles:
            self.tiles[key] = self._tile(rows, vectors, masked)
        return self.tiles[key]

    def _tile(self, rows, vectors, masked):
        fnty = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I64, I64, I64, I64, I1, I64])
        fn = ir.Function(self.module, fnty,
                         f"{self.name}.tile{rows}x{vectors}{'m' if masked else ''}")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")   # shared by every variant: compiled once, called
        a, b, c, klen, a_row, a_col, ldb, ldc, load_c, rem = fn.args
        bld = ir.IRBuilder(fn.append_basic_block("entry"))
        # accumulators live in allocas that SROA promotes to registers (no phi bookkeeping)
        accs = [[bld.alloca(self.vec) for _ in range(vectors)] for _ in range(rows)]
        mask = None
        if masked:
            lane_ids = ir.Constant(ir.VectorType(I64, self.lanes), list(range(self.lanes)))
            mask = bld.icmp_signed("<", lane_ids, self._splat(bld, rem, ir.VectorType(
                I64, self.lanes)))
        zero = ir.Constant(self.vec, None)
        c_at = [[_at(bld, c, bld.add(bld.mul(ir.Constant(I64, r), ldc),
                                     ir.Constant(I64, v * self.lanes)), self.fp)
                 for v in range(vectors)] for r in range(rows)]
        # each K block sums from zero and is then added to C: a sum in blocks of kc terms,
        # not one chain of K (C loaded into the accumulators), whose float32 rounding error
        # grows with K: at K = 4608 (a 3x3 conv over 512 channels) 1.3e-5 against float64,
        # where blocks give 1.4e-6 (OpenBLAS's sgemm 2.2e-6), at the same speed
        for row in accs:
            for slot in row:
                bld.store(zero, slot)
        # not unrolled: the tile's rows x vectors multiply-adds are independent already, and
        # unrolled copies only slowed it (one thread, znver4, GFLOP/s unrolled / not, two
        # runs: 6 x 25 x 12544 41 / 70 and 60 / 88, 16 x 150 x 1600 66 / 87 and 85 / 100,
        # 128 x 64 x 784 A^T 80 / 94 and 100 / 105, 512^3 92 / 97 and 101 / 105) while
        # making the library ~25 % slower to compile (~0.28 -> ~0.21 s)
        with _loop(bld, ir.Constant(I64, 0), klen, 1, "k", unroll=False) as kk:
            b_row = _at(bld, b, bld.mul(kk, ldb), self.fp)
            bv = [self._load(bld, _at(bld, b_row, ir.Constant(I64, v * self.lanes), self.fp),
                             mask) for v in range(vectors)]
            for r in range(rows):
                where = bld.add(bld.mul(ir.Constant(I64, r), a_row), bld.mul(kk, a_col))
                a_elem = bld.load(_at(bld, a, where, self.fp), typ=self.fp, align=self.size)
                av = self._splat(bld, a_elem, self.vec)
                for v in range(vectors):
                    total = bld.call(self.fmuladd, [av, bv[v], bld.load(accs[r][v],
                                                                        typ=self.vec)])
                    bld.store(total, accs[r][v])
        with bld.if_then(load_c):
            for r in range(rows):
                for v in range(vectors):
                    bld.store(bld.fadd(self._load(bld, c_at[r][v], mask),
                                       bld.load(accs[r][v], typ=self.vec)), accs[r][v])
        for r in range(rows):
            for v in range(vectors):
                value = bld.load(accs[r][v], typ=self.vec)
                if mask is None:
                    bld.store(value, c_at[r][v], align=self.size)
                else:
                    bld.call(self.mstore, [value, c_at[r][v], ir.Constant(I32, self.size), mask])
        bld.ret_void()
        return fn

    def pack(self, bld, src, ld, klen, vectors, dst):
        """dst[kk, :] = src[kk * ld : kk * ld + nr] for kk < klen: a contiguous copy of the B
        panel, so the micro-kernel's B rows sit nr elements apart instead of ld (a stride of
        a multiple of 4 KiB maps every row to the same L1 sets)."""
        nr = vectors * self.lanes
        with _loop(bld, ir.Constant(I64, 0), klen, 1, "pack") as kk:
            row_in = _at(bld, src, bld.mul(kk, ld), self.fp)
            row_out = _at(bld, dst, bld.mul(kk, ir.Constant(I64, nr)), self.fp)
            for v in range(vectors):
                offset = ir.Constant(I64, v * self.lanes)
                value = self._load(bld, _at(bld, row_in, offset, self.fp), None)
                bld.store(value, _at(bld, row_out, offset, self.fp), align=self.vector_bytes)

    def pack_transposed(self, bld, src, ld, klen, width, dst, nr):
        """dst[kk, jj] = src[jj * ld + kk] for kk < klen, jj < width (dst rows nr apart, a
        constant): the panel of B from B^T's rows, each read along K (contiguous), written
        down a column. A call, not loops at every panel: there LLVM unrolled and vectorized
        each copy (8 per library), and the B^T library took 0.71 s to compile against
        0.31 s for B as stored (znver3; now 0.28 s). A width of whole vectors is moved in
        square blocks transposed in registers (`_transposing_pack`), as fast as LLVM's
        own vectorized copies were; other widths element by element."""
        key = width.constant if isinstance(width, ir.Constant) and \
            width.constant % self.lanes == 0 else None
        if key not in self._tpack:
            self._tpack[key] = self._transposing_pack(key, nr) if key else \
                self._element_pack(nr)
        args = [bld.bitcast(src, PTR), ld, klen, bld.bitcast(dst, PTR)]
        bld.call(self._tpack[key], args + ([] if key else [width]))

    def _pack_function(self, label, extra):
        fnty = ir.FunctionType(ir.VoidType(), [PTR, I64, I64, PTR] + [I64] * extra)
        fn = ir.Function(self.module, fnty, f"{self.name}.pack_transposed_{label}")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def _element_pack(self, nr, fn=None, bld=None, first=None):
        """The pack of a run-time width (its last argument), one element at a time; given
        fn and bld, the rows of K from `first` on of fn's constant width. Its loops are
        not unrolled: they move a panel's last few columns or rows."""
        if fn is None:
            fn, bld = self._pack_function("any", 1)
            src, ld, klen, dst, width = fn.args
        else:
            (src, ld, klen, dst), width = fn.args, ir.Constant(I64, self._width[fn])
        with _loop(bld, ir.Constant(I64, 0), width, 1, "tpack_j", unroll=False) as jj:
            row_in = _at(bld, src, bld.mul(jj, ld), self.fp)
            start = first or ir.Constant(I64, 0)
            with _loop(bld, start, klen, 1, "tpack_k", unroll=False) as kk:
                value = bld.load(_at(bld, row_in, kk, self.fp), typ=self.fp, align=self.size)
                bld.store(value, _at(bld, dst, bld.add(bld.mul(kk, nr), jj), self.fp),
                          align=self.size)
        bld.ret_void()
        return fn

    def _transposing_pack(self, width, nr):
        """The pack of `width` columns (whole vectors): for each lanes x lanes block, one
        vector load from each of `lanes` rows of B^T, transposed by log2(lanes) rounds of
        interleaving shuffles (the perfect shuffle, applied log2(lanes) times, is the
        transpose), stored as `lanes` rows of the panel; the last klen % lanes rows of K
        element by element."""
        fn, bld = self._pack_function(str(width), 0)
        self._width[fn] = width
        src, ld, klen, dst = fn.args
        lanes, half = self.lanes, self.lanes // 2
        low = ir.Constant(ir.VectorType(I32, lanes),
                          [v for i in range(half) for v in (i, lanes + i)])
        high = ir.Constant(ir.VectorType(I32, lanes),
                           [v for i in range(half, lanes) for v in (i, lanes + i)])
        whole = bld.sub(klen, bld.srem(klen, ir.Constant(I64, lanes)))
        with _loop(bld, ir.Constant(I64, 0), whole, lanes, "tpack_k", unroll=False) as kk:
            for j0 in range(0, width, lanes):
                rows = [self._load(bld, _at(bld, src, bld.add(
                    bld.mul(ir.Constant(I64, j0 + r), ld), kk), self.fp), None)
                    for r in range(lanes)]
                for _ in range(lanes.bit_length() - 1):
                    rows = [bld.shuffle_vector(rows[i], rows[i + half], mask)
                            for i in range(half) for mask in (low, high)]
                for r, row in enumerate(rows):
                    at = bld.add(bld.mul(bld.add(kk, ir.Constant(I64, r)), nr),
                                 ir.Constant(I64, j0))
                    bld.store(row, _at(bld, dst, at, self.fp), align=self.size)
        return self._element_pack(nr, fn, bld, first=whole)

    def _load(self, bld, ptr, mask):
        if mask is None:
            return bld.load(ptr, typ=self.vec, align=self.size)
        return bld.call(self.mload, [ptr, ir.Constant(I32, self.size), mask,
                                     ir.Constant(self.vec, None)])

    @staticmethod
    def _splat(bld, scalar, vec_type):
        one = bld.insert_element(ir.Constant(vec_type, ir.Undefined), scalar,
                                 ir.Constant(I32, 0))
        return bld.shuffle_vector(one, ir.Constant(vec_type, ir.Undefined),
                                  ir.Constant(ir.VectorType(I32, vec_type.count), None))
