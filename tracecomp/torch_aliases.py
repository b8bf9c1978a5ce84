"""torch's top-level names that are other spellings or small compositions of ops tracecomp
already has: the comparison aliases (greater = gt), rsub, the split family (tensor_split,
hsplit, split_with_sizes, unsafe_*), broadcast_shapes, scalar_tensor, isposinf/isreal/fix,
vdot, chain_matmul, matrix_power, unravel_index, cov/corrcoef, the trapezoid rules, vander
and the signal windows.

Each is declared public beside its definition (ops/public.py), so it is `tracecomp.X` and,
where torch has the method, `Tensor.X`. Every one composes public ops: the tape and the
tracer see only primitives, and gradients come for free. Arguments, defaults, result dtypes
and error messages are torch 2.13's (aten's schemas). The torch.nn.functional spellings
(torch.conv2d, torch.dropout(x, p, train), ...) are in torch_nn_aliases.py.
"""
import itertools
import math
import operator
import warnings

from . import composite as C
from . import composite_reduce as R
from . import composite_shape as S
from . import dtypes, linalg
from .creation import arange, full, ones_like, zeros
from .creation import tensor as _tensor
from .dtypes import get_default_dtype
from .errors import DTypeError, ShapeError
from .grad_fn_names import grouped
from .ops import elementwise as ew
from .ops.complex import complex as _complex
from .ops.public import public
from .ops.special import i0
from .tensor import Size, Tensor, _wrap_dim
from .torch_args import with_out, write_out
from .user_code import user_stacklevel


# --- comparison aliases: torch.greater is torch.gt ----------------------------------------
@public("torch", "Tensor")
def greater(input, other):
    return ew.gt(input, other)


@public("torch", "Tensor")
def greater_equal(input, other):
    return ew.ge(input, other)


@public("torch", "Tensor")
def less(input, other):
    return ew.lt(input, other)


@public("torch", "Tensor")
def less_equal(input, other):
    return ew.le(input, other)


@public("torch", "Tensor")
def not_equal(input, other):
    return ew.ne(input, other)


@public("torch")
def rsub(input, other, alpha=1):
    """other - alpha * input (sub with its operands swapped)."""
    if input.dtype == dtypes.bool_ and (not isinstance(other, Tensor)
                                        or other.dtype == dtypes.bool_):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    return ew.sub(other, input if alpha == 1 else input * alpha)


# --- splits: views made with narrow ---------------------------------------------------------
def _slice(x, d, start, end):
    """x[start:end] along d with Python's slice rules (negatives wrap, bounds clamp)."""
    n = x.shape[d]
    start = min(max(start + n if start < 0 else start, 0), n)
    end = min(max(end + n if end < 0 else end, start), n)
    return C.narrow(x, d, start, end - start)


@public("torch", "Tensor")
def tensor_split(input, indices_or_sections, dim=0):
    """Sections (an int: the first n % sections pieces one longer) or split indices."""
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dtype.is_floating_point or indices_or_sections.ndim > 1 \
                or indices_or_sections.dtype == dtypes.bool_:
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to have "
                               f"integer dtype and be 0-D or 1-D, but got "
                               f"{indices_or_sections.dtype} of "
                               f"{indices_or_sections.ndim} dims")
        indices_or_sections = indices_or_sections.tolist()
    d = _wrap_dim(dim, input.ndim, "tensor_split")
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got "
                               f"{indices_or_sections}")
        q, r = divmod(input.shape[d], indices_or_sections)
        sizes = [q + 1] * r + [q] * (indices_or_sections - r)
        indices_or_sections = list(itertools.accumulate(sizes))[:-1]
    bounds = [0, *indices_or_sections, input.shape[d]]
    return tuple(_slice(input, d, a, b) for a, b in zip(bounds[:-1], bounds[1:]))


