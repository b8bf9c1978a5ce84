"""Collectives inside `tracecomp.compile`: recorded as graph nodes (ops/collective.py), run
by the compiled code on every call.

  - `dist.all_reduce(t)` on a traced tensor: t takes the `all_reduce` node's value (an
    in-place update the compiler writes back, as any other);
  - `dist.all_gather(outs, t)` (or all_gather_into_tensor) of a traced tensor: each out
    takes its rank's row of one `all_gather` node (MoCo v3's concat_all_gather in a
    compiled forward);
  - DistributedDataParallel's forward while tracing: every parameter is read through
    `_AverageGrad`, a custom autograd Function that is the identity forward and whose
    backward all-reduces (AVG) the gradient; and buffers through a `broadcast` node.

Whose gradient is averaged. Eager DDP averages what `.grad` becomes (torch's semantics:
gradients accumulated under no_sync() are averaged with the new ones). In a whole compiled
training step the backward is traced in place (tracing/backward.py) and then adds each
parameter's gradient into its `.grad`; so `_AverageGrad.backward` adds the current `.grad`
itself, sets `.grad` to None and returns the average of the sum, which the trace's
backward then stores: `.grad` ends as the average of the accumulated gradient, as eagerly.
When the backward is not traced in place (only DDP's forward is compiled, its backward
built by the autodiff pass and run by the eager engine) the new gradient alone is averaged
before the engine adds it, which differs from torch only after no_sync() accumulation.

One `all_reduce` node per parameter while tracing; passes/buckets.py then packs them into
buckets of up to 25 MB after autodiff, as the eager reducer does. The gate
(ops/collective.py) reads `require_backward_grad_sync` when the step runs, so `no_sync()`
around a compiled call works without recompiling.
"""
import weakref
from contextlib import contextmanager

from .. import context, grad_mode, inplace
from ..autograd.function import Function
from ..ops import collective
from .collectives import Work
from .process_group import default_group
from .reduce_op import as_op, plan


def all_reduce_traced(tensor, op, async_op):
    """dist.all_reduce(tensor) while tracing: an `all_reduce` node, written into tensor."""
    op = as_op(op)
    plan(op, tensor._data.dtype)    # torch's refusals at trace time, not in the compiled call
    with grad_mode.no_grad():       # not recorded by autograd, as torch's c10d collectives
        inplace.commit(tensor, collective.all_reduce(tensor, op.name.lower()), "all_reduce")
    return Work(None, None, [tensor]) if async_op else None


def all_gather_traced(outputs, tensor, async_op):
    """dist.all_gather(outputs, tensor) while tracing: one `all_gather` node, whose row r
    is written into outputs[r] (a list) or, stacked, into outputs (one tensor: the
    all_gather_into_tensor form, world_size rows of tensor's shape or their concatenation)."""
    with grad_mode.no_grad():       # not recorded by autograd, as torch's c10d collectives
        gathered = collective.all_gather(tensor)
        if isinstance(outputs, list):
            for r, out in enumerate(outputs):
                inplace.commit(out, gathered[r], "all_gather")
        else:
            inplace.commit(outputs, gathered.reshape(outputs.shape), "all_gather_into_tensor")
            outputs = [outputs]
    return Work(None, None, list(outputs)) if async_op else None


def broadcast_traced(tensor, src):
    """A buffer takes rank src's value, as a `broadcast` node written into it."""
    with grad_mode.no_grad():
        inplace.commit(tensor, collective.broadcast(tensor, src), "broadcast")


class SyncGate:
    """DDP's `require_backward_grad_sync`, read when a compiled step runs."""

    def __init__(self, ddp):
        self._ddp = weakref.ref(ddp)

    def open(self):
        ddp = self._ddp()
        return ddp is None or ddp.require_backward_grad_sync

    def bucket_bytes(self, default):
        """The DDP's bucket_cap_mb in bytes (passes/buckets.py), or default once it is gone."""
        ddp = self._ddp()
        return default if ddp is None else ddp.bucket_bytes

    def __repr__(self):
        return "ddp.require_backward_grad_sync"


class _Sync:
    """What _AverageGrad's backward needs: the parameter object itself (kept in a plain
    object so the Function machinery does not turn it into a graph operand) and the gate."""

    def __init__(self, param, gate):
        self.param, self.gate = param, gate


class _AverageGrad(Function):
    @staticmethod
    def forward(ctx, x, sync):
        ctx.sync = sync
        return x

    @staticmethod
    def backward(ctx, g):
        p = ctx.sync.param
        if _traced_in_place(p):     # a whole step: average what .grad becomes
            if p.grad is not None:
                g = g + p.grad
            p.grad = None           # the trace's backward stores our result as .grad
        return collective.all_reduce(g, "avg", ctx.sync.gate), None


def _traced_in_place(p):
    """Is p's gradient being derived inside the trace that records this thread (a loss.
    backward() in compiled code), where p is one of the trace's holders?"""
    trace = context.current()
    holders = getattr(trace, "holders", None)
    return bool(holders) and any(h is p for h in holders.values())


@contextmanager
def averaged_parameters(ddp, module, enabled):
    """While tracing DDP's forward: module's parameters read through _AverageGrad."""
    default_group()
    if not enabled:
        yield
        return
    gate = SyncGate(ddp)
    swapped = []
    try:
        for p in module.parameters():
            if p._requires_grad:
                s = _AverageGrad.apply(p, _Sync(p, gate))
                swapped.append((p, p._data))
                p._data = s._data
        yield
    finally:
        for p, data in swapped:
            p._data = data
