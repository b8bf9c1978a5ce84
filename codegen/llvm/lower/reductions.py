"""Reduction kernels (sum, max, min, prod over some dims), on kernels.KernelBuilder.

A reduction initializes its output, then accumulates every input element into
out[projected index]; `reassoc` on the float adds lets LLVM vectorize row sums (the only
fast-math flag used, and only there). A float32 sum accumulates in float64 and rounds
once (error bound: see WIDE_SUM_MAX).
"""
import math

import numpy as np
from llvmlite import ir

from tracecomp.symbolic import is_static

from .kernels import I64, PTR, REDUCE_INIT, KernelBuilder, c64
from .ops import ir_type, is_float

# Elements below which a reduction's loop is plain (kernels._plain_loop_id). Unrolled and
# interleaved, a 2048 x 2048 row sum took 0.36 ms instead of 0.61 (znver3).
PLAIN_BELOW = 1 << 15


def reduce_kernel(module, group, name, ranged=False):
    """ranged (see KernelBuilder) only when dim 0 is not reduced: each output row is then
    initialized and accumulated by the one caller whose range holds it.

    A float32 sum accumulates in float64 (see WIDE_SUM_MAX for where the doubles live and
    the error bound) and rounds once into out; every other reduction accumulates in its
    own dtype, in out."""
    k = KernelBuilder(module, group, name, ranged)
    root = group.root
    if root.op != "reduce_sum" or root.dtype != np.float32:
        _reduce_into(k, root, k.out, root.dtype, ranged)
        return k.finish()
    wide = np.dtype(np.float64)
    if is_static(root.shape) and root.size <= WIDE_SUM_MAX:
        acc = k.b.alloca(ir_type(wide, True), size=c64(root.size))
        _reduce_into(k, root, acc, wide, ranged)
        _round_into_out(k, root, acc, wide)
        return k.finish()
    b = k.b
    row = math.prod(root.shape[1:]) if ranged else root.size   # doubles per dim-0 index
    rows = b.sub(k.range[1], k.range[0]) if ranged else c64(1)   # a ranged call: its rows
    memory = b.call(_libc(module, "malloc", PTR, [I64]),
                    [b.mul(rows, k.int(row * wide.itemsize))])
    failed = b.icmp_unsigned("==", memory, ir.Constant(PTR, None))
    with b.if_else(failed) as (no_memory, have_memory):
        with no_memory:         # malloc failed: a float32 sum into out beats a crash
            _reduce_into(k, root, k.out, root.dtype, ranged)
        with have_memory:       # acc[i] for i in [start, stop) is memory[i - start]
            acc = b.gep(memory, [b.mul(k.range[0], k.int(-row))], source_etype=ir.DoubleType()) \
                if ranged else memory
            _reduce_into(k, root, acc, wide, ranged)
            _round_into_out(k, root, acc, wide)
            b.call(_libc(module, "free", ir.VoidType(), [PTR]), [memory])
    return k.finish()


def _reduce_into(k, root, acc_base, acc_dtype, ranged):
    """Initialize acc_base (shaped as root, of acc_dtype), then combine every input element
    into it."""
    x = root.inputs[0]
    dims, keep = set(root.params["dims"]), root.params["keepdim"]
    dtype = root.dtype
    init = REDUCE_INIT[root.op]
    if not is_float(dtype):
        info = np.iinfo(dtype)
        init = {"reduce_sum": 0, "reduce_max": info.min, "reduce_min": info.max,
                "reduce_prod": 1}[root.op]
    k.loops(root.shape, lambda idx: k.store(k.e.const(init, acc_dtype), acc_base, root.shape,
                                             idx, acc_dtype), plain=True)
    shape, out_shape = x.shape, root.shape
    if x not in k.members and not ranged:     # a stored input: loop over it in long runs
        shape, dims = _merged_runs(x.shape, dims)
        keep, out_shape = False, [n for d, n in enumerate(shape) if d not in dims]

    def accumulate(idx):
        v = k.operand(x, idx, shape, dtype) if shape is x.shape \
            else k.load(k.ptr[x], shape, idx, dtype)
        out_idx = [c64(0) if d in dims else i for d, i in enumerate(idx)
                   if keep or d not in dims]
        where = k.address(acc_base, out_shape, out_idx, acc_dtype)
        acc = k.b.load(where, typ=ir_type(acc_dtype, True))
        v = k.e.convert(v, dtype, acc_dtype) if acc_dtype != dtype else v
        k.b.store(_combine(k, root.op, acc, v, acc_dtype), where)

    # a small one is neither unrolled nor interleaved: its copies cost LLVM time and win
    # little (MLP training step's module: 260 -> 228 ms of LLVM; a 64 x 256 row sum ~0.2 us
    # slower, znver4); a large one keeps them: several accumulators (PLAIN_BELOW)
    k.loops(shape, accumulate, plain=is_static(shape) and math.prod(shape) < PLAIN_BELOW)


