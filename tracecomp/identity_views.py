"""A view op that changes nothing still returns a new tensor, as torch's does.

The movement helpers (ops/movement.py: reshape, permute, expand, slice) return their input
itself when asked for what it already is, so that composites, VJP rules and traces record no
no-op nodes. torch's public view ops never do that: `x.view_as(x)`, `x.permute(0, 1)`,
`x[:]`, `x.split(len)[0]` are each a new tensor viewing x, with its own grad_fn (ViewBackward0,
PermuteBackward0, SliceBackward0, SplitBackward0), its own hooks, `.grad` and `retain_grad()`,
its own place in `autograd.grad(loss, v)` (v's path, not all of x's uses), and torch's
view-of-a-leaf error for an in-place update through it.

So only the functions users call (torch.X and Tensor.X, named in NODES and PIECES) are
wrapped: after the call, when the result `is` the input, it is swapped for a fresh alias: the
reshape primitive at the same shape, which shares x's memory and version counter and is
recorded as x's view on the tape, renamed to torch's node. The common call pays one Python
call more and an `is` test (about 0.1 us); internal code keeps calling the unwrapped
functions.

While tracing, the input itself stays the result: compiled code has no per-tensor grad_fn,
hooks or view errors to tell them apart, and traced values do not share memory, so an
in-place update through a fresh alias would be a graph break (as through any view) where an
update of x itself compiles. The trace and compiled graphs are as they were.

Not here, because torch returns the input itself too: flatten, contiguous, to / float /
type_as, atleast_Nd, x.mT of a 0-d tensor, nn.Identity, dropout(training=False).
"""
import functools

import numpy as np

from . import context, dispatch
from .grad_fn_names import grouped, renamed
from .ops import movement as mv
from .sparse_data import SparseData


def fresh_alias(x, name):
    """A new tensor viewing all of x (same memory, version counter and view link to x),
    its tape node named `name` as torch's. A sparse x stays as it is: sparse tensors have no
    strided views to make (torch refuses most of these ops on them); nor does a traced x
    (the module's docstring says why)."""
    if type(x._data) is SparseData or context.current() is not None:
        return x
    return renamed(dispatch.bind(mv.reshape_p, x, shape=tuple(x._data.shape)), x, name)


def _arg(position, keyword):
    """The call's argument at `position` (after self) or by `keyword`; None if absent."""
    def get(args, kwargs):
        return args[position] if len(args) > position else kwargs.get(keyword)
    return get


_squeeze_dim = _arg(0, "dim")
_split_size = _arg(0, "split_size_or_sections")


def _reshape(x, args, kwargs):
    # torch's reshape is view() of a contiguous x, _reshape_alias() of a strided one
    data = x._data
    return "ReshapeAliasBackward0" if type(data) is np.ndarray and \
        not data.flags.c_contiguous else "ViewBackward0"


def _squeeze(x, args, kwargs):
    dim = _squeeze_dim(args, kwargs)
    return "SqueezeBackward0" if dim is None else \
        "SqueezeBackward2" if isinstance(dim, (tuple, list)) else "SqueezeBackward1"


def _split(x, args, kwargs):
    return "SplitWithSizesBackward0" if isinstance(_split_size(args, kwargs), (tuple, list)) \
        else "SplitBackward0"


def _getitem(x, args, kwargs):
    # torch's x[slice] is always a slice op; a tuple of full slices / Ellipsis is alias()
    return "SliceBackward0" if type(args[0]) is slice else "AliasBackward0"


# public name -> torch's node for the identity call: a name, or a function of the input and
# the call's other arguments where torch's overload depends on them
NODES = {
    "view": "ViewBackward0", "view_as": "ViewBackward0", "reshape": _reshape,
    "reshape_as": _reshape, "unflatten": "ViewBackward0", "ravel": "ViewBackward0",
    "expand": "ExpandBackward0", "expand_as": "ExpandBackward0",
    "broadcast_to": "ExpandBackward0",
    "narrow": "SliceBackward0", "__getitem__": _getitem,
    "permute": "PermuteBackward0", "movedim": "PermuteBackward0",
    "moveaxis": "PermuteBackward0", "T": "PermuteBackward0",
    "squeeze": _squeeze,
    "transpose": "TransposeBackward0", "swapaxes": "TransposeBackward0",
    "swapdims": "TransposeBackward0", "t": "TBackward0",
}
# the same for the ops that return a tuple of pieces: one piece is all of x
_SPLIT_VIEWS = {"SplitBackward0", "SplitWithSizesBackward0"}
PIECES = {
    "split": _split, "chunk": "SplitBackward0",
    "split_with_sizes": "SplitWithSizesBackward0",
    "unsafe_split_with_sizes": "SplitWithSizesBackward0",
    "unsafe_split": "UnsafeSplitBackward0", "unsafe_chunk": "UnsafeSplitBackward0",
    "tensor_split": "SliceBackward0", "hsplit": "SliceBackward0",
    "vsplit": "SliceBackward0", "dsplit": "SliceBackward0",
}


def _node_name(name, x, args, kwargs):
    return name if type(name) is str else name(x, args, kwargs)


def _view_op(fn, name):
    @functools.wraps(fn)
    def public(x, *args, **kwargs):
        out = fn(x, *args, **kwargs)
        if out is x:
            return fresh_alias(x, _node_name(name, x, args, kwargs))
        return out
    return public


def _pieces_op(fn, name):
    @functools.wraps(fn)
    def public(x, *args, **kwargs):
        out = fn(x, *args, **kwargs)
        if len(out) == 1 and out[0] is x:
            node = _node_name(name, x, args, kwargs)
            # torch's one output of a split (not of an unsafe split): a view that an
            # in-place op with autograd may not change (grad_fn_names.grouped)
            return grouped((fresh_alias(x, node),), node, x, views=node in _SPLIT_VIEWS)
        return out
    return public


@functools.cache     # keyed by the function: torch.X and Tensor.X stay one function
def _wrapped(fn, name, pieces):
    return (_pieces_op if pieces else _view_op)(fn, name)


def einsum_op(einsum):
    """torch.einsum("ij->ij", x): one operand, returned as it is, is a PermuteBackward0
    view of it in torch."""
    @functools.wraps(einsum)
    def public(equation, *operands):
        out = einsum(equation, *operands)
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = operands[0]
        if len(operands) == 1 and out is operands[0]:
            return fresh_alias(out, "PermuteBackward0")
        return out
    return public


def wrap(table):
    """Wrap, in place, the entries of `table` (a module's globals, the Tensor method or
    property table) that NODES and PIECES name."""
    for name, node in [*NODES.items(), *PIECES.items()]:
        if name in table:
            table[name] = _wrapped(table[name], node, name in PIECES)

