"""tracecomp.fft: torch.fft's functions (fft, rfft2, irfftn, hfftn, fftfreq, fftshift, ...).

Each transform checks its arguments in torch's words, cuts or zero-pads the input to the
signal size (`n` / `s`) along the transformed dims, converts it to torch's working dtype
(integers to the default float, reals to complex where the transform is complex) and binds
one of the three primitives of ops/fft.py. The results have torch's dtypes: rfft of float32
is complex64, irfft of complex128 is float64.
"""
import numpy as _np

from . import dtypes as _dtypes
from . import support as _support
from .composite_shape import roll as _roll
from .creation import tensor as _tensor
from .errors import DTypeError as _DTypeError
from .ops import elementwise as _ew
from .ops import fft as _prim
from .ops import movement as _movement
from .ops.rules import norm_dims as _norm_dims
from .tensor import Tensor

_NORMS = ("backward", "forward", "ortho")


def _norm(norm):
    norm = "backward" if norm is None else norm
    if norm not in _NORMS:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


def _floating(x):
    """Integers and bools in the default float, as torch's transforms take them."""
    if not isinstance(x, Tensor):
        raise TypeError(f"fft: argument 'input' must be Tensor, not {type(x).__name__}")
    return x if x._data.dtype.kind in "fc" else _ew.cast(x, _dtypes.default_float())


def _as_complex(x):
    x = _floating(x)
    d = x._data.dtype
    return x if d.kind == "c" else _ew.cast(x, _dtypes.complex_type(d))


def _as_real(x, op):
    x = _floating(x)
    if x._data.dtype.kind == "c":
        raise _DTypeError(f"{op} expects a real input tensor, but got "
                         f"{_dtypes.TORCH_NAMES[x._data.dtype]}")
    return x


def _dims_and_sizes(op, x, s, dim, default_all):
    """torch's rule for (s, dim): the dims to transform (in the order given) and the signal
    size along each (-1: the input's)."""
    if dim is not None:
        dims = [dim] if isinstance(dim, int) else list(dim)
        n = max(x.ndim, 1)
        for d in dims:
            if not -n <= d < n:
                raise IndexError(f"Dimension out of range (expected to be in range of "
                                 f"[{-n}, {n - 1}], but got {d})")
        dims = [d % n for d in dims]
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"{op}: dims must be unique, got {list(dim)}")
        if s is not None and len(s) != len(dims):
            raise RuntimeError(f"When given, dim and shape arguments must have the same "
                               f"length (got s={list(s)}, dim={list(dim)})")
    elif s is not None:
        if len(s) > x.ndim:
            raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has "
                               f"{x.ndim} dimensions.")
        dims = list(range(x.ndim - len(s), x.ndim))
    else:
        dims = list(range(x.ndim)) if default_all else [x.ndim - 2, x.ndim - 1]
        if not default_all and x.ndim < 2:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-max(x.ndim, 1)}, {max(x.ndim, 1) - 1}], but got -2)")
    sizes = [x.shape[d] for d in dims] if s is None else \
        [x.shape[d] if k == -1 else int(k) for d, k in zip(dims, s)]
    for k in sizes:
        if k < 1:
            raise RuntimeError(f"Invalid number of data points ({k}) specified")
    return dims, sizes


def _resize(x, dims, sizes):
    """x cut or zero-padded at the end of each of dims to sizes."""
    config = [(0, 0, 0)] * x.ndim
    for d, k in zip(dims, sizes):
        config[d] = (0, k - x.shape[d], 0)
    return _movement.pad(x, tuple(config), 0.0)