def _round_into_out(k, root, acc_base, acc_dtype):
    """out = the wide sums, each rounded once to out's dtype."""
    k.loops(root.shape, lambda idx: k.store(
        k.e.convert(k.load(acc_base, root.shape, idx, acc_dtype), acc_dtype, root.dtype),
        k.out, root.shape, idx, root.dtype), plain=True)


def _libc(module, name, ret, args):
    """The declaration of C library function `name` (resolved in this process at link)."""
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args), name)


# Every float32 sum accumulates in float64 and rounds once at the end (torch and numpy
# use a cascade sum for the same reason). The doubles live in a stack array shaped as out
# when out has at most WIDE_SUM_MAX elements (32 KiB), else in a malloc'd one (freed at
# the kernel's end; a call on a range of dim 0 allocates its rows only; if malloc fails
# the sum runs in float32 rather than crash).
#
# Error bound, for s = the float32 sum of n float32 values x_i (also a row sum, a mean's
# or a variance's sum, the sums in softmax / log_softmax / layer norm, fused prologues
# included): each float64 add rounds by at most 2^-53 relative, in any order (`reassoc`
# lets LLVM keep vector partial sums), and the one final rounding to float32 by 2^-24, so
#     |s - exact| <= 2^-24 |exact| + (n - 1) 2^-53 sum |x_i|,
# i.e. within one float32 rounding of the exact sum for n up to ~2^29 when the x_i share
# a sign (4M copies of 0.1f: relative error 0 against the float64 sum; float32
# accumulation in order was 1e-3 off). A mean adds one rounding (the division); a
# variance computes its squares in float32 first, ~2^-24 relative each. Tested at 1M-16M
# elements in tests/reliability/test_rel_precision_reductions.py. float64 sums accumulate
# in float64 (bound (n - 1) 2^-53 sum |x_i|); integer sums are exact (modulo wraparound);
# max and min are exact.
WIDE_SUM_MAX = 4096


def _merged_runs(shape, dims):
    """shape with each run of adjacent reduced (or kept) dims merged into one, size-1 dims
    dropped, and the merged reduced dims: the same elements in the same order, so a
    C-contiguous buffer reads the same, but a bias gradient's sum over (N, H, W) keeping C
    loops over runs of H*W, not W (28 elements per vector reduction: 3.7 GB/s)."""
    runs = []
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if runs and runs[-1][1] == (d in dims):
            runs[-1][0] *= n
        else:
            runs.append([n, d in dims])
    return tuple(n for n, _ in runs), {d for d, (_, reduced) in enumerate(runs) if reduced}


def _combine(k, op, acc, v, dtype):
    b = k.b
    if op == "reduce_sum":
        return b.fadd(acc, v, flags=["reassoc", "contract"]) if is_float(dtype) \
            else b.add(acc, v)
    if op == "reduce_prod":
        return b.fmul(acc, v, flags=["reassoc", "contract"]) if is_float(dtype) \
            else b.mul(acc, v)
    if is_float(dtype):
        name = "llvm.maximum" if op == "reduce_max" else "llvm.minimum"
        return k.e.intrinsic(name, acc.type, acc, v)
    pred = ">" if op == "reduce_max" else "<"
    return b.select(b.icmp_signed(pred, v, acc), v, acc)
