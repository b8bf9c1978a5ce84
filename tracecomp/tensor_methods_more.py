"""Small Tensor methods and torch functions that programs call, each composed of ops
tracecomp already has: the in-place comparisons and logical ops (x.eq_(y), x.logical_and_(m)),
tril_/triu_, fill_diagonal_, quantile/nanquantile, sum_to_size, renorm, gcd/lcm, ldexp and
the complex-number accessors (x.real, x.conj(), x.is_conj(), ...).

The functions are declared public beside their definitions (ops/public.py); the in-place
methods and the properties are the tables METHODS and PROPERTIES, merged into
tensor_methods'. Arguments, result dtypes and error messages are torch 2.13's.
"""
import math
import warnings

import numpy as np

from . import composite as C
from . import composite_reduce as R
from . import dtypes, inplace
from .composite_index import nonzero
from .composite_linalg import vector_norm
from .composite_math import exp2
from .composite_sort import sort
from .creation import arange, full
from .devices import beside
from .dispatch import needs
from .dtypes import np_kind
from .errors import DTypeNotImplemented
from .grad_fn_names import named
from .grad_mode import state as _grad
from .identity_views import fresh_alias
from .layouts import storage_root
from .ops import complex as _complex_ops  # noqa: F401  (complex, angle, ...: declared there)
from .ops import elementwise as ew
from .ops import float_parts as _float_parts  # noqa: F401  (frexp, nextafter: declared there)
from .ops import movement as mv
from .ops.indexing import gather
from .ops.public import public
from .ops.special import lgamma
from .tensor import Size, Tensor, _wrap_dim
from .torch_args import with_out
from .user_code import user_stacklevel


# --- in-place comparisons and logical ops: the 0/1 result in self's dtype ----------------
def _zero_grad_of(x):
    """0 in x's dtype with x's history and a zero derivative (0 where x is inf or NaN too):
    a comparison written into x cuts x's gradient to zero, as torch's EqBackward0 does."""
    finite = ew.isfinite(x)
    return ew.where(finite, x * 0, full((), 0, dtype=x.dtype))


def _compare_(name, fn):
    def method(x, other):
        result = fn(inplace.alias(x), other)
        if _grad.enabled and needs(x):
            result = ew.cast(result, x.dtype) + _zero_grad_of(inplace.alias(x))
        return inplace.commit(x, result, name)
    method.__name__ = name
    return method


def _logical_(name, fn):
    def method(x, other):
        if not isinstance(other, Tensor):
            raise TypeError(f"{name}(): argument 'other' (position 1) must be Tensor, not "
                            f"{type(other).__name__}")
        return inplace.commit(x, fn(inplace.alias(x), other), name)
    method.__name__ = name
    return method


_COMPARISONS = {"eq": ew.eq, "ne": ew.ne, "ge": ew.ge, "gt": ew.gt, "le": ew.le, "lt": ew.lt,
                "greater": ew.gt, "greater_equal": ew.ge, "less": ew.lt, "less_equal": ew.le,
                "not_equal": ew.ne}
_LOGICAL = {"logical_and": ew.logical_and, "logical_or": ew.logical_or,
            "logical_xor": ew.logical_xor}


# --- triangles and the diagonal -------------------------------------------------------------
def _triangle_(name, fn):
    def method(x, diagonal=0):
        if x.ndim < 2:
            raise RuntimeError(f"{name[:-1]}: input tensor must have at least 2 dimensions")
        return inplace.commit(x, fn(inplace.alias(x), diagonal), name)
    method.__name__ = name
    return method


