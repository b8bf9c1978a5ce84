"""Which code computes a compiled product: dots.py's dot products along K, the generated
GEMM, or the BLAS found at run time.

Inside a compiled call the BLAS runs on one thread (parallel.py: its own threads spin
between products), so the contest is one thread against one thread, on the pieces that
parallel.gemm_split hands each thread. Measured on znver4 (AVX-512), medians of 11 rounds,
GFLOP/s, one thread, OpenBLAS 0.3 (SkylakeX kernels), M x K x N:

  A @ B^T (x @ W^T, a conv's weight gradient), float32:
    piece             dots   generated   BLAS
    64 x 784 x 128     94       62        64     (the generated GEMM packs B^T by a
    32 x 784 x 256     93       46        47      transposing copy, as the BLAS does)
    64 x 192 x 256     70                 62
    64 x 128 x 256     56                 56
    64 x 64 x 256      42                 63
    128 x 256 x 256    79                 74
    256 x 256 x 256    77                 88
    128 x 784 x 512    91                 76
    512 x 784 x 128    90       90        93
    6 x 50176 x 25     74       11        14     (a small result over a long K)
    16 x 6400 x 150   101       29        37
  The same in float64: dots 47 / 40 / 45 / 44 / 43 against the BLAS's 38 / 38 / 45 / 48 /
  46 (64x784x128, 64x128x256, 128x256x256, 256x256x256, 128x784x512), 16 x 6400 x 150 43
  against 25. With AVX-512 off (TRACECOMP_CPU_FEATURES=-avx512f, OPENBLAS_CORETYPE=Haswell)
  dots ran 64 x 784 x 128 at 102 against 88, and 512 x 784 x 128 at 86 against 101.
  So dots computes A @ B^T of K >= 128 where M <= 128, and small results over a long K.
  (Measured before dots summed its accumulators by a tree and stopped unrolling its K loop,
  which added 10-40 %: dots.py. After, dots / BLAS: 128 x 784 x 256 95 / 78, 256 x 256 x
  256 88 / 83, 128 x 256 x 256 89 / 76, 512 x 784 x 128 86 / 87, 512 x 256 x 256 82 / 89;
  so now M <= 256, M being the rows of a thread's piece: a batch of 512 split over threads
  is pieces of 128 rows; and K >= 80, DOTS_MIN_DEPTH.)
  Those are znver4's figures. On an Intel Xeon with AVX-512 (LLVM: rocketlake) the generated
  GEMM, packing B^T, beat dots on every such piece but small results over a long K (one
  thread, GFLOP/s, dots / generated / BLAS: 64 x 784 x 256 99 / 146 / 98, 64 x 256 x 256
  103 / 134 / 93, 128 x 256 x 256 102 / 160), so calibrate.py's dots contest decides on
  each host whether these pieces go to dots or to the generated GEMM (and then A @ B^T of
  any shape may, as A @ B does); small results go to dots everywhere.

  The other transposes, float32 (generated against BLAS): 128 x 64 x 784 A^T 96 / 83 (a
  weight gradient dY^T @ x), 128 x 64 x 256 A^T 83 / 67, 64 x 256 x 392 91 / 84 (dY @ W).
  With AVX-512 off the BLAS ran 5-15 % faster (65 vs 62, 69 vs 64, 81 vs 72, 95 vs 81)
  alone, but not inside compiled graphs: with AVX-512 off (TRACECOMP_CPU_FEATURES=-avx512f,
  OPENBLAS_CORETYPE=Haswell, znver4, medians of 9 rounds, alternating processes, us) the
  generated GEMM against the BLAS in these products gave
                                BLAS          generated
    MLP whole step B=64      594 / 612      533 / 529
    MLP compile(model) step  774 / 797      713 / 708
    LeNet whole step        1980 / 1974    1869 / 1887
    LeNet inference          666 / 660      581 / 578
    MLP whole step B=512    3540 / 3546    3584 / 3608
  and on one thread (TRACECOMP_THREADS=1) LeNet inference 1183 / 1190 -> 931 / 936, its
  whole step 3718 / 3441 -> 2934 / 3129, the MLP step 942 / 917 -> 872 / 896: a graph's
  products are small pieces, and each BLAS call pays for its entry and for switching the
  BLAS to one thread around the call (parallel.serial_blas_begin). So the generated GEMM
  computes float32 products that read B as stored where the host has 32-byte vectors or
  wider (AVX2, AVX-512; float64 not measured), and the BLAS the rest; without a BLAS the
  generated GEMM computes everything that dots does not.

The generated GEMMs and dots are compiled once per process (shared.py: ~0.15 s cold for a
library, ~10 ms linked from the disk cache). Cold first calls (compile_latency.py, 5
processes, medians, znver4, BLAS -> generated): MLP step 203 -> 397 ms, LeNet step 606 ->
886 ms, compile(model) MLP 182 -> 366 ms; warm MLP step 41 -> 41 ms. So a graph's first
call computes these products on the BLAS while the libraries are built (first_calls.py).

TRACECOMP_GEMM=blas, =generated or =dots overrides the choice, for measuring each on a host:
every product goes to that code (dots: every A @ B^T; the others to the generated GEMM; the
BLAS: where one was found).
"""
import math
import os
from typing import NamedTuple

