"""The llvm backend's Target (passes/target.py): the CPU compiled for (runtime/host_cpu.py:
the host, as llvmlite reports it, unless TRACECOMP_CPU_FEATURES narrows it).

Its vector width comes from the host's features (AVX-512: 64 bytes, AVX/AVX2: 32, else
16), so the register tiles of the GEMM and of dots.py follow the machine the code runs on;
`supported` is kernels.supported; the op costs weigh fusion's choices and parallel.py's
work estimates; its elementwise kernels store extra outputs (multi_output), and its index
maps compute a fold whose windows tile its output (window.py).
"""
import functools
import os

from tracecomp.passes.target import Target

from .lower import select  # noqa: F401 - registers the index maps kernels.supported asks about
from .lower.kernels import supported
from .runtime import host_cpu

# beyond simple arithmetic, in simple element operations: mathlib's vectorized
# transcendentals about 4, scalar calls (LLVM's sin/cos/pow) about 16. The ops at 1 cost
# little, but not so little that every window of an unfold should recompute them.
OP_COSTS = {
    **dict.fromkeys(("exp", "log", "tanh", "sigmoid", "erf", "expm1", "log1p"), 4),
    **dict.fromkeys(("sin", "cos", "pow"), 16),
    **dict.fromkeys(("sqrt", "rsqrt", "remainder", "argmax", "argmin", "gather", "unfold"), 1),
}
# the first width whose features the host all has; else 16. A feature needs those below it
# (LLVM clears AVX-512 along with a `-avx` or `-avx2` in TRACECOMP_CPU_FEATURES, while the
# host's map still says avx512f), so each width names the whole chain.
VECTOR_BYTES = ((("avx512f", "avx2", "avx"), 64), (("avx",), 32))


def vector_bytes(features):
    """The widest vector register, in bytes, of a CPU with `features` (llvmlite's map)."""
    return next((width for names, width in VECTOR_BYTES
                 if all(features.get(name) for name in names)), 16)


def host():
    """The Target of the CPU this process compiles for (runtime/host_cpu.py); called per
    node by some passes, so made once per value of TRACECOMP_CPU_FEATURES."""
    return _target(os.environ.get(host_cpu.VARIABLE, ""))


@functools.cache
def _target(changes):
    return Target(f"llvm {host_cpu.name()}" + (f" ({changes})" if changes else ""), supported,
                  True, vector_bytes(host_cpu.features()), OP_COSTS, multi_output=True,
                  tiling_folds_move=True)