def _diagonal_mask(shape, wrap):
    """torch's fill_diagonal_ positions: every dim's index equal; a tall matrix with
    wrap=True starts again N+1 rows down (numpy's fill_diagonal)."""
    if len(shape) < 2:
        raise RuntimeError("dimensions must larger than 1")
    if len(shape) > 2 and len(set(shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    numel = int(np.prod(shape))
    step = int(sum(np.cumprod((1,) + shape[:0:-1])))    # the sum of the strides
    mask = np.zeros(numel, dtype=bool)
    if len(shape) == 2 and shape[0] > shape[1] and wrap:
        mask[::step] = True
    else:
        mask[np.arange(min(shape)) * step] = True
    return mask.reshape(shape)


def fill_diagonal_(x, fill_value, wrap=False):
    mask = Tensor._make(beside(_diagonal_mask(tuple(x.shape), wrap), x._data))
    value = ew.cast(fill_value, x.dtype) if isinstance(fill_value, Tensor) else \
        full((), fill_value, dtype=x.dtype)
    return inplace.commit(x, ew.where(mask, value, inplace.alias(x)), "fill_diagonal_")


# --- quantiles --------------------------------------------------------------------------------
_MODES = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name, x, q, dim, keepdim, interpolation, ignore_nan):
    """torch's quantile_out_impl: sort along dim, a rank q * (n - 1) per q (among the non-NaN
    values for nanquantile; the last, a NaN, where quantile meets one), rounded as
    `interpolation` asks, and the two neighbouring values lerped."""
    if not isinstance(q, Tensor):
        if not 0 <= q <= 1:
            raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {q:g}")
        q = full((), q, dtype=x.dtype)
    if interpolation not in _MODES:
        raise RuntimeError(f"{name}() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest, but got {interpolation}")
    if x.numel() == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    if q.ndim > 1:
        raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if q.dtype != x.dtype:
        raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
    if isinstance(q._data, np.ndarray) and not ((q._data >= 0) & (q._data <= 1)).all():
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    scalar_q, q = q.ndim == 0, C.reshape(q, (-1,))
    if dim is None:
        values = C.reshape(x, (-1,))
    else:
        d = _wrap_dim(dim, max(x.ndim, 1), name)
        values = C.movedim(x, d, -1) if x.ndim else C.reshape(x, (1,))
    ordered = sort(values, -1).values
    batch, n = tuple(ordered.shape[:-1]), ordered.shape[-1]
    nan = ew.isnan(ordered)
    if ignore_nan:
        ranks = q * (R.sum(ew.logical_not(nan), -1, keepdim=True) - 1)
        ranks = ew.where(ranks < 0, full((), 0, dtype=x.dtype), ranks)
    else:
        ranks = ew.where(R.any(nan, -1, keepdim=True), full((), n - 1, dtype=x.dtype),
                         q * (n - 1))
    ranks = C.expand(ranks, (*batch, q.shape[0]))
    rounded = {"lower": ew.floor, "higher": ew.ceil, "nearest": ew.round}.get(interpolation)
    if rounded is not None:
        ranks = rounded(ranks)
    below = ew.cast(ranks, dtypes.int64)
    result = gather(ordered, -1, below)
    if interpolation in ("linear", "midpoint"):
        weight = full((), 0.5, dtype=x.dtype) if interpolation == "midpoint" else \
            ranks - below
        above = gather(ordered, -1, ew.cast(ew.ceil(ranks), dtypes.int64))
        result = C.lerp(result, above, weight)
    result = C.movedim(result, -1, 0)                   # (q, *the other dims)
    if keepdim and x.ndim:
        result = C.reshape(result, (q.shape[0], *[1] * x.ndim)) if dim is None else \
            C.unsqueeze(result, d + 1)
    return C.reshape(result, tuple(result.shape[1:])) if scalar_q else result


@public("torch", "Tensor")
@with_out
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


@public("torch", "Tensor")
@with_out
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


# --- sums and norms -----------------------------------------------------------------------
@public("Tensor")
def sum_to_size(self, *size):
    """self summed down to `size`, which self must be expandable from (the gradient of an
    expand)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    shape, lead = tuple(self.shape), self.ndim - len(size)
    if lead < 0 or any(s != n and s != 1 for s, n in zip(size, shape[lead:])):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(shape)}}}.")
    return mv.sum_to(self, size)     # what undoes a broadcast for the autograd engine


@public("torch", "Tensor")
def renorm(input, p, dim, maxnorm):  # noqa: A002
    """Each slice along `dim` whose p-norm is over maxnorm scaled down to it (torch's
    factor maxnorm / (norm + 1e-7))."""
    if not p > 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if not maxnorm >= 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm:g}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} "
                           f"dimensions")
    d = _wrap_dim(dim, input.ndim, "renorm")
    norm = vector_norm(input, p, [i for i in range(input.ndim) if i != d], keepdim=True)
    one = full((), 1, dtype=norm.dtype)
    return input * ew.where(norm > maxnorm, maxnorm / (norm + 1e-7), one)


# --- integer and exponent arithmetic ----------------------------------------------------------
def _integer_operands(name, input, other):  # noqa: A002
    if not isinstance(other, Tensor):
        raise TypeError(f"{name}(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(other).__name__}")
    want = dtypes.result_type(input._data, other._data)
    if np_kind(want) not in "iu":
        raise DTypeNotImplemented(f"\"{name}_cpu\" not implemented for "
                                  f"'{dtypes.TORCH_NAMES[want]}'")
    return ew.cast(input, want), ew.cast(other, want)


def _euclid(a, b):
    """gcd(|a|, |b|) by Euclid's steps, all elements at once: a b-bit integer needs fewer
    than 1.5 b of them (Fibonacci numbers bound the count); eager stops when all are done."""
    a, b = ew.abs(a), ew.abs(b)
    zero, one = full((), 0, dtype=a.dtype), full((), 1, dtype=a.dtype)
    for _ in range(3 * a._data.dtype.itemsize * 8 // 2 + 2):
        if isinstance(b._data, np.ndarray) and not b._data.any():
            break
        more = b != 0
        a, b = ew.where(more, b, a), ew.where(more, ew.fmod(a, ew.where(more, b, one)), zero)
    return a


@public("torch", "Tensor")
def gcd(input, other):  # noqa: A002
    return _euclid(*_integer_operands("gcd", input, other))


@public("torch", "Tensor")
def lcm(input, other):  # noqa: A002
    a, b = _integer_operands("lcm", input, other)
    g = _euclid(a, b)
    zero, one = full((), 0, dtype=g.dtype), full((), 1, dtype=g.dtype)
    return ew.where(g == 0, zero, ew.abs(ew.floor_divide(a, ew.where(g == 0, one, g)) * b))


@public("torch", "Tensor")
def ldexp(input, other):  # noqa: A002
    """input * 2 ** other, in the promoted dtype (a float one)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"ldexp(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(other).__name__}")
    if other.dtype == dtypes.bool_:
        raise DTypeNotImplemented("\"ldexp_cpu_exp\" not implemented for 'Bool'")
    want = dtypes.float_type(dtypes.result_type(input._data, other._data))
    return ew.cast(input, want) * exp2(ew.cast(other, want))


