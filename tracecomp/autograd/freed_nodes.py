"""Freeing a tape node after backward (torch frees saved tensors, keeps the graph's edges),
and the nodes that may run again after it: those whose VJP reads no values.
"""
import numpy as np

from ..errors import FREED, AutogradError
from ..grad_fn_names import freeze
from ..tensor import Tensor


def free(node):
    """Drop what node saved for its backward; keep its edges (grad_fn_names.freeze), so
    a graph kept after backward (a loss held in a list) holds nodes, not values. A node
    whose VJP reads no values (its primitive saves nothing: a cast, a cat, a reshape) can
    run again, as torch's (ToCopyBackward0 saves no tensor): it keeps its operands' shapes
    (node.again, thaw), so a second backward through `x = leaf.float()` made once before
    a training loop (the PINN notebooks) reaches the leaf instead of failing."""
    if node.again is None:
        freeze(node)
        if node.prim.saves == () and node.saved is None and "grouped" not in node.prim.tags:
            node.again = (tuple(_shape_of(a) for a in node.args),
                          _shape_of(Tensor._make(node.out_data))._data, node.edges)
    node.args = node.out_data = node.edges = node.saved = None


def _shape_of(a):
    """A stand-in for operand a that holds its shape, dtype and autograd role, not its
    values (a zero broadcast to its shape); a leaf is kept itself, for its gradient."""
    if not isinstance(a, Tensor) or type(a._data) is not np.ndarray or (
            a._requires_grad and a._node is None):
        return a
    data = np.broadcast_to(np.zeros((), a._data.dtype), a._data.shape)
    return Tensor._make(data, a._requires_grad, a._node)


def thaw(node):
    """A freed node that can run again (free) takes its stand-in operands back."""
    if node.again is None:
        raise AutogradError(FREED)
    node.args, node.out_data, node.edges = node.again
    node.versions = [None] * len(node.args)