# --- complex transforms ----------------------------------------------------------------------
def _c2c(op, inverse, default_all):
    def transform(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
        dims, sizes = _dims_and_sizes(op, input, s, dim, default_all)
        x = _resize(_as_complex(input), dims, sizes)
        return _out(_prim.c2c(x, dims, _norm(norm), inverse), out)
    transform.__name__ = op
    return transform


def _one_dim(fn, op):
    def transform(input, n=None, dim=-1, norm=None, *, out=None):  # noqa: A002
        return fn(input, None if n is None else (n,), (dim,), norm, out=out)
    transform.__name__ = op
    return transform


fftn = _c2c("fftn", False, True)
ifftn = _c2c("ifftn", True, True)
fft2 = _c2c("fft2", False, False)
ifft2 = _c2c("ifft2", True, False)
fft = _one_dim(fftn, "fft")
ifft = _one_dim(ifftn, "ifft")


# --- real input, half spectrum out -------------------------------------------------------------
def _r2c(op, default_all):
    def transform(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
        x = _as_real(input, op.lstrip("i"))
        dims, sizes = _dims_and_sizes(op, x, s, dim, default_all)
        return _out(_prim.r2c(_resize(x, dims, sizes), dims, _norm(norm)), out)
    transform.__name__ = op
    return transform


rfftn = _r2c("rfftn", True)
rfft2 = _r2c("rfft2", False)
rfft = _one_dim(rfftn, "rfft")


# --- half spectrum in, real output ---------------------------------------------------------------
def _c2r(op, default_all):
    def transform(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
        x = _as_complex(input)
        dims, sizes = _dims_and_sizes(op, x, s, dim, default_all)
        last = dims[-1]
        if s is None or s[-1] == -1:        # the default output size: 2 (m - 1)
            sizes[-1] = 2 * (x.shape[last] - 1)
            if sizes[-1] < 1:
                raise RuntimeError(f"Invalid number of data points ({sizes[-1]}) specified")
        half = sizes[:-1] + [sizes[-1] // 2 + 1]
        x = _resize(x, dims, half)
        return _out(_prim.c2r(x, dims, _norm(norm), sizes[-1]), out)
    transform.__name__ = op
    return transform


irfftn = _c2r("irfftn", True)
irfft2 = _c2r("irfft2", False)
irfft = _one_dim(irfftn, "irfft")


# --- Hermitian input (hfft) and its inverse -----------------------------------------------------
def _hermitian(op, inverse_of):
    """hfftn-style: the real spectrum of a signal whose half spectrum is input, i.e. the
    complex-to-real transform of its conjugate with the opposite scaling (a forward
    transform); ihfftn-style (inverse_of=rfftn-style): the conjugate of the real-to-complex
    transform, with the opposite scaling."""
    if inverse_of is None:
        def transform(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
            x = _ew.conj_physical(_as_complex(input))
            return _out(_C2R[op](x, s, dim, _prim.DUAL[_norm(norm)]), out)
    else:
        def transform(input, s=None, dim=None, norm=None, *, out=None):  # noqa: A002
            x = _as_real(input, op)
            result = inverse_of(x, s, dim, _prim.DUAL[_norm(norm)])
            # torch's result carries the lazy conj bit when one dim is transformed
            count = len(dim) if dim is not None else len(s) if s is not None else \
                x.ndim if op == "ihfftn" else 2
            return _out((_ew.conj if count == 1 else _ew.conj_physical)(result), out)
    transform.__name__ = op
    return transform


_C2R = {"hfftn": irfftn, "hfft2": irfft2}
hfftn = _hermitian("hfftn", None)
hfft2 = _hermitian("hfft2", None)
ihfftn = _hermitian("ihfftn", rfftn)
ihfft2 = _hermitian("ihfft2", rfft2)
hfft = _one_dim(hfftn, "hfft")
ihfft = _one_dim(ihfftn, "ihfft")


# --- frequencies and shifts ---------------------------------------------------------------
def _freq_dtype(dtype):
    d = _dtypes.to_np(dtype) or _dtypes.default_float()
    if d.kind != "f":
        raise _DTypeError(f"fftfreq: expected a floating point dtype, got {d}")
    return d


def fftfreq(n, d=1.0, *, dtype=None, layout=None, device=None, requires_grad=False):
    """The sample frequencies of an n-point transform: [0, 1, ..., -(n // 2), ..., -1] / (d n)."""
    values = _np.fft.fftfreq(int(n), d)
    return _tensor(values, dtype=_freq_dtype(dtype), device=device,
                  requires_grad=requires_grad)


def rfftfreq(n, d=1.0, *, dtype=None, layout=None, device=None, requires_grad=False):
    """The sample frequencies of rfft's n // 2 + 1 bins: [0, 1, ..., n // 2] / (d n)."""
    values = _np.fft.rfftfreq(int(n), d)
    return _tensor(values, dtype=_freq_dtype(dtype), device=device,
                  requires_grad=requires_grad)


def _shift(x, dim, sign):
    dims = _norm_dims("fftshift", dim, x.ndim)
    if not dims:
        return x
    return _roll(x, tuple(sign * (x.shape[d] // 2) for d in dims), dims)


def fftshift(input, dim=None):  # noqa: A002
    """The zero frequency moved to the middle: a roll by n // 2 along dim (all dims)."""
    return _shift(input, dim, 1)


def ifftshift(input, dim=None):  # noqa: A002
    """fftshift's inverse: a roll by -(n // 2)."""
    return _shift(input, dim, -1)


def _out(result, out):
    if out is None:
        return result
    out.copy_(result)
    return out


__getattr__ = _support.missing_in("torch.fft")
__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
           "rfftn", "irfftn", "hfft", "ihfft", "hfft2", "ihfft2", "hfftn", "ihfftn", "fftfreq",
           "rfftfreq", "fftshift", "ifftshift"]