def _split_along(name, dim, least):
    def split(input, indices_or_sections):
        if input.ndim < least:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {least} dimension"
                               f", but got a tensor with {input.ndim} dimensions!")
        d = 0 if name == "hsplit" and input.ndim == 1 else dim
        if isinstance(indices_or_sections, int) and (
                indices_or_sections == 0 or input.shape[d] % indices_or_sections):
            raise RuntimeError(f"torch.{name} attempted to split along dimension {d}, but the "
                               f"size of the dimension {input.shape[d]} is not divisible by the "
                               f"split_size {indices_or_sections}!")
        return tensor_split(input, indices_or_sections, d)
    split.__name__ = split.__qualname__ = name
    return public("torch", "Tensor")(split)


hsplit = _split_along("hsplit", 1, 1)
vsplit = _split_along("vsplit", 0, 2)
dsplit = _split_along("dsplit", 2, 3)


@public("torch", "Tensor", aliases=("unsafe_split_with_sizes",))
def split_with_sizes(input, split_sizes, dim=0):
    return C.split(input, list(split_sizes), dim)


@public("torch", "Tensor")
def unsafe_split(input, split_size_or_sections, dim=0):
    return grouped(C.split(input, split_size_or_sections, dim), "UnsafeSplitBackward0", input)


@public("torch", "Tensor")
def unsafe_chunk(input, chunks, dim=0):
    return grouped(C.chunk(input, chunks, dim), "UnsafeSplitBackward0", input)


# --- shapes, scalars and predicates ---------------------------------------------------------
@public("torch")
def broadcast_shapes(*shapes):
    """The shape broadcasting `shapes` together gives (without making tensors)."""
    sizes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    out = [1] * max((len(s) for s in sizes), default=0)
    for k, shape in enumerate(sizes):
        for i, n in enumerate(shape, len(out) - len(shape)):
            if n < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {n}: "
                                   f"{list(shape)}")
            if out[i] == 1:
                out[i] = n
            elif n != 1 and n != out[i]:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {n} at "
                                   f"{i - len(out)}! Mismatching argument at index {k} had "
                                   f"{shape}; but expected shape should be broadcastable to "
                                   f"{out}")
    return Size(out)


@public("torch")
def scalar_tensor(s, *, dtype=None, layout=None, device=None, pin_memory=None,
                  requires_grad=False):
    """A 0-d tensor of s, in the default float dtype unless dtype= says otherwise."""
    out = full((), s, dtype=dtype or get_default_dtype(), device=device)
    return out.requires_grad_() if requires_grad else out


@public("torch", "Tensor")
def is_same_size(input, other):
    return tuple(input.shape) == tuple(other.shape)


@public("torch")
def is_signed(input):
    return input.is_signed()


@public("torch", "Tensor")
@with_out
def isposinf(input):
    return ew.eq(input, math.inf)


@public("torch", "Tensor")
@with_out
def isneginf(input):
    return ew.eq(input, -math.inf)


@public("torch", "Tensor")
def isreal(input):
    """Where the imaginary part is 0 (everywhere, for a real tensor)."""
    if input.is_complex():
        return ew.eq(ew.imag(input), 0)
    return ones_like(input, dtype=dtypes.bool_)


@public("torch", "Tensor", inplace=ew.trunc_p)
def fix(input):
    return ew.trunc(input)


# --- linear algebra ---------------------------------------------------------------------------
@public("torch", "Tensor")
def vdot(input, other, *, out=None):
    """The dot product of two 1-D tensors (the first conjugated: a no-op for real ones)."""
    if input.dtype != other.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{dtypes.TORCH_NAMES[input._data.dtype]} and "
                           f"{dtypes.TORCH_NAMES[other._data.dtype]}")
    result = C.dot(ew.conj(input), other)
    return result if out is None else write_out(out, result, "vdot")


