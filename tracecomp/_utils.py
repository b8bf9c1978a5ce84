"""torch._utils' two names that programs import: _flatten_dense_tensors and
_unflatten_dense_tensors (guided-diffusion's fp16_util.py and the many UNets copied from
it keep fp32 master parameters as one flat tensor with them).

Both are differentiable as torch's are: the flat tensor is a concatenation, the pieces are
views of it, so a write through a piece writes the flat tensor."""
from .composite import cat


def _flatten_dense_tensors(tensors):
    """One 1-d tensor holding the tensors' elements one after another (a copy)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("_flatten_dense_tensors: expected at least one tensor, got none")
    if len(tensors) == 1:       # torch's shortcut: a view of the one tensor, not a copy
        return tensors[0].contiguous().view(-1)
    return cat([t.contiguous().view(-1) for t in tensors])


def _unflatten_dense_tensors(flat, tensors):
    """Views of the 1-d `flat` shaped like each of `tensors`, in order (a tuple)."""
    need = sum(t.numel() for t in tensors)
    if flat.dim() != 1 or flat.numel() != need:
        raise RuntimeError(f"_unflatten_dense_tensors: flat must be 1-d with {need} elements "
                         f"(the tensors' total), got shape {tuple(flat.shape)}")
    out, offset = [], 0
    for t in tensors:
        out.append(flat.narrow(0, offset, t.numel()).view_as(t))
        offset += t.numel()
    return tuple(out)
