"""torch.autograd.forward_ad: dual tensors (a primal and a tangent) for forward-mode AD.

    with forward_ad.dual_level():
        x = forward_ad.make_dual(primal, tangent)
        y = f(x)
        jvp = forward_ad.unpack_dual(y).tangent        # J(f) at primal, times tangent

tracecomp has one forward-mode engine, the double-VJP trick that torch.func.jvp uses here
(autograd/functional.py's double_backward): the ops on a dual tensor are recorded on the
ordinary eager tape, and unpack_dual(y) computes y's tangent then, as J t = d(u^T J)/du
along t, summed over the level's dual tensors that y depends on. So no op needs a forward
rule: every primitive's VJP rule serves (they are written with public ops, hence
differentiable twice). Each unpack costs about two backwards through the recorded ops.

What a dual tensor is here: `make_dual(p, t)` returns a tensor sharing p's memory (torch's
is a view of p) that is a source of its level, its tangent kept beside it. When p requires
grad, the dual is a view of p on the tape, so reverse mode through it reaches p as in
torch (through _Cut, whose own node is where tangents start). When p does not, the dual
is a leaf that requires grad (the tape must record the ops on it; torch's dual says
requires_grad=False): exiting the level turns that off again.
A tensor made from no dual tensor of the level has no tangent (None), as in torch; detach()
drops it too. unpack_dual(y).primal is y through `_Cut`, an identity that passes reverse-mode
gradients and stops tangents, so the primal has y's history and no tangent, as torch's.

Custom Functions with a `jvp` staticmethod: their output's tangent is jvp(ctx, *input
tangents), the output (through `_Cut`) becoming a source of the level (function.py calls
`through_function`).

One level at a time, as torch ("Nested forward mode AD is not supported at the moment").
Because tangents ride on the tape, the ops between make_dual and unpack_dual must run with
grad mode on: make_dual and unpack_dual under no_grad raise (torch computes tangents there);
an op run under no_grad in between gives its result no tangent.
"""
from collections import namedtuple

from .. import grad_mode, tensor_str
from ..creation import zeros_like
from ..tensor import Tensor
from .function import Function
from .functional import _autograd_grad as grad_or_none
from .functional import double_backward

__all__ = ["UnpackedDualTensor", "enter_dual_level", "exit_dual_level", "make_dual",
           "unpack_dual", "dual_level"]


class UnpackedDualTensor(namedtuple("UnpackedDualTensor", ["primal", "tangent"])):
    """What unpack_dual returns: (primal, tangent), tangent None for a tensor without one."""

    __slots__ = ()


class _Level:
    """One dual level: its dual tensors and their tangents."""

    def __init__(self):
        self.duals = []         # the level's sources, in the order made
        self.tangents = {}      # id(dual) -> its tangent
        self.made_leaves = []   # duals made as leaves that require grad (for the tape only)


NOT_COMPILED = ("compiled code does not run under forward_ad.dual_level: dual tensors get "
                "their tangents from the eager tape (a double backward, which compiled calls "
                "do not support); call the function uncompiled there")

LEVELS = []     # the open level (torch allows one); read by every compiled call
_PUSHING = [False]  # a tangent is being computed: _Cut stops gradients


class _Cut(Function):
    """x's values, its reverse-mode gradients passed back, its tangent not: while a tangent
    is computed (_push_forward) its backward gives nothing."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return None if _PUSHING[0] else grad


def enter_dual_level():
    """Open a dual level; returns its index (0)."""
    if LEVELS:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    LEVELS.append(_Level())
    return 0


def exit_dual_level(*, level=None):
    """Close the dual level: its tensors lose their tangents."""
    if not LEVELS or level not in (None, 0):
        raise RuntimeError("Dual level must be a positive number." if not LEVELS else
                           "Trying to exit a forward AD level that was not the last one "
                           "that was created. This is not supported.")
    closed = LEVELS.pop()
    for leaf in closed.made_leaves:
        leaf._requires_grad = False


class dual_level:  # noqa: N801  (torch's name)
    """Context manager of a dual level: `with dual_level(): ...`; returns its index."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


NO_GRAD = ("{op}: forward-mode AD under no_grad is not supported by tracecomp: tangents are "
           "computed from the autograd tape, which no_grad does not record; run the dual "
           "tensors' ops with grad mode enabled")


def _current(level, op):
    if level not in (None, 0) or (level == 0 and not LEVELS):
        raise RuntimeError(f"Invalid level given to {op}")
    if LEVELS and not grad_mode.state.enabled:
        raise NotImplementedError(NO_GRAD.format(op=op.strip("_")))
    return LEVELS[-1] if LEVELS else None


def active() -> bool:
    """Whether a dual level is open (Function.apply asks, for custom jvp rules)."""
    return bool(LEVELS)


def _floating(t, what):
    if not (t.is_floating_point() or t.is_complex()):
        raise ValueError(f"Expected {what} to be floating point or complex, but got: "
                         f"{t.dtype}")


