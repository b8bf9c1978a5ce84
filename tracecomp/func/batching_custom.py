"""The batching rule of `custom_vjp`, the marker a custom autograd.Function's outputs pass
through (autograd/custom_vjp.py): torch's generate_vmap_rule, for the VJP too.

Inside vmap the Function's forward runs on the batch (its ops are batched), and its
outputs reach the marker batched. Where the tape differentiates (eager vmap; grad inside a
traced vmap) the node it records is the logical one, whose VJP is the user's backward run
on batched tensors. The marker the rule leaves on the physical tensors matters where the
graph autodiff differentiates a compiled vmap's results: its VJP gets the physical
cotangent of the whole batch, so its call (`BatchedCall`) runs the user's backward under a
vmap of its own over that batch, and hands each operand the gradient of its physical
tensor (an operand the same for every sample gets the sum over the samples).
"""
from ..dispatch import bind
from . import batching
from . import batching_value as bv
from .batching_rules import BY_NAME, batch_size, batched_front


class BatchedCall:
    """A Function call's stand-in on the marker of its physical outputs (module docstring):
    the call's outputs and their cotangents have the batch at dim 0, its other operands
    where `bdims` says (None: not batched)."""

    def __init__(self, call, batch, bdims):
        self.call, self.batch, self.bdims = call, batch, bdims
        self.n_outputs = call.n_outputs

    def name(self):
        return self.call.name()

    def __repr__(self):
        return f"<vmapped {self.call!r}>"

    def vjp(self, grads, outs, operands):
        level = batching.enter(self.batch, "error")
        try:
            def sample(t, bdim):
                return t if t is None or bdim is None else bv.wrap(t, bdim, level.level)
            got = self.call.vjp([sample(g, 0) for g in grads], [sample(o, 0) for o in outs],
                                [sample(o, d) for o, d in zip(operands, (0,) + self.bdims)])
            return [None if g is None else self._physical(g, d, level.level)
                    for g, d in zip(got, (0,) + self.bdims)]
        finally:
            batching.leave(level, self.name())

    def _physical(self, g, bdim, level):
        """A per-sample gradient as its operand's physical tensor's."""
        whole = bv.unwrap(g, level, 0 if bdim is None else bdim, self.batch)
        return whole.sum(0) if bdim is None else whole


def custom_vjp(prim, values, bdims, call, index):
    """The marker on the physical outputs, the first at dim 0; one BatchedCall per call,
    shared by its outputs' markers (the autodiff drivers group them by it)."""
    batch = batch_size(values, bdims)
    batched = getattr(call, "batched_call", None)
    if batched is None:
        batched = call.batched_call = BatchedCall(call, batch, tuple(bdims[1:]))
    y = batched_front(values[0], bdims[0], batch)
    return bind(prim, y, *values[1:], call=batched, index=index), 0


BY_NAME["custom_vjp"] = custom_vjp
