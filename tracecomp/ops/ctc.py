"""ctc_loss: the connectionist temporal classification loss of every sequence of a batch
(Graves et al. 2006) as one primitive, and ctc_loss_backward, its VJP.

Operands: log_probs (T, N, C) floats, targets (N, S) padded or the N label sequences
concatenated (1-D), input_lengths (N,) and target_lengths (N,) int64. The result is the
negative log likelihood of each sequence (N,), in log_probs' dtype (0 where it is infinite,
with zero_infinity: no alignment fits the input). F.ctc_loss (nn/functional_ctc.py) reduces
it.

The alpha (forward) and beta (backward) recursions run in numpy float64 over the extended
labels l' = (blank, l1, blank, l2, ..., blank), L = 2 S + 1 states: vectorised over the batch
and the states, a Python loop over time. A state past a sequence's 2 * target_length + 1,
or a step past its input_length, never feeds what is read (alpha only flows to higher
states, beta is -inf there).

The gradient is torch's (LossCTC.cpp), exp(lp) - exp(log sum_{s: l'_s = c} alpha beta + nll
- lp), times the loss's cotangent, for t < input_length (0 after): the gradient w.r.t. the
logits of a log_softmax (the exp(lp) term sums to 1 over the classes, which log_softmax's
VJP takes out again), not the bare derivative w.r.t. log_probs. With zero_infinity a
sequence with an infinite loss gets zeros; without it, NaNs, as torch's. Like torch's
_ctc_loss_backward, ctc_loss_backward has no derivative: a gradient taken with
create_graph=True raises torch's error when it is differentiated.
"""
import math

import numpy as np

from .. import grad_mode
from ..dispatch import bind
from ..errors import IndexBoundsError, ShapeError, fmt_shape
from .registry import defprim
from .rules import same_dtype
from .sort import no_derivative

_CHECKED = "(while checking arguments for ctc_loss_allocate_outputs)"
_NEG_INF = -np.inf


def _shape_rule(lp, targets, input_lengths, target_lengths, blank, zero_infinity):
    """torch's static checks of its arguments, in its order and words."""
    if any(d == 0 for d in lp):
        raise ShapeError("log_probs tensor must not be empty")
    if len(lp) != 3:
        raise ShapeError(f"Expected 3-dimensional tensor, but got {len(lp)}-dimensional "
                         f"tensor for argument #1 'log_probs' {_CHECKED}")
    if not 1 <= len(targets) <= 2:
        raise ShapeError(f"Expected 1 to 2 dimensions, but got {len(targets)}-dimensional "
                         f"tensor for argument #2 'targets' {_CHECKED}")
    n, c = lp[1], lp[2]
    if not 0 <= blank < c:
        raise ShapeError("blank must be in label range")
    for name, shape in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if math.prod(shape) != n:
            raise ShapeError(f"{name} must be of size batch_size")
    if len(targets) == 2 and targets[0] != n:
        raise ShapeError(f"Expected tensor to have size {n} at dimension 0, but got size "
                         f"{targets[0]} for argument #2 'targets' {_CHECKED}")
    return (n,)


def _check_lengths(lp, targets, input_lengths, target_lengths):
    """torch's checks of the lengths' values (eagerly, or when compiled code runs)."""
    if np.any(target_lengths < 0):
        raise ShapeError(f"Expected target_lengths to have value at least 0, but got value "
                         f"{target_lengths.min()} {_CHECKED}")
    if targets.ndim == 1 and targets.shape[0] != target_lengths.sum():
        raise ShapeError(f"Expected tensor to have size {target_lengths.sum()} at dimension 0, "
                         f"but got size {targets.shape[0]} for argument #2 'targets' {_CHECKED}")
    if targets.ndim == 2 and target_lengths.size and targets.shape[1] < target_lengths.max():
        raise ShapeError(f"Expected tensor to have size at least {target_lengths.max()} at "
                         f"dimension 1, but got size {targets.shape[1]} for argument #2 "
                         f"'targets' {_CHECKED}")
    for bad, want, what in ((input_lengths < 0, 0, "least"),
                            (input_lengths > lp.shape[0], lp.shape[0], "most")):
        if np.any(bad):
            raise ShapeError(f"Expected input_lengths to have value at {what} {want}, but got "
                             f"value {input_lengths[bad][0]} {_CHECKED}")