@public("torch")
def chain_matmul(*matrices, out=None):
    """The product of 2-D matrices, as torch.linalg.multi_dot (deprecated in torch too)."""
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch "
                  "release. Use torch.linalg.multi_dot instead, which accepts a list of two or "
                  "more tensors rather than multiple parameters.", UserWarning,
                  stacklevel=user_stacklevel())
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        if m.ndim != 2:
            raise ShapeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    result = ew.clone(matrices[0]) if len(matrices) == 1 else linalg.multi_dot(list(matrices))
    return result if out is None else write_out(out, result, "chain_matmul")


matrix_power = public("torch", "Tensor")(linalg.matrix_power)


@public("torch")
def unravel_index(indices, shape):
    """The coordinates in `shape` of each flat index (torch's own composition)."""
    if indices.dtype.is_floating_point or indices.dtype == dtypes.bool_:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    coefs = list(itertools.accumulate((*shape[1:], 1)[::-1], operator.mul))[::-1]
    as_long = {"dtype": dtypes.int64, "device": indices.device}
    flat = C.unsqueeze(indices, -1)
    coords = ew.remainder(ew.floor_divide(flat, _tensor(coefs, **as_long)),
                          _tensor(list(shape), **as_long))
    return C.unbind(coords, -1)


# --- statistics -------------------------------------------------------------------------------
@public("torch", "Tensor")
def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance of the rows (variables) over the columns (observations), weighted by
    fweights * aweights (aten's Correlation.cpp)."""
    if input.ndim > 2:
        raise ShapeError(f"cov(): expected input to have two or fewer dimensions but got an "
                         f"input with {input.ndim} dimensions")
    obs = C.reshape(input, (1, -1)) if input.ndim < 2 else input
    w = fweights
    if aweights is not None:
        w = aweights if w is None else w * aweights
    w_sum = R.sum(w) if w is not None else full((), obs.shape[1], dtype=dtypes.int64)
    if w is not None and not bool(w_sum != 0):
        raise RuntimeError("cov(): weights sum to zero, can't be normalized")
    avg = R.sum(obs if w is None else obs * w, 1) / w_sum
    if w is not None and aweights is not None and correction != 0:
        norm = w_sum - correction * R.sum(w * aweights) / w_sum
    else:
        norm = w_sum - correction
    if bool(norm <= 0):
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the number of observations.", UserWarning, stacklevel=user_stacklevel())
        norm = norm * 0
    centred = obs - C.unsqueeze(avg, 1)
    other = C.t(centred if w is None else centred * w)
    c = C.mm(centred, ew.conj(other) if other.is_complex() else other)    # torch's: X X^H
    return C.squeeze(ew.div(c, norm))


@public("torch", "Tensor")
def corrcoef(input):
    """cov normalized by the standard deviations, clipped to [-1, 1]."""
    if input.ndim > 2:
        raise ShapeError(f"corrcoef(): expected input to have two or fewer dimensions but got "
                         f"an input with {input.ndim} dimensions")
    c = cov(input)
    if c.ndim == 0:
        return c / c
    var = S.diagonal(c)
    std = ew.sqrt(ew.real(var) if var.is_complex() else var)
    c = c / C.unsqueeze(std, 1) / C.unsqueeze(std, 0)
    if c.is_complex():      # torch clips each part
        return _complex(C.clamp(ew.real(c), -1, 1), C.clamp(ew.imag(c), -1, 1))
    return C.clamp(c, -1, 1)


# --- the trapezoid rules ----------------------------------------------------------------------
def _pair_sums(y, d):
    """y[1:] + y[:-1] along d."""
    n = y.shape[d]
    return _slice(y, d, 1, n) + _slice(y, d, 0, n - 1)


def _spacing(x, y, d):
    """x[1:] - x[:-1] along d, a 1-D x laid along d and a shorter x padded in front."""
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise ShapeError("trapezoid: There must be one `x` value for each sample point")
        x = C.reshape(x, tuple(x.shape[0] if i == d else 1 for i in range(y.ndim)))
    elif x.ndim < y.ndim:
        x = C.reshape(x, (1,) * (y.ndim - x.ndim) + tuple(x.shape))
    n = x.shape[d]
    return _slice(x, d, 1, n) - _slice(x, d, 0, n - 1)


def _check_dx(x, dx):
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments: x and dx "
                        "can't both be given")
    if isinstance(dx, (bool, complex)):
        raise RuntimeError("trapezoid: Currently, we only support dx as a real number.")


