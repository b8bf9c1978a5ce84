"""Which code computes a compiled product: the BLAS found at run time, or the generated GEMM.

Inside a compiled call the BLAS runs on one thread (parallel.py: its own threads spin
between products), so the contest is one thread against one thread, on the pieces that
parallel.gemm_split hands each thread. Measured on znver4 (AVX-512), float32, medians of
11 rounds, GFLOP/s, generated.py's kernel against OpenBLAS 0.3 (SkylakeX kernels), at the
pieces of the MLP 784-256-256-10 step at batch 64 (M, K, N, transposes):

    piece                    generated   BLAS
    64 x 784 x 128, B^T         70        63     forward x @ W^T
    128 x 64 x 784, A^T         96        83     weight gradient dY^T @ x
    128 x 64 x 256, A^T         83        67
    64 x 256 x 392              91        84     input gradient dY @ W
    512 x 784 x 128, B^T        94        87

The same pieces with AVX-512 turned off for both (TRACECOMP_CPU_FEATURES=-avx512f,
OPENBLAS_CORETYPE=Haswell): the BLAS ran 5-15 % faster (65 vs 62, 69 vs 64, 81 vs 72,
95 vs 81). B^T's panels are packed by a transposing copy, one element at a time, and in
the whole MLP step the forward products (x @ W^T, 64 rows) gained nothing from it (TRACECOMP_
PROFILE, summed over threads: 427 us generated, 375-436 us BLAS), where the weight gradients
(A^T) went 369-427 -> 298 us and 128-146 -> 97 us. So the generated GEMM computes float32
products that read B as stored where the host has 64-byte vectors, and the BLAS the rest
(and every float64 product, not measured). Without a BLAS the generated GEMM computes
everything. Whole compiled training steps, batch 64, A/B in one process against
TRACECOMP_GEMM=blas (alternating rounds, medians of 25): MLP 0.91x, LeNet 0.97x.

Not done: dots.py (A @ B^T as dot products along K) was faster than both for the forward
x @ W^T at 64 rows (64 x 784 x 256: 285 us summed over threads, against the BLAS's
375-436 us), but its kernels take K as a constant and are compiled per graph, which took
the MLP step's cold compile from 0.4-0.6 s to 1.1-1.3 s; a dots kernel taking K at run
time, compiled once as these GEMMs are, would make that choice cheap.

TRACECOMP_GEMM=blas or =generated overrides the choice (for measuring both on a host):
every product then goes to that GEMM, except dots.py's small results over a long K.
"""
import os

from .. import target

GENERATED_FROM_VECTOR_BYTES = 64
# The generated GEMMs are compiled once per process (shared.py, ~0.15 s cold for the
# float32 library, ~10 ms linked from the disk cache). Cold first calls (compile_latency.py,
# 5 processes, medians, znver4, BLAS -> generated): MLP step 203 -> 397 ms, LeNet step
# 606 -> 886 ms, compile(model) MLP 182 -> 366 ms; warm MLP step 41 -> 41 ms. Emitted into
# every graph's module instead, the MLP step's cold compile was 1.6-2.0 s.
MEASURED_DTYPES = ("float32",)
CHOICES = ("blas", "generated")


def generated(dtype, trans_b):
    """Whether a product of dtype, B^T when trans_b, uses the generated GEMM where a BLAS is
    available too."""
    forced = os.environ.get("TRACECOMP_GEMM", "").strip().lower()
    if forced:
        if forced not in CHOICES:
            raise ValueError(f"TRACECOMP_GEMM must be one of {', '.join(CHOICES)} (or unset "
                             f"to choose by the host), got {forced!r}")
        return forced == "generated"
    return dtype in MEASURED_DTYPES and not trans_b \
        and target.host().vector_bytes >= GENERATED_FROM_VECTOR_BYTES