def _extended_labels(lp, targets, target_lengths, blank):
    """(N, L) extended labels l', the (N, L) mask of each sequence's own states and the
    (N, L) mask of the states alpha may reach from two states below (a label unlike the one
    before it; torch compares l'_s with l'_{s-2}, so a blank never skips)."""
    n, c = lp.shape[1:]
    width = int(target_lengths.max()) if target_lengths.size else 0
    rows = np.arange(width)
    if targets.ndim == 1:       # concatenated: sequence b starts after the ones before it
        starts = np.concatenate(([0], np.cumsum(target_lengths)[:-1]))
        # (a sequence's rows past its own length read its neighbour's, or the last label)
        labels = targets[np.minimum(starts[:, None] + rows, targets.shape[0] - 1)]
    else:
        labels = targets[:, :width]
    own = rows < target_lengths[:, None]
    bad = own & ((labels < 0) | (labels >= c))
    if np.any(bad):
        raise IndexBoundsError(f"ctc_loss: targets hold the label {labels[bad][0]}, outside "
                               f"the {c} classes of log_probs {fmt_shape(lp.shape)}")
    ext = np.full((n, 2 * width + 1), blank, np.int64)
    ext[:, 1::2] = np.where(own, labels, blank)
    states = np.arange(2 * width + 1) < 2 * target_lengths[:, None] + 1
    skip = np.zeros(ext.shape, bool)
    skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
    return ext, states, skip


def _logsumexp3(a, b, c):
    """log(e^a + e^b + e^c) elementwise, -inf where all three are (no -inf - -inf)."""
    m = np.maximum(np.maximum(a, b), c)
    safe = np.where(np.isneginf(m), 0.0, m)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - safe) + np.exp(b - safe) + np.exp(c - safe)) + safe


def _shifted(v, k):
    """v (N, L) moved k states up (down, for a negative k): out[:, s] = v[:, s - k], -inf
    where s - k is no state."""
    out = np.full_like(v, _NEG_INF)
    if abs(k) < v.shape[1]:
        if k > 0:
            out[:, k:] = v[:, :-k]
        else:
            out[:, :k] = v[:, -k:]
    return out


def _alpha(emit, skip):
    """log alpha (T, N, L) from the emission log-probabilities emit (T, N, L) of l'."""
    alpha = np.full(emit.shape, _NEG_INF)
    alpha[0, :, :2] = emit[0, :, :2]
    for t in range(1, emit.shape[0]):
        prev = alpha[t - 1]
        two = np.where(skip, _shifted(prev, 2), _NEG_INF)
        alpha[t] = _logsumexp3(prev, _shifted(prev, 1), two) + emit[t]
    return alpha


def _beta(emit, skip, states, input_lengths, target_lengths):
    """log beta (T, N, L): each sequence starts at its last step from its last two states."""
    steps, n, width = emit.shape
    beta = np.full(emit.shape, _NEG_INF)
    rows = np.arange(n)
    last = 2 * target_lengths
    start = np.full((n, width), _NEG_INF)
    start[rows, last] = 0.0
    start[rows[last > 0], last[last > 0] - 1] = 0.0
    skip_down = np.zeros_like(skip)       # beta at s reads s + 2 where alpha at s + 2 reads s
    skip_down[:, :-2] = skip[:, 2:]
    for t in range(steps - 1, -1, -1):
        if t + 1 < steps:
            nxt = beta[t + 1]
            two = np.where(skip_down, _shifted(nxt, -2), _NEG_INF)
            carried = _logsumexp3(nxt, _shifted(nxt, -1), two)
        else:
            carried = start
        here = np.where((t == input_lengths - 1)[:, None], start, carried)
        here = np.where((t < input_lengths)[:, None] & states, here + emit[t], _NEG_INF)
        beta[t] = here
    return beta


def _forward(lp, targets, input_lengths, target_lengths, blank):
    """(nll (N,), alpha, emit, ext, states, skip) in float64."""
    _check_lengths(lp, targets, input_lengths, target_lengths)
    ext, states, skip = _extended_labels(lp, targets, target_lengths, blank)
    lp64 = lp.astype(np.float64)
    emit = np.take_along_axis(lp64, np.broadcast_to(ext, (lp.shape[0],) + ext.shape), 2)
    alpha = _alpha(emit, skip)
    rows = np.arange(lp.shape[1])
    at = np.maximum(input_lengths - 1, 0)
    last = 2 * target_lengths
    end = alpha[at, rows, last]
    before = np.where(last > 0, alpha[at, rows, np.maximum(last - 1, 0)], _NEG_INF)
    with np.errstate(divide="ignore"):
        nll = -np.logaddexp(end, before)
    # no input: likely only for an empty target
    nll = np.where(input_lengths == 0, np.where(target_lengths == 0, -0.0, np.inf), nll)
    return nll, alpha, emit, ext, states, skip