@public("torch")
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along dim, with sample points x or a constant spacing dx."""
    _check_dx(x, dx)
    d = _wrap_dim(dim, y.ndim, "trapezoid")
    if y.shape[d] == 0:
        return zeros(tuple(y.shape[:d] + y.shape[d + 1:]), dtype=y.dtype, device=y.device)
    if x is not None:
        return R.sum(_spacing(x, y, d) * _pair_sums(y, d) / 2.0, d)
    ends = S.select(y, d, 0) + S.select(y, d, -1)
    return (R.sum(y, d) - ends * 0.5) * float(1 if dx is None else dx)


@public("torch")
def trapz(y, x=None, *, dx=None, dim=-1):
    return trapezoid(y, x, dx=dx, dim=dim)


@public("torch")
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal rule along dim: one fewer value than y has."""
    _check_dx(x, dx)
    d = _wrap_dim(dim, y.ndim, "cumulative_trapezoid")
    if x is not None:
        return R.cumsum(_spacing(x, y, d) * _pair_sums(y, d), d) / 2.0
    return R.cumsum(float(1 if dx is None else dx) / 2.0 * _pair_sums(y, d), d)


@public("torch")
def vander(x, N=None, increasing=False):
    """Columns x^0, x^1, ..., x^(N-1) (highest power first unless increasing)."""
    if x.ndim != 1:
        raise ShapeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    x = C.unsqueeze(x.to(dtypes.promote_types(x.dtype, dtypes.int64)), 1)
    if n == 0:
        return zeros((x.shape[0], 0), dtype=x.dtype, device=x.device)
    powers = R.cumprod(C.broadcast_to(x, (x.shape[0], n - 1)), 1)
    out = C.cat([ones_like(x), powers], 1)
    return out if increasing else S.flip(out, (1,))


# --- signal windows (aten's TensorFactories.cpp) -------------------------------------------
def _window(name, length, periodic, dtype, device, requires_grad, fn):
    dtype = dtype or get_default_dtype()
    if not dtype.is_floating_point:
        raise DTypeError(f"{name} expects floating point dtypes, got: {dtype}")
    if length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got "
                           f"window_length={length}")
    if length <= 1:
        out = full((length,), 1.0, dtype=dtype, device=device)
    else:
        n = length + 1 if periodic else length
        out = fn(arange(n, dtype=dtype, device=device), n)
        out = C.narrow(out, 0, 0, length) if periodic else out
    return out.requires_grad_() if requires_grad else out


@public("torch")
def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None,
                   layout=None, device=None, pin_memory=False, requires_grad=False):
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   lambda i, n: alpha - beta * ew.cos(i * (2.0 * math.pi / (n - 1))))


@public("torch")
def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                pin_memory=False, requires_grad=False):
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   lambda i, n: 0.5 - 0.5 * ew.cos(i * (2.0 * math.pi / (n - 1))))


def _bartlett(i, n):
    ramp = i * (2.0 / (n - 1))
    return ew.where(i < (n - 1) // 2 + 1, ramp, 2.0 - ramp)


@public("torch")
def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    pin_memory=False, requires_grad=False):
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   _bartlett)


def _blackman(i, n):
    t = i * (math.pi / (n - 1))
    return 0.08 * ew.cos(t * 4.0) - 0.5 * ew.cos(t * 2.0) + 0.42


@public("torch")
def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    pin_memory=False, requires_grad=False):
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   _blackman)


@public("torch")
def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None,
                  device=None, pin_memory=False, requires_grad=False):
    def kaiser(i, n):
        half = (n - 1) / 2.0
        return i0(beta * ew.sqrt(1.0 - ((i - half) / half) ** 2)) / float(i0(full((), beta)))
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   kaiser)
