"""Freeing a tape node after backward (torch frees saved tensors, keeps the graph's edges),
and the nodes that may run again after it: those whose VJP reads no values and whose
operands are leaves (`x = leaf.float()` made once, before a training loop).
"""
import numpy as np

from ..errors import FREED, AutogradError
from ..grad_fn_names import freeze
from ..tensor import Tensor


def free(node):
    """Drop what node saved for its backward; keep its edges (grad_fn_names.freeze), so
    a graph kept after backward (a loss held in a list) holds nodes, not values. A node
    whose VJP reads no values (its primitive saves nothing: a cast, a cat, a reshape) and
    whose tensor operands are all leaves can run again, as torch's (ToCopyBackward0 saves
    no tensor): it keeps its operands (the leaves, which freeze holds anyway) and its
    output's shape (node.again, thaw), so a second backward through `x = leaf.float()`
    made once before a training loop (the PINN notebooks) reaches the leaf instead of
    failing. (A chain of such nodes, `leaf.float().reshape(...)`, is still refused: keeping
    every node's shapes cost every backward ~2 us a node.)"""
    if node.again is None:
        freeze(node)
        if not node.prim.saves and node.saved is None and _leaves_only(node.args) and \
                "grouped" not in node.prim.tags:
            out = node.out_data
            node.again = (node.args, out.shape, out.dtype, node.edges)
    node.args = node.out_data = node.edges = node.saved = None


def _leaves_only(args):
    for a in args:
        if type(a) is Tensor and (a._node is not None or type(a._data) is not np.ndarray):
            return False
    return True


def links(node):
    """node's (operands, edges), from what free kept where it was freed and can run again,
    so grad() sees that such a node still leads to its inputs (engine._reaching)."""
    if node.args is None and node.again is not None:
        return node.again[0], node.again[3]
    return node.args or (), node.edges or ()


def thaw(node):
    """A freed node that can run again (free) takes its operands back, and a stand-in of
    its output (zeros broadcast to its shape: the VJP reads no values)."""
    if node.again is None:
        raise AutogradError(FREED)
    node.args, shape, dtype, node.edges = node.again
    node.out_data = np.broadcast_to(np.zeros((), dtype), shape)
    node.versions = [None] * len(node.args)
