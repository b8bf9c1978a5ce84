"""A node's saved tensors by torch's names: `y.grad_fn._saved_self`, `._saved_other`,
`._saved_result`, `._saved_exponent`, `._saved_mat2` (what torch's generated nodes expose).

As torch's: an input saved is that tensor itself (`y.grad_fn._saved_self is a`); a saved
output is a new tensor of the output's values (`_saved_result is y` is False); under
saved_tensors_hooks each read runs unpack_hook again; a field the op did not save (mul's
`_saved_self` when only `self` requires grad) is None; after backward freed the node,
reading one raises torch's error. A saved number (pow's exponent) is the number.

Names are known for elementwise unary ops (self, result), binary ones (self, other, result)
and the overrides below; other nodes have no `_saved_*` attributes here (AttributeError).
"""
from . import saved_hooks
from .errors import FREED, AutogradError
from .tensor import Tensor

# torch's field -> our operand position ("out": the output), where the generic names differ
OVERRIDES = {
    "PowBackward0": {"self": 0, "exponent": 1},
    "PowBackward1": {"self": 0, "exponent": 1, "result": "out"},
    "MmBackward0": {"self": 0, "mat2": 1},
    "MvBackward0": {"self": 0, "vec": 1},
}
_UNARY = {"self": 0, "result": "out"}
_BINARY = {"self": 0, "other": 1, "result": "out"}


def _fields(node):
    table = OVERRIDES.get(type(node).__name__)
    if table is not None:
        return table
    tags = node.prim.tags
    if "elementwise" not in tags:
        return None
    table = _BINARY if "binary" in tags else _UNARY if "unary" in tags else None
    if table is None:
        return None
    # only what the primitive declares it saves (exp: its result; sin: its input)
    declared = set(saved_hooks.declared(node.prim.saves, 2))
    return {name: k for name, k in table.items() if k in declared}


def saved_field(node, attr):
    """node's `_saved_<name>` (attr), or AttributeError when torch's node has none."""
    table = _fields(node) if attr.startswith("_saved_") else None
    k = None if table is None else table.get(attr[len("_saved_"):])
    if k is None:
        raise AttributeError(f"'{type(node).__name__}' object has no attribute '{attr}'")
    if node.args is None:
        raise AutogradError(FREED)
    if k != "out" and not isinstance(node.args[k], Tensor):
        return node.args[k]             # a number the op was given (pow's exponent)
    if not node.prim.reads(k, node):
        return None
    if node.saved is not None and k in node.saved[1]:
        return saved_hooks.unpack_one(node, k)
    return node.out() if k == "out" else node.args[k]