def ldexp_(x, other):
    result = ldexp(inplace.alias(x), other)
    if dtypes.category(result._data.dtype) > dtypes.category(x._data.dtype):
        raise RuntimeError(f"ldexp can't be cast to the desired output type "
                           f"{dtypes.TORCH_NAMES[x._data.dtype]}")
    return inplace.commit(x, result, "ldexp_")


# --- adjoint and fill --------------------------------------------------------------------
@public("torch", "Tensor")
def adjoint(input):  # noqa: A002
    """The conjugate transpose of the last two dims: a view, as x.mH."""
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of "
                           f"matrices. Got {input.ndim}-D tensor.")
    return input.mH


@public("torch")
def fill(input, value):  # noqa: A002
    """A new tensor of input's shape and dtype holding value (a number, or a 0-d tensor whose
    gradient is the sum of the result's); input gets a zero gradient, as torch's
    FillBackward gives it."""
    inplace.check_fill_value(value, "fill_")
    filled = ew.cast(value, input.dtype) if isinstance(value, Tensor) else \
        full((), value, dtype=input.dtype, device=input.device)
    everywhere = full(tuple(input.shape), True, dtype=dtypes.bool_, device=input.device)
    out = ew.where(everywhere, filled, input)
    return named(out, "FillBackward1" if isinstance(value, Tensor) else "FillBackward0",
                 (input, value) if isinstance(value, Tensor) else (input,))


@public("torch")
def get_device(input):  # noqa: A002
    """The tensor's device index: -1 on the CPU (Tensor.get_device)."""
    return input.get_device()


# --- the multivariate log-gamma (torch.special.multigammaln) ------------------------------
@public("torch", "Tensor")
def mvlgamma(input, p):  # noqa: A002
    """log Gamma_p(x) = p(p-1)/4 log(pi) + sum over j < p of lgamma(x - j/2), summed in
    torch's order (the offsets ascending from -(p-1)/2), so its last bits are torch's."""
    if input._data.dtype == dtypes.BOOL:
        raise RuntimeError("The input tensor may not be a boolean tensor.")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    dtype = input.dtype if np_kind(input._data.dtype) == "f" else dtypes.get_default_dtype()
    offsets = arange(-p * 0.5 + 0.5, 0.5, 0.5, dtype=dtype, device=input.device)
    terms = lgamma(offsets + C.unsqueeze(input, -1))
    return R.sum(terms, -1) + p * (p - 1) * math.log(math.pi) * 0.25


# --- complex-number accessors (ops/elementwise.py computes them) -----------------------------
public("torch", "Tensor")(ew.conj)
public("torch", "Tensor")(ew.conj_physical)
public("torch")(ew.real)
public("torch")(ew.imag)


@public("torch", "Tensor", aliases=("resolve_neg",))
def resolve_conj(input):  # noqa: A002
    """The same values without the lazy-conjugation bit: a copy when the bit is set."""
    return ew.clone(input) if is_conj(input) else input


@public("torch", "Tensor")
def is_conj(input):  # noqa: A002
    return bool(input.__dict__.get("_conj", False)) if input._data.dtype.kind == "c" else False


