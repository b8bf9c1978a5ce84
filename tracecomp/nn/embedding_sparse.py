"""sparse=True of embedding and embedding_bag: the weight's gradient is a sparse COO tensor,
as torch makes it. Its indices are the looked-up indices that take part (not padding_idx,
nor an index past the last bag with include_last_offset), in input order and uncoalesced,
and its values are the gradients of those rows; a second backward appends to it
(autograd/engine.py keeps sparse + sparse sparse). Optimizers that read the layout (SGD,
Adagrad, SparseAdam, DLRM's row-wise sparse Adagrad through grad.is_sparse) then take the
path torch takes.

Compiled code returns dense gradients only, so a lookup that needs a sparse gradient is a
graph break there (its module runs eagerly, the rest stays compiled); without grad
(inference, no_grad) and in an exported graph, which has no backward, it is the plain
lookup.
"""
from .. import context, grad_mode
from ..autograd.function import Function
from ..errors import TraceError
from ..sparse.creation import sparse_coo_tensor


class _SparseRows(Function):
    """weight[flat], whose gradient to weight is sparse: one entry per kept position."""

    @staticmethod
    def forward(ctx, weight, flat, keep, by_freq):
        ctx.save_for_backward(flat if keep is None else flat[keep], keep)
        ctx.size, ctx.by_freq = tuple(weight.shape), by_freq
        return weight[flat]

    @staticmethod
    def backward(ctx, grad):
        if ctx.by_freq:     # torch refuses it here too, at backward
            raise RuntimeError("embedding_backward: scale_grad_by_freq not supported with "
                               "sparse gradients")
        at, keep = ctx.saved_tensors
        values = grad if keep is None else grad[keep]
        return sparse_coo_tensor(at.unsqueeze(0), values, ctx.size), None, None, None


def sparse_rows(weight, flat, keep, op, by_freq):
    """weight[flat] (flat: 1-D indices); keep: a bool mask of the positions whose rows the
    sparse gradient lists, or None for all; by_freq: scale_grad_by_freq, which torch's sparse
    backward refuses."""
    if not (grad_mode.state.enabled and weight.requires_grad):
        return weight[flat]
    trace = context.current()
    if trace is not None and not trace.differentiated:     # torch.export: the lookup alone
        return weight[flat]
    if trace is not None:
        raise TraceError(f"{op}(sparse=True): the weight's gradient is a sparse tensor, which "
                         f"compiled code does not return; this call runs eagerly (sparse=False "
                         f"gives the same values as a dense gradient, and compiles)")
    return _SparseRows.apply(weight, flat, keep, by_freq)
