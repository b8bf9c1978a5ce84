"""torch.norm_except_dim and torch._weight_norm: the norm that weight normalization divides
by, taken over every dimension but one, and w = g * v / ||v|| (nn.utils.weight_norm and
nn.utils.parametrizations.weight_norm compute their weight with it).

Composites of norm, view and transpose, as aten's own CPU code is (aten's fused kernel
for dim 0 and the last dim computes the same values), so their gradients are those of
the ops they are made of. dim=-1 means "no dimension kept" (the norm of the whole tensor),
as aten reads it, not the last dimension.
"""
from .ops.public import public


@public("torch")
def norm_except_dim(v, pow=2, dim=0):  # noqa: A002 - torch's parameter name
    """The `pow`-norm of v over every dimension but `dim`, shaped to broadcast against v
    (size 1 everywhere but dim); dim=-1: the norm of all of v, 0-dimensional."""
    if dim == -1:
        return v.norm(pow)
    if dim == 0:
        shape = (v.shape[0],) + (1,) * (v.ndim - 1)
        return v.contiguous().view(v.shape[0], -1).norm(pow, 1).view(shape)
    if dim == v.ndim - 1:
        shape = (1,) * (v.ndim - 1) + (v.shape[-1],)
        return v.contiguous().view(-1, v.shape[-1]).norm(pow, 0).view(shape)
    return norm_except_dim(v.transpose(0, dim), pow, 0).transpose(0, dim)


@public("torch")
def _weight_norm(v, g, dim=0):
    """v scaled to the norm g along dim: g * v / norm_except_dim(v, 2, dim)."""
    return v * (g / norm_except_dim(v, 2, dim))