from .. import target
from . import calibrate, dots, generated

CHOICES = ("blas", "generated", "dots")
DOTS_MIN_DEPTH = 80         # K: shorter dot products spend too much on their reductions
# (after the tree and the plain K loop, dots / BLAS one thread, GFLOP/s, two runs: 64 x 80 x
# 256 54 / 50, 64 x 96 x 256 65 / 56 and 56 / 52, 64 x 120 x 84 49 / 43 and 48 / 41;
# 64 x 64 x 256 49 / 48 and 47 / 47, 128 x 64 x 256 53 / 61 and 54 / 60, 64 x 32 x 256
# 33 / 39 and 32 / 37)
DOTS_MAX_ROWS = 256         # M: more rows repay a GEMM's packing of B^T
# M of a small result that dots takes where the generated GEMM won calibrate.py's contest
# (there, one thread, GFLOP/s dots / generated: 6 x 50176 x 25 36 / 33, 16 x 6400 x 150
# 74 / 67, 32 x 1024 x 32 74 / 75, 64 x 784 x 64 84 / 123, 64 x 4096 x 16 67 / 87)
DOTS_FEW_ROWS = 16
GENERATED_FROM_VECTOR_BYTES = 32
GENERATED_DTYPES = ("float32",)
ROW_BLOCK = 32              # rows of C, about, per block of a row loop (row_block)
# blocks per thread of a fused row loop (backend._fused_rows): the bench MLP's inference
# at batch 64 (znver4, quiet, alternating processes; two threads; measured with each block
# in a scratch of its thread's, as a memory-saving loop has it): 186.6 us unfused, 197
# with blocks of 12 rows (6 blocks: 36 rows on one thread, 28 on the other), 180.3 with
# 16 (2 a thread), 177.7 with 8 (4 a thread)
FUSED_BLOCKS_PER_SLOT = 4


class Product(NamedTuple):
    """What the choice looks at: C[m, n] = op(A)[m, k] @ op(B)[k, n], m x n the block of C
    that one call computes (a thread's piece of a split product)."""
    dtype: str
    m: int
    n: int
    k: int
    trans_a: bool
    trans_b: bool
    blas: bool          # whether a BLAS was found for dtype


def row_block():
    """C's rows per block of a row loop (passes/row_loops.py): about ROW_BLOCK, a whole
    number of both GEMMs' tile rows, so that only the last block may end in a partial
    tile. 36 rows of a 256-wide float32 C are 36 KB: still in cache when the mask after
    the product reads them."""
    tile = math.lcm(generated.default_tile()[1], dots.tile_shape()[0])
    return tile * max(1, round(ROW_BLOCK / tile))


def _dot_shaped(p):
    return not p.trans_a and p.trans_b


def _small_result(p):
    return p.m * p.n <= 4096 and p.k >= 8 * max(p.m, p.n)


def _large(p):
    """A piece of calibrate.LARGE_WORK multiply-adds or more (sizes known when compiled)."""
    sizes = (p.m, p.n, p.k)
    return all(isinstance(x, int) for x in sizes) and math.prod(sizes) >= calibrate.LARGE_WORK


def _generated_fits(p):
    return p.dtype in GENERATED_DTYPES \
        and target.host().vector_bytes >= GENERATED_FROM_VECTOR_BYTES


def _packed_bt_wins(p):
    """Whether the generated GEMM, packing B^T, beat dots on this host (calibrate.py)."""
    return _generated_fits(p) and not calibrate.dots_win(p.dtype)


def _dots_shaped_here(p):
    """dots' pieces of A @ B^T: few rows, or a small result over a long K, where dots won
    the host's contest; where the generated GEMM won it, only small results of at most
    DOTS_FEW_ROWS rows (a convolution's weight gradient: its output channels by a long K)."""
    if _packed_bt_wins(p):
        return _small_result(p) and p.m <= DOTS_FEW_ROWS
    return p.m <= DOTS_MAX_ROWS or _small_result(p)


def _generated_may(p):
    return _generated_fits(p) and (not p.trans_b or _packed_bt_wins(p))


# (code, when): the first rule that holds decides (the module docstring has the figures;
# calibrate.py measures on the host whether dots or the generated GEMM takes A @ B^T of
# few rows, and whether a large piece goes to the BLAS)
RULES = [
    ("dots", lambda p: _dot_shaped(p) and p.k >= DOTS_MIN_DEPTH and _dots_shaped_here(p)),
    ("blas", lambda p: p.blas and _generated_may(p) and _large(p)
     and calibrate.blas_wins(p.dtype)),
    ("generated", _generated_may),
    ("blas", lambda p: p.blas),
    ("generated", lambda p: True),
]


def code(product):
    """"dots", "generated" or "blas": what computes `product` (a Product) on this host."""
    forced = os.environ.get("TRACECOMP_GEMM", "").strip().lower()
    if forced:
        if forced not in CHOICES:
            raise ValueError(f"TRACECOMP_GEMM must be one of {', '.join(CHOICES)} (or unset "
                             f"to choose by the host), got {forced!r}")
        if forced == "dots":
            return "dots" if _dot_shaped(product) else "generated"
        return "blas" if forced == "blas" and product.blas else "generated"
    return next(name for name, holds in RULES if holds(product))
