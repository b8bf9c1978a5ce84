"""More activations for tracecomp.nn.functional: hardsigmoid, hardswish, celu, glu, softmin,
softshrink, hardshrink, tanhshrink, threshold, prelu, rrelu, gumbel_softmax, and torch's
in-place spellings (relu_, elu_, ...).

Each composes public ops; piecewise functions are nested `where`s whose branch choice at
the kinks matches torch's backward (e.g. softshrink passes no gradient at +-lambd,
hardswish gives 0 at -3 and 1 at 3).
"""
import warnings

from .. import composite as C
from ..amp.cpu_policy import LOWER, autocast_op
from ..creation import empty, zeros_like
from ..errors import ShapeError
from ..grad_fn_names import named
from ..grad_mode import no_grad
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..user_code import user_stacklevel
from . import functional as F  # the base activations (F re-exports this file)


def _apply(input, inplace, fn, name):
    """F._apply: fn(input), in place if asked, bfloat16 in float32 (read at call time: F
    imports this file at its end)."""
    return F._apply(input, inplace, fn, name)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, gradient 1/6 strictly inside."""
    def fn(x):
        return ew.where(x <= -3.0, 0.0, ew.where(x >= 3.0, 1.0, x * (1.0 / 6.0) + 0.5))
    return _apply(input, inplace, fn, "hardsigmoid")


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    def fn(x):
        # x * 0.0, not 0.0: hardswish(-inf) is NaN in torch (and -0.0 below -3, as torch);
        # of x detached: the gradient there is 0 even for a NaN incoming one (torch masks)
        flat = x.detach() * 0.0
        return ew.where(x <= -3.0, flat, ew.where(x < 3.0, x * (x + 3.0) * (1.0 / 6.0), x))
    return _apply(input, inplace, fn, "hardswish")


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ZeroDivisionError("ZeroDivisionError (celu got alpha=0)")

    def fn(x):
        out = ew.where(x > 0, x, ew.expm1(ew.where(x > 0, 0.0, x) * (1.0 / alpha)) * alpha)
        return named(out, F._version("Celu", inplace), (x,))
    return _apply(input, inplace, fn, "celu")


def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of input along dim."""
    if input.ndim == 0:
        raise ShapeError("glu does not support scalars because halving size must be even")
    d = dim % input.ndim
    if input.shape[d] % 2:
        raise ShapeError(f"Halving dimension must be even, but dimension {d} is size "
                         f"{input.shape[d]}")
    a, b = C.chunk(input, 2, d)
    return a * ew.sigmoid(b)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return F.softmax(-input, F._softmax_dim("softmin", input.ndim, dim), dtype=dtype)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be in range [0, 3.40282e+38] for input dtype Float, "
                           f"but found {lambd:g}")
    # input * 0.0 in the band, not 0.0: NaN stays NaN, as in torch; of input detached, so
    # the band's gradient is 0 even for a NaN incoming one (torch masks it)
    return ew.where(input > lambd, input - lambd,
                    ew.where(input < -lambd, input + lambd, input.detach() * 0.0))


def hardshrink(input, lambd=0.5):
    """0 on [-lambd, lambd], x elsewhere."""
    return ew.where(ew.logical_and(input >= -lambd, input <= lambd), 0.0, input)


def tanhshrink(input):
    return input - ew.tanh(input)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value."""
    # x <= threshold picks value, so NaN (never <=) stays NaN, as in torch
    return _apply(input, inplace, lambda x: ew.where(x <= threshold, value, x), "threshold")


@autocast_op(LOWER)
def prelu(input, weight):
    """max(0, x) + weight * min(0, x), one weight per channel (dim 1) or one shared."""
    n = weight.numel()
    channels = input.shape[1] if input.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise ShapeError(f"Mismatch of parameter numbers and input channel size. Found "
                         f"parameter numbers = {n} and channel size = {channels}.")
    shape = (1, n) + (1,) * (input.ndim - 2) if input.ndim >= 2 else ()
    w = mv.reshape(weight, shape)
    return ew.where(input > 0, input, input * w)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element in
    training, and is (lower + upper) / 2 otherwise."""
    if not training:
        return F.leaky_relu(input, (lower + upper) / 2, inplace)
    with no_grad():
        slope = empty(tuple(input.shape), dtype=input.dtype,
                      device=input.device).uniform_(lower, upper)
    return _apply(input, inplace, lambda x: ew.where(x > 0, x, x * slope), "rrelu")


def gumbel_noise(logits):
    """Gumbel(0, 1) noise in logits' shape and dtype, drawn as torch draws it: -log of an
    Exp(1) sample (exponential_ on an empty tensor), so from the default generator,
    reproducible by tracecomp.manual_seed, and drawn afresh by every call of compiled code."""
    with no_grad():
        draw = empty(tuple(logits.shape), dtype=logits.dtype,
                     device=logits.device).exponential_()
    return -ew.log(draw)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) for Gumbel noise g; hard=True gives the one-hot vector
    of its argmax with the soft sample's gradient (straight through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.",
                      stacklevel=user_stacklevel())
    y_soft = F.softmax((logits + gumbel_noise(logits)) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


# --- torch's in-place spellings ------------------------------------------------------------
def relu_(input):
    return F.relu(input, inplace=True)


def elu_(input, alpha=1.0):
    return F.elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    return F.leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return F.hardtanh(input, min_val, max_val, inplace=True)


def selu_(input):
    return F.selu(input, inplace=True)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def threshold_(input, threshold_value, value):
    return threshold(input, threshold_value, value, inplace=True)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)
