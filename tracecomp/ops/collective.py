"""Collectives as primitives: `all_reduce`, `broadcast` and `all_gather` over the default
process group (tracecomp.distributed), so that a compiled training step holds its gradient
reduction as graph nodes (`tracecomp dump` shows them) instead of leaving it to eager code,
and a compiled forward can gather every rank's features (MoCo v3's concat_all_gather).

    %9: f32[256,784] = all_reduce(%8, gate=ddp.require_backward_grad_sync, op='avg')
    %4: f32[2,8,256] = all_gather(%3, world=2)

all_gather's result stacks every rank's operand along a new first dim (its size, the
world's, is a param: fixed when traced); it has no VJP (torch's c10d all_gather has none).

After autodiff, passes/buckets.py packs the all-reduces into buckets and splits each into
`all_reduce_start` (queued to the group's communication thread, distributed/comm_thread.py)
and `all_reduce_wait` (placed where the result is first read), so the message travels
while the native code between them runs.

Each impl sends its operand (a copy: graph values are immutable) through MPI and returns
the result, on the communicator of the group's communication thread, in the order the code
reaches it (distributed/comm_thread.py says why). No backend lowers them natively: the
llvm backend runs each as a Python step between its native segments, the interpreter as
any other node.

Tag "random": it is what the passes ask to mean "the value comes from outside the graph",
which is what a collective's is (the other ranks' operands). So a collective is never
constant-folded (that would run it at compile time), merged with an equal-looking one by
CSE, recomputed in the backward by the partitioner (an extra collective), or run twice by
the TRACECOMP_CHECK_SHAPES rule check. Every rank builds the same graph from the same code,
so every rank issues the same collectives in the same order.

`gate` (DistributedDataParallel's, optional) is read when the node runs: a closed gate
(the step called under `ddp.no_sync()`) makes the node the identity, so one compiled step
serves synced and unsynced calls, as eager DDP decides at run time too.

These primitives are registered with the others (tracecomp.distributed imports this
module), so the registry is the same whichever code ran first. Their impls need an
initialized process group; in a world of one they send nothing (each is the identity
there, all_gather its operand under a new dim of one), which the primitive tests use.
"""
import numpy as np

from ..dispatch import bind
from ..errors import AutogradError
from .registry import defprim


def _group():
    from ..distributed.process_group import default_group  # above ops in the import order
    return default_group()


def _all_reduce_impl(x, *, op, gate=None):
    from ..distributed.comm_thread import in_order
    from ..distributed.reduce_op import reduce_array
    buf = np.array(x, order="C", copy=True)
    if gate is None or gate.open():
        in_order(_group(), "all_reduce", lambda group: reduce_array(group, buf, op))
    return buf


def _all_reduce_vjp(g, out, x, *, op, gate=None):
    # d/dx_r of SUM over ranks of x is 1 on every rank: the cotangents of every rank add up
    # (an all_reduce SUM of g); AVG divides by the world size on the way back too
    if op not in ("sum", "avg"):
        raise AutogradError(f"all_reduce(op={op!r}) is not differentiable; only SUM and AVG "
                            f"have gradients")
    return (all_reduce(g, op, gate),)


def _all_reduce_start_impl(x, *, op, gate=None):
    from ..distributed import comm_thread
    buf = np.array(x, order="C", copy=True)
    comm_thread.start(_group(), buf, op if gate is None or gate.open() else None)
    return buf


def _all_reduce_wait_impl(x):
    from ..distributed import comm_thread
    return comm_thread.finish(x)


def _broadcast_impl(x, *, src):
    buf = np.array(x, order="C", copy=True)
    group = _group()
    if group.size > 1:
        from ..distributed.comm_thread import in_order
        in_order(group, "broadcast", lambda g: g.comm.Bcast(buf, root=src))
    return buf


def _all_gather_impl(x, *, world):
    send = np.array(x, order="C", copy=True)
    group = _group()
    if group.size != world:
        raise RuntimeError(f"all_gather: traced for a world of {world} ranks, run in one of "
                           f"{group.size}; compile again in this process group")
    if world == 1:
        return send[None]
    from ..distributed.comm_thread import in_order
    recv = np.empty((world,) + send.shape, send.dtype)
    in_order(group, "all_gather", lambda g: g.comm.Allgather(send, recv))
    return recv


all_reduce_p = defprim("all_reduce", _all_reduce_impl,
                       lambda shape, *, op, gate=None: tuple(shape),
                       lambda x, *, op, gate=None: np.dtype(x.dtype),
                       _all_reduce_vjp, tags=("random",), saves=())
# all_reduce split in two (passes/buckets.py), so that native code runs while the message
# travels: start's value is the buffer being reduced (not readable yet), wait's is the
# same buffer once it holds the result. Made after autodiff: neither has a VJP.
all_reduce_start_p = defprim("all_reduce_start", _all_reduce_start_impl,
                             lambda shape, *, op, gate=None: tuple(shape),
                             lambda x, *, op, gate=None: np.dtype(x.dtype), None,
                             tags=("random",))
all_reduce_wait_p = defprim("all_reduce_wait", _all_reduce_wait_impl,
                            lambda shape: tuple(shape), lambda x: np.dtype(x.dtype), None,
                            tags=("random",))
broadcast_p = defprim("broadcast", _broadcast_impl,
                      lambda shape, *, src: tuple(shape),
                      lambda x, *, src: np.dtype(x.dtype), None, tags=("random",))

all_gather_p = defprim("all_gather", _all_gather_impl,
                       lambda shape, *, world: (world,) + tuple(shape),
                       lambda x, *, world: np.dtype(x.dtype), None, tags=("random",))


def all_reduce(x, op="sum", gate=None):
    """The reduction of x over every rank, as a new tensor (x unchanged); op is a lowercase
    ReduceOp name."""
    if gate is None:
        return bind(all_reduce_p, x, op=op)
    return bind(all_reduce_p, x, op=op, gate=gate)


def all_reduce_start(x, op="sum", gate=None):
    """all_reduce(x, op, gate) begun: the value must go through all_reduce_wait before
    anything reads it."""
    if gate is None:
        return bind(all_reduce_start_p, x, op=op)
    return bind(all_reduce_start_p, x, op=op, gate=gate)


def all_reduce_wait(started):
    """The reduction that all_reduce_start began, once it is done."""
    return bind(all_reduce_wait_p, started)


def broadcast(x, src):
    """Rank src's x, as a new tensor on every rank."""
    return bind(broadcast_p, x, src=src)


def all_gather(x):
    """Every rank's x stacked along a new first dim, in rank order (x unchanged)."""
    return bind(all_gather_p, x, world=_group().size)
