"""torch.distributed.nn.functional.all_reduce: a reduction over every rank that autograd
differentiates through, as SyncBatchNorm's statistics need.

Unlike dist.all_reduce it returns a new tensor and leaves its argument alone. The gradient
of a sum over ranks, with every rank's loss depending on the result, is the sum over ranks
of the result's gradients: the backward all-reduces the incoming gradient (AVG averages
it), as torch's _AllReduce does. Only SUM and AVG have a gradient, as torch's.
"""
from ... import grad_mode
from ...autograd.function import Function
from .. import collectives
from ..reduce_op import ReduceOp, as_op

_DIFFERENTIABLE = (ReduceOp.SUM, ReduceOp.AVG)


class _AllReduce(Function):
    @staticmethod
    def forward(ctx, tensor, op, group):
        ctx.op, ctx.group = op, group
        out = tensor.clone()
        collectives.all_reduce(out, op=op, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.op not in _DIFFERENTIABLE:
            raise RuntimeError(f"all_reduce: the gradient of a {ctx.op} reduction over ranks "
                               f"is not defined; only SUM and AVG have one")
        return _AllReduce.apply(grad, ctx.op, ctx.group), None, None


def all_reduce(tensor, op=ReduceOp.SUM, group=None):
    """The reduction of `tensor` over every rank in `group`, as a new tensor."""
    op = as_op(op)
    if not (tensor.requires_grad and grad_mode.is_grad_enabled()):
        out = tensor.clone()
        collectives.all_reduce(out, op=op, group=group)
        return out
    return _AllReduce.apply(tensor, op, group)
