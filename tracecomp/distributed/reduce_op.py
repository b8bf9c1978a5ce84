"""ReduceOp (torch's names and values) and how each becomes an MPI reduction on a dtype.

MPI reduces every dtype tracecomp holds natively (float16 through MPICH's MPIX_C_FLOAT16),
with three exceptions that follow torch:
  - AVG is not an MPI op: SUM, then a division by the world size once the sum is in
    (integers and bools cannot hold the quotient: torch's error, as its gloo group gives);
  - bool tensors reduce logically: SUM and MAX are OR, PRODUCT and MIN are AND (what numpy's
    sum/prod give, cast back to bool; what torch's NCCL group maps them to);
  - BAND/BOR/BXOR only take integers and bools (torch's error otherwise).
`plan(op, dtype)` answers (mpi op, what to do after the reduction) and raises those errors
before any message is sent, so no rank is left waiting for a peer that gave up.
`reduce_array(group, buf, op)` is the all-reduce itself, the one MPI call every path
makes (dist.all_reduce, the compiled graph's nodes, the communication thread).
"""
import enum

import numpy as np

from ..dtypes import TORCH_NAMES, np_kind


class ReduceOp:
    """torch.distributed.ReduceOp: ReduceOp.SUM is a RedOpType, as torch's is."""

    class RedOpType(enum.Enum):
        SUM = 0
        AVG = 1
        PRODUCT = 2
        MIN = 3
        MAX = 4
        BAND = 5
        BOR = 6
        BXOR = 7
        PREMUL_SUM = 8
        UNUSED = 9

    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


R = ReduceOp.RedOpType
_ARITH = {R.SUM: "SUM", R.AVG: "SUM", R.PRODUCT: "PROD", R.MIN: "MIN", R.MAX: "MAX",
          R.BAND: "BAND", R.BOR: "BOR", R.BXOR: "BXOR"}
_LOGICAL = {R.SUM: "LOR", R.MAX: "LOR", R.BOR: "LOR", R.PRODUCT: "LAND", R.MIN: "LAND",
            R.BAND: "LAND", R.BXOR: "LXOR"}


def as_op(op):
    """A RedOpType from a RedOpType, its name ("sum") or its value."""
    if isinstance(op, R):
        return op
    if isinstance(op, str) and op.upper() in R.__members__:
        return R[op.upper()]
    if isinstance(op, int) and not isinstance(op, bool):
        return R(op)
    raise ValueError(f"op={op!r} is not a torch.distributed.ReduceOp (use ReduceOp.SUM, "
                     f"AVG, PRODUCT, MIN, MAX, BAND, BOR or BXOR)")


def plan(op, dtype):
    """(name of the MPI op, divide by the world size after?) for reducing `dtype` with op;
    torch's errors for the combinations it refuses."""
    op, dtype = as_op(op), np.dtype(dtype)
    if op in (R.PREMUL_SUM, R.UNUSED):
        raise ValueError(f"ReduceOp.{op.name} is not supported by tracecomp.distributed "
                         f"(multiply by the factor, then reduce with ReduceOp.SUM)")
    if np_kind(dtype) == "b":
        if op is R.AVG:
            raise RuntimeError("result type Float can't be cast to the desired output type "
                               "Bool")
        return _LOGICAL[op], False
    if op in (R.BAND, R.BOR, R.BXOR) and np_kind(dtype) not in "iu":
        raise RuntimeError(f"Cannot use ReduceOp.{op.name} with non-integral dtype")
    if op is R.AVG and np_kind(dtype) != "f":
        raise RuntimeError(f"result type Float can't be cast to the desired output type "
                           f"{TORCH_NAMES.get(dtype, str(dtype))}")
    return _ARITH[op], op is R.AVG


def mpi_op(name):
    from mpi4py import MPI
    return getattr(MPI, name)


def finish_avg(buf, size):
    """The AVG's division, in place, in the buffer's own dtype (float16 stays float16)."""
    np.divide(buf, size, out=buf, casting="unsafe")


def reduce_array(pg, buf, op):
    """buf (C-contiguous) becomes its reduction over pg's ranks: the one writing of an
    all-reduce, for dist.all_reduce and the compiled graph's `all_reduce` node alike. In a
    world of one every reduction is the identity, and nothing is sent."""
    name, avg = plan(op, buf.dtype)       # torch's refusals first, whatever the world
    if pg.size == 1:
        return
    from mpi4py import MPI
    pg.comm.Allreduce(MPI.IN_PLACE, buf, mpi_op(name))
    if avg:
        finish_avg(buf, pg.size)
