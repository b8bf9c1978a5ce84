"""Complex numbers from and to real tensors: complex, polar, angle, view_as_real,
view_as_complex.

view_as_real and view_as_complex share memory with their operand, as torch's do (a
complex element is its real part followed by its imaginary part). VJPs follow torch's
convention for complex values (ops/elementwise.py): for a real loss, the gradient of a
complex tensor is dL/dx + i dL/dy, so a real part's gradient goes to the real part and
an imaginary part's to the imaginary part.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from . import elementwise as ew
from . import movement
from .public import public
from .registry import defprim
from .rules import broadcast_shapes


# --- complex(real, imag) ---------------------------------------------------------------
def _complex_impl(real, imag):
    out = np.empty(np.broadcast_shapes(np.shape(real), np.shape(imag)),
                   dtypes.complex_type(np.result_type(real, imag)))
    out.real, out.imag = real, imag     # parts set apart: real + 1j * inf would give NaN
    return out


def _complex_dtype(real, imag):
    a, b = np.dtype(real.dtype), np.dtype(imag.dtype)
    if a.kind != "f" or b.kind != "f":
        raise DTypeError(f"complex(): expected both inputs to be Half, Float or Double "
                         f"tensors but got {dtypes.TORCH_NAMES[a]} and {dtypes.TORCH_NAMES[b]}")
    if a != b:
        raise DTypeError(f"complex(): Expected object of scalar type {dtypes.TORCH_NAMES[a]} "
                         f"but got scalar type {dtypes.TORCH_NAMES[b]} for second argument")
    return dtypes.complex_type(a)


complex_p = defprim("complex", _complex_impl,
                    lambda a, b: broadcast_shapes("complex", a, b), _complex_dtype,
                    lambda g, out, a, b: (ew.real(g), ew.imag(g)), ("elementwise", "binary"),
                    saves=())


@public("torch")
def complex(real, imag):  # noqa: A001 - torch's name
    for name, x in (("real", real), ("imag", imag)):
        if not isinstance(x, Tensor):
            raise TypeError(f"complex(): argument '{name}' must be Tensor, not "
                            f"{type(x).__name__}")
    return bind(complex_p, real, imag)


@public("torch")
def polar(abs, angle):  # noqa: A002 - torch's names
    """abs * (cos(angle) + i sin(angle))."""
    return complex(abs * ew.cos(angle), abs * ew.sin(angle))


# --- angle ----------------------------------------------------------------------------
def _angle_vjp(g, out, x):
    if x._data.dtype.kind != "c":       # 0 or pi: flat
        return (ew.zeros_like(x),)
    # d angle = (-y dx + x dy) / |z|^2, i.e. the gradient i z / |z|^2 (0 at z = 0)
    size2 = ew.real(x * ew.conj(x))
    return (ew.where(size2 == 0, 0.0, g * x * 1j / ew.where(size2 == 0, 1.0, size2)),)


def _angle_impl(x):
    if x.dtype.kind == "c":
        return np.angle(x)
    # real x: pi for negatives, 0 otherwise, NaN kept (torch's)
    return np.where(x < 0, np.pi, np.where(np.isnan(x), x, 0)).astype(
        x.dtype if x.dtype.kind == "f" else dtypes.default_float())


def _angle_dtype(x):
    return dtypes.real_type(dtypes.float_type(np.dtype(x.dtype)))


angle_p = defprim("angle", _angle_impl, lambda x: tuple(x), _angle_dtype, _angle_vjp,
                  ("elementwise", "unary"), saves=(0,))


@public("torch", "Tensor")
def angle(input):  # noqa: A002
    return bind(angle_p, input)


# --- views between complex and pairs of reals ----------------------------------------
def _as_real(x):
    """A complex array's memory as (..., 2) reals: a view, writes go through."""
    part = x.real           # a view with x's strides, of the real dtype
    return np.lib.stride_tricks.as_strided(part, x.shape + (2,),
                                           x.strides + (part.itemsize,), writeable=True)


def _last_part(g, k):
    """g[..., k] of a (..., 2) tensor, from primitives (a slice, then a reshape)."""
    n = g.ndim
    sliced = movement.slice(g, (0,) * (n - 1) + (k,), tuple(g.shape[:-1]) + (k + 1,),
                            (1,) * n)
    return movement.reshape(sliced, tuple(g.shape[:-1]))


view_as_real_p = defprim("view_as_real", _as_real, lambda x: tuple(x) + (2,),
                         lambda x: dtypes.real_type(np.dtype(x.dtype)),
                         lambda g, out, x: (complex(_last_part(g, 0), _last_part(g, 1)),),
                         ("movement", "view"), saves=())


def _as_complex(x):
    return x.view(dtypes.complex_type(x.dtype))[..., 0]


def _as_complex_rule(x):
    if len(x) == 0 or x[-1] != 2:
        raise ShapeError(f"view_as_complex: Tensor must have a last dimension of size 2, got "
                         f"shape {list(x)}")
    return tuple(x[:-1])


view_as_complex_p = defprim("view_as_complex", _as_complex, _as_complex_rule,
                            lambda x: dtypes.complex_type(np.dtype(x.dtype)),
                            # (the primitive: a gradient may carry the conj bit of a VJP's
                            # conj, whose values are conjugated already)
                            lambda g, out, x: (bind(view_as_real_p, g),), ("movement", "view"),
                            saves=())


@public("torch")
def view_as_real(input):  # noqa: A002
    if input._data.dtype.kind != "c":
        raise RuntimeError(f"view_as_real is only supported for complex tensors (got "
                           f"{input.dtype})")
    if input.is_conj():
        raise RuntimeError("view_as_real doesn't work on unresolved conjugated tensors.  To "
                           "resolve the conjugate tensor so you can view it as real, use "
                           "self.resolve_conj()")
    return bind(view_as_real_p, input)


@public("torch")
def view_as_complex(input):  # noqa: A002
    data = input._data
    if data.dtype not in (dtypes.F32, dtypes.F64):
        raise RuntimeError(f"view_as_complex is only supported for float and double tensors, "
                           f"but got a tensor of scalar type: "
                           f"{dtypes.TORCH_NAMES.get(data.dtype, data.dtype)}")
    _as_complex_rule(data.shape)
    if isinstance(data, np.ndarray):
        if data.strides[-1] != data.itemsize:
            raise RuntimeError("view_as_complex: Tensor must have a last dimension with "
                               "stride 1")
        if any(s % (2 * data.itemsize) for s in data.strides[:-1]):
            raise RuntimeError("view_as_complex: Tensor must have a stride divisible by 2 "
                               "for all but last dimension")
    return bind(view_as_complex_p, input)