def make_dual(tensor, tangent, *, level=None):
    """A dual tensor: `tensor`'s values (sharing its memory) with `tangent` as its
    forward-mode gradient, in the open dual level."""
    if not LEVELS and level is None:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level "
                           "exists, make sure to enter_dual_level() first.")
    current = _current(level, "_make_dual")
    _floating(tensor, "primal")
    _floating(tangent, "tangent")
    if tuple(tensor.shape) != tuple(tangent.shape):
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than "
                           f"that of the original Tensor, this is not supported. Tensor is of "
                           f"size {list(tensor.shape)} while the given forward gradient is of "
                           f"size {list(tangent.shape)}.")
    if tangent._data.strides != tensor._data.strides:
        tangent = tangent.clone(memory_format=_like(tensor))    # laid out as the primal
    if tensor.requires_grad:
        dual = _Cut.apply(tensor)   # its own node: the tangent's source, p's history behind
    else:
        dual = Tensor._make(tensor._data, True, None, tensor._vc)
        current.made_leaves.append(dual)
    current.duals.append(dual)
    current.tangents[id(dual)] = tangent
    return dual


def _like(tensor):
    from ..memory_format import contiguous_format, preserve_format
    return contiguous_format if tensor.is_contiguous() else preserve_format


def unpack_dual(tensor, *, level=None):
    """(primal, tangent) of `tensor` in the open dual level; tangent None for a tensor that
    no dual tensor of the level went into."""
    current = _current(level, "_unpack_dual")
    if current is None or not isinstance(tensor, Tensor):
        return UnpackedDualTensor(tensor, None)
    primal = _Cut.apply(tensor) if tensor.requires_grad else tensor
    return UnpackedDualTensor(primal, _tangent(tensor, current))


def _tangent(tensor, current):
    """tensor's tangent: its own for a dual, else pushed forward from the duals."""
    if id(tensor) in current.tangents:
        return current.tangents[id(tensor)]
    return _push_forward(tensor, current)


def _push_forward(tensor, current):
    """tensor's tangent: sum over the level's duals d it depends on of J_d tangent(d)."""
    if not tensor.requires_grad or not current.duals:
        return None
    with grad_mode.enable_grad():
        _PUSHING[0] = True
        try:
            (u,), vjps = double_backward([tensor], current.duals)
        finally:
            _PUSHING[0] = False
        used = [(g, current.tangents[id(d)]) for g, d in zip(vjps, current.duals)
                if g is not None]
        if not used:
            return None
        # the tangent has history where it depends on something that requires grad for
        # reverse mode: a tangent that does, or a dual made of a primal that does
        create = any(t.requires_grad for _, t in used) or \
            len(current.made_leaves) < len(current.duals)
        (tangent,) = grad_or_none([g for g, _ in used], (u,), [t for _, t in used],
                                  retain_graph=True, create_graph=create)
    return zeros_like(tensor) if tangent is None else tangent


_PRINTING = [False]     # a tensor's repr computes its tangent: the tangent's own repr won't


def for_repr(t):
    """(whether t's requires_grad is the user's, the text of t's tangent or None) for
    printing: torch shows `tangent=...` after a dual tensor's values, and a dual made of a
    primal without grad does not require grad there."""
    if not LEVELS or _PRINTING[0] or not grad_mode.state.enabled:
        return True, None
    current = LEVELS[-1]
    _PRINTING[0] = True
    try:
        tangent = _tangent(t, current)
        text = None if tangent is None else repr(tangent)
    finally:
        _PRINTING[0] = False
    return _reverse_history(t, current.made_leaves), text


tensor_str.DUAL_REPR.append(for_repr)


def _reverse_history(t, made_leaves):
    """Whether t requires grad for the user's sake: some leaf behind it requires grad and
    is not a dual made a leaf only for the tape (torch's t would not require grad)."""
    if not t.requires_grad:
        return False
    stack, seen = [t], set()
    while stack:
        x = stack.pop()
        if x._node is None:
            if x._requires_grad and not any(x is leaf for leaf in made_leaves):
                return True
            continue
        if id(x._node) in seen:
            continue
        seen.add(id(x._node))
        stack.extend(a for a in x._node.args or () if isinstance(a, Tensor) and
                     a._requires_grad)
    return False


def through_function(cls, ctx, args, outputs):
    """A custom Function's outputs as duals of the open level, their tangents from the
    Function's jvp(ctx, *input tangents) (zeros for inputs without one), when any input
    has a tangent (Function.jvp, not overridden, raises torch's error). The outputs then
    stand on their own as sources: their tangents come from jvp, not from the ops (or the
    backward) behind them."""
    current = LEVELS[-1]
    if cls is _Cut:
        return outputs
    found = [_tangent(a, current) if isinstance(a, Tensor) else None for a in args]
    if all(t is None for t in found):
        return outputs
    tangents = [zeros_like(a) if t is None and isinstance(a, Tensor) else t
                for a, t in zip(args, found)]
    held, ctx._saved = ctx._saved, tuple(ctx.to_save_forward)    # jvp's saved_tensors
    try:
        with grad_mode.no_grad():
            made = cls.jvp(ctx, *tangents)
    finally:
        ctx._saved = held
    made = made if isinstance(made, tuple) else (made,)
    results = []
    for y, t in zip(outputs, made):
        if isinstance(y, Tensor) and t is not None and (y.is_floating_point() or
                                                        y.is_complex()):
            if y.requires_grad:
                y = _Cut.apply(y)
            else:
                y = Tensor._make(y._data, True, None, y._vc)
                current.made_leaves.append(y)
            current.duals.append(y)
            current.tangents[id(y)] = t
        results.append(y)
    return tuple(results) + tuple(outputs[len(results):])
