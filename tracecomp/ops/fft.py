"""Discrete Fourier transform primitives: complex-to-complex, real-to-complex (the half
spectrum) and complex-to-real, over any set of dims, with numpy's norm modes.

Every torch.fft function is one of the three after its input was cut or zero-padded to the
signal size (tracecomp/fft.py). numpy computes them (pocketfft, as torch's CPU kernels);
the dtype rule gives torch's dtypes (complex64 from float32), and bind casts numpy's answer.

Gradients, in torch's convention for complex values (ops/elementwise.py): a transform with
norm mode m is a linear map c*F, whose adjoint c*F^H is the opposite transform with the
*dual* mode (backward <-> forward, ortho <-> ortho). A half spectrum's adjoint pads the
gradient to the full spectrum and keeps the real part; a complex-to-real transform's is the
half spectrum of the gradient with the bins that stand for two (all but the first and the
Nyquist bin) doubled, as torch's fft_c2r_backward.
"""
import numpy as np

from .. import dtypes
from ..creation import tensor
from ..dispatch import bind
from ..errors import DTypeError, DTypeNotImplemented
from . import elementwise as ew
from . import movement
from .registry import PRIMITIVES, defprim
from .rules import same_shape

DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _complex_dtype(x, *_, **__):
    d = np.dtype(x.dtype)
    if d.kind != "c":
        raise DTypeNotImplemented(f"fft: expected a complex input, got {d} (the public "
                                  f"functions convert real inputs first)")
    return d


# --- complex to complex ------------------------------------------------------------------
def _c2c_impl(x, dims, norm, inverse):
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=dims, norm=norm)


def _c2c_vjp(g, out, x, dims, norm, inverse):
    return (c2c(g, dims, DUAL[norm], not inverse),)


fft_c2c_p = defprim("fft_c2c", _c2c_impl, same_shape, _complex_dtype, _c2c_vjp, (),
                    saves=())


def c2c(x, dims, norm, inverse):
    return bind(fft_c2c_p, x, dims=tuple(dims), norm=norm, inverse=bool(inverse))


# --- real to complex (half spectrum along the last dim) ---------------------------------------
def _r2c_impl(x, dims, norm):
    return np.fft.rfftn(x, axes=dims, norm=norm)


def _r2c_rule(x, dims, norm):
    out = list(x)
    out[dims[-1]] = x[dims[-1]] // 2 + 1
    return tuple(out)


def _r2c_dtype(x, dims, norm):
    d = np.dtype(x.dtype)
    if d.kind != "f":
        raise DTypeError(f"rfft expects a real input tensor, but got "
                                  f"{dtypes.TORCH_NAMES.get(d, d)}")
    return dtypes.complex_type(d)


def _r2c_vjp(g, out, x, dims, norm):
    """The adjoint of (keep the first n // 2 + 1 bins) . c F: zero the dropped bins, apply
    c F^H, keep the real part (x is real)."""
    last = dims[-1]
    config = [(0, 0, 0)] * g.ndim
    config[last] = (0, x.shape[last] - g.shape[last], 0)
    full = movement.pad(g, tuple(config), 0.0)
    return (ew.real(c2c(full, dims, DUAL[norm], True)),)


fft_r2c_p = defprim("fft_r2c", _r2c_impl, _r2c_rule, _r2c_dtype, _r2c_vjp, (), saves=())


def r2c(x, dims, norm):
    return bind(fft_r2c_p, x, dims=tuple(dims), norm=norm)


# --- complex (half spectrum) to real ---------------------------------------------------------
def _c2r_impl(x, dims, norm, n):
    sizes = [x.shape[d] for d in dims[:-1]] + [n]
    return np.fft.irfftn(x, s=sizes, axes=dims, norm=norm)


def _c2r_rule(x, dims, norm, n):
    out = list(x)
    out[dims[-1]] = n
    return tuple(out)


def _c2r_dtype(x, dims, norm, n):
    return dtypes.real_type(_complex_dtype(x))


def _c2r_vjp(g, out, x, dims, norm, n):
    half = r2c(g, dims, DUAL[norm])
    last = dims[-1]
    twice = n - half.shape[last]        # bins 1..twice stand for a bin and its mirror
    if twice <= 0:
        return (half,)
    weight = np.ones(half.shape[last], dtype=dtypes.real_type(half._data.dtype))
    weight[1:1 + twice] = 2
    shape = [1] * half.ndim
    shape[last] = half.shape[last]
    return (half * tensor(weight.reshape(shape)),)


fft_c2r_p = defprim("fft_c2r", _c2r_impl, _c2r_rule, _c2r_dtype, _c2r_vjp, (), saves=())


def c2r(x, dims, norm, n):
    return bind(fft_c2r_p, x, dims=tuple(dims), norm=norm, n=int(n))


# --- the transforms on real parts, for compiled code -----------------------------------------
# Compiled code holds a complex value as its (..., 2) real parts (passes/complex_parts.py);
# there a transform is this primitive, which no backend lowers: it runs numpy's FFT as a host
# step between native kernels, on views of the parts (no kernel of ours computes an FFT).
# Only after autodiff (the transforms' own VJPs made the backward): no VJP of its own.
# transform -> (numpy impl, whether it takes parts, whether it gives parts)
_ON_PARTS = {"fft_c2c": (_c2c_impl, True, True), "fft_r2c": (_r2c_impl, False, True),
             "fft_c2r": (_c2r_impl, True, False)}


def _parts_impl(x, transform, **params):
    impl, takes, gives = _ON_PARTS[transform]
    if takes:
        x = np.ascontiguousarray(x).view(dtypes.complex_type(x.dtype))[..., 0]
    out = impl(x, **params)
    if not gives:
        return out
    out = np.ascontiguousarray(out, dtype=dtypes.complex_type(out.real.dtype))
    return out.view(out.real.dtype).reshape(out.shape + (2,))


def _parts_rule(x, transform, **params):
    _, takes, gives = _ON_PARTS[transform]
    shape = tuple(PRIMITIVES[transform].shape(tuple(x[:-1]) if takes else tuple(x), **params))
    return shape + (2,) if gives else shape


fft_parts_p = defprim("fft_parts", _parts_impl, _parts_rule, lambda x, **_: np.dtype(x.dtype),
                      None, (), saves=())