def _as_ints(*arrays):
    """The lengths as flat int64 arrays (torch reads any shape with N elements)."""
    return [np.asarray(a).reshape(-1).astype(np.int64, copy=False) for a in arrays]


def _impl(lp, targets, input_lengths, target_lengths, blank, zero_infinity):
    # eager binds run no shape rule: its checks come first here, as torch's do
    _shape_rule(lp.shape, targets.shape, np.shape(input_lengths), np.shape(target_lengths),
                blank, zero_infinity)
    input_lengths, target_lengths = _as_ints(input_lengths, target_lengths)
    nll = _forward(lp, targets, input_lengths, target_lengths, blank)[0]
    if zero_infinity:
        nll = np.where(nll == np.inf, 0.0, nll)
    return nll.astype(lp.dtype)


def _vjp(g, out, lp, targets, input_lengths, target_lengths, blank, zero_infinity):
    grad = ctc_loss_backward(g, lp, targets, input_lengths, target_lengths, blank,
                             zero_infinity)
    if grad_mode.is_grad_enabled():     # create_graph: differentiating it again is an error
        grad = no_derivative(grad, lp, "aten::_ctc_loss_backward")
    return (grad, None, None, None)


ctc_loss_p = defprim("ctc_loss", _impl, _shape_rule, same_dtype, _vjp, ("scan",),
                     saves=(0, 1, 2, 3))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, zero_infinity=False):
    """The per-sequence loss (N,) of (T, N, C) log_probs (the module docstring)."""
    return bind(ctc_loss_p, log_probs, targets, input_lengths, target_lengths,
                blank=int(blank), zero_infinity=bool(zero_infinity))


# --- the gradient ---------------------------------------------------------------------------
def _backward_impl(g, lp, targets, input_lengths, target_lengths, blank, zero_infinity):
    input_lengths, target_lengths = _as_ints(input_lengths, target_lengths)
    nll, alpha, emit, ext, states, skip = _forward(lp, targets, input_lengths, target_lengths,
                                                   blank)
    beta = _beta(emit, skip, states, input_lengths, target_lengths)
    # log sum over the states of each class of alpha * beta / emit: beta includes the
    # emission at t as alpha does, so their product has it twice
    ab = np.where(states, alpha + beta, _NEG_INF)           # (T, N, L)
    # torch assigns its last step's two states to their classes without a log-add (a blank
    # and a label, it assumes): a last label equal to the blank keeps only the label's
    rows, last = np.arange(lp.shape[1]), 2 * target_lengths
    clash = (target_lengths > 0) & (input_lengths > 0) & \
        (ext[rows, np.maximum(last - 1, 0)] == blank)
    ab[np.maximum(input_lengths - 1, 0)[clash], rows[clash], last[clash]] = _NEG_INF
    top = ab.max(axis=2, keepdims=True)
    top = np.where(np.isneginf(top), 0.0, top)
    onehot = ext[:, :, None] == np.arange(lp.shape[2])        # (N, L, C)
    with np.errstate(divide="ignore"):
        collected = np.log(np.einsum("tns,nsc->tnc", np.exp(ab - top), onehot)) + top
    lp64 = lp.astype(np.float64)
    with np.errstate(invalid="ignore"):      # an infinite nll: NaN, as torch's
        grad = (np.exp(lp64) - np.exp(collected + nll[:, None] - lp64)) * g[:, None]
    live = np.arange(lp.shape[0])[:, None] < input_lengths          # (T, N)
    if zero_infinity:
        live = live & (nll != np.inf)
    return np.where(live[:, :, None], grad, 0.0).astype(lp.dtype)


def _backward_shape_rule(g, lp, targets, input_lengths, target_lengths, blank, zero_infinity):
    return tuple(lp)


# no VJP of its own, as torch's _ctc_loss_backward
ctc_loss_backward_p = defprim("ctc_loss_backward", _backward_impl, _backward_shape_rule,
                              lambda g, lp, *_, **__: np.dtype(lp.dtype), None, ("scan",))


def ctc_loss_backward(g, log_probs, targets, input_lengths, target_lengths, blank,
                      zero_infinity):
    """The gradient of ctc_loss w.r.t. log_probs, for its output's cotangent g (N,)."""
    return bind(ctc_loss_backward_p, g, log_probs, targets, input_lengths, target_lengths,
                blank=blank, zero_infinity=zero_infinity)