@public("torch", "Tensor")
def is_neg(input):  # noqa: A002
    return False


METHODS = {
    **{name + "_": _compare_(name + "_", fn) for name, fn in _COMPARISONS.items()},
    **{name + "_": _logical_(name + "_", fn) for name, fn in _LOGICAL.items()},
    "logical_not_": inplace.composite_method(ew.logical_not, "logical_not_"),
    "tril_": _triangle_("tril_", C.tril), "triu_": _triangle_("triu_", C.triu),
    "fill_diagonal_": fill_diagonal_,
    "renorm_": inplace.composite_method(renorm, "renorm_"),
    "gcd_": inplace.composite_method(gcd, "gcd_"), "lcm_": inplace.composite_method(lcm, "lcm_"),
    "ldexp_": ldexp_,
    "mvlgamma_": inplace.composite_method(mvlgamma, "mvlgamma_"),
    "conj_physical_": inplace.composite_method(ew.conj_physical, "conj_physical_"),
}

def _part_setter(part):
    """x.real = v / x.imag = v: v written into the part (a view), as torch's setters."""
    def set_part(x, value):
        view = part(x)
        view.copy_(value) if isinstance(value, Tensor) else view.fill_(value)
    return set_part


def _volatile(x):
    warnings.warn("volatile was removed (Variable.volatile is always False)", UserWarning,
                  stacklevel=user_stacklevel())
    return False


def _set_volatile(x, value):
    warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` "
                  "instead.", UserWarning, stacklevel=user_stacklevel())


PROPERTIES = {"real": property(ew.real, _part_setter(ew.real)),
              "imag": property(ew.imag, _part_setter(ew.imag)),
              # torch's removed Variable flag: always False, with its warnings
              "volatile": property(_volatile, _set_volatile)}


# --- storage facts and nonzero_static -----------------------------------------------------
@public("Tensor")
def is_set_to(input, tensor):  # noqa: A002
    """Whether input and tensor view the same memory with the same place, sizes and
    strides (torch's: the same storage, storage offset, size and stride)."""
    a, b = input._data, tensor._data
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return a is b
    return (storage_root(a) is storage_root(b) and a.shape == b.shape and
            a.strides == b.strides and a.dtype == b.dtype and
            a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


@public("Tensor")
def const_data_ptr(input):  # noqa: A002
    return input.data_ptr()


@public("Tensor")
def is_distributed(input):  # noqa: A002
    return False


@public("torch", "Tensor")
def nonzero_static(input, *, size, fill_value=-1):  # noqa: A002
    """nonzero(input) with exactly `size` rows: cut short, or filled with fill_value."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise RuntimeError("nonzero_static: 'size' must be an non-negative integer")
    found = nonzero(input)._data
    out = np.full((int(size), input.ndim), fill_value, dtype=np.int64)
    n = min(len(found), int(size))
    out[:n] = found[:n]
    return Tensor._make(beside(out, input._data))


@public("Tensor")
def as_subclass(input, cls):  # noqa: A002
    """input as an instance of cls, a Tensor subclass (its __init__ is not called): an alias
    sharing input's memory and version counter, on the tape as torch's AliasBackward0."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError("Creating a Tensor subclass from a class that does not inherit from "
                        "Tensor is not possible. Make sure your class inherits from Tensor.")
    out = fresh_alias(input, "AliasBackward0")
    if out is input:        # a traced or sparse input: a new object all the same
        out = Tensor._make(input._data, input._requires_grad, input._node, input._vc)
    out.__class__ = cls
    return out


def _resized(x, sizes, op):
    """torch's deprecated non-in-place resize: x reshaped to sizes (same element count),
    on the tape as torch's ResizeBackward."""
    warnings.warn(f"non-inplace {op} is deprecated", UserWarning, stacklevel=user_stacklevel())
    n = math.prod(sizes)
    if n != x.numel():
        raise RuntimeError(f"requested resize to {'x'.join(map(str, sizes))} ({n} elements in "
                           f"total), but the given tensor has a size of "
                           f"{'x'.join(map(str, x.shape))} ({x.numel()} elements). autograd's "
                           f"resize can only change the shape of a given tensor, while "
                           f"preserving the number of elements. ")
    return named(C.reshape(x, tuple(sizes)), "ResizeBackward", (x,))


@public("Tensor")
def resize(input, *sizes):  # noqa: A002
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return _resized(input, [int(n) for n in sizes], "resize")


@public("Tensor")
def resize_as(input, tensor):  # noqa: A002
    return _resized(input, list(tensor.shape), "resize_as")
