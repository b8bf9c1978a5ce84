"""torch's argument spellings that every op shares: `axis=` for `dim=`, `keepdims=` for
`keepdim=`, and `out=` (the result written into a given tensor, which is returned).

`aliased(fn)` and `with_out(fn)` wrap an op written with torch's canonical names; a call
without keyword arguments pays one dict test. `out=` follows torch: the result is cast to
out's dtype when torch allows it, an out of another shape is resized (with torch's warning
when it held elements), and out= refuses to take part in autograd.
"""
import functools
import warnings

import numpy as np

from . import dtypes, grad_mode
from .errors import DTypeError
from .tensor import Tensor
from .user_code import user_stacklevel

ALIASES = {"axis": "dim", "keepdims": "keepdim"}
def int_sizes(op, sizes, name="size"):
    """Sizes given as ints, one tuple or list of them (`x.view(2, 3)`, `x.view((2, 3))`):
    a tuple of ints. A float among them raises torch's TypeError; ints that are not Python's
    (numpy's, a 0-d integer tensor, a symbolic size) are turned into ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    for pos, s in enumerate(sizes):
        if isinstance(s, (float, np.floating)) or (isinstance(s, Tensor) and
                                                   s.dtype.is_floating_point):
            raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, but found "
                            f"element of type {type(s).__name__} at pos {pos}")
    return tuple(int(s) for s in sizes)


def scalar_name(dtype):
    """torch's ScalarType name of a dtype (tracecomp's or numpy's), as its messages print
    it: Float, Long, BFloat16, ..."""
    np_dtype = dtype.np if isinstance(dtype, dtypes.DType) else dtypes.from_np(dtype).np
    return dtypes.TORCH_NAMES[np_dtype]


def rename(op, kw):
    """kw with numpy's spellings turned into torch's (torch accepts both)."""
    for alias, name in ALIASES.items():
        if alias in kw:
            if name in kw:
                raise TypeError(f"{op}() got both '{name}' and its alias '{alias}'")
            kw[name] = kw.pop(alias)
    return kw


def aliased(fn, name=None):
    """fn accepting axis=/keepdims= as well as dim=/keepdim=."""
    op = name or fn.__name__

    @functools.wraps(fn)
    def call(*args, **kw):
        if kw:
            rename(op, kw)
        return fn(*args, **kw)
    return call


def with_out(fn, name=None, cast="same_kind", overlap=False):
    """fn accepting out= (a tensor, or a tuple of tensors for ops that return several), and
    axis=/keepdims=. cast="unsafe" for reductions, which torch lets write into any dtype.
    overlap: refuse an out that partly overlaps a tensor argument, as torch's elementwise
    ops do (`torch.add(t[0:5], 1, out=t[2:7])`; inplace_view.check_partial_overlap)."""
    op = name or fn.__name__

    @functools.wraps(fn)
    def call(*args, **kw):
        if not kw:
            return fn(*args)
        out = kw.pop("out", None)
        result = fn(*args, **rename(op, kw))
        if out is None:
            return result
        if overlap and isinstance(out, Tensor):     # (after the arguments' own checks)
            from .inplace_view import check_partial_overlap
            check_partial_overlap(out, args)
        if isinstance(result, tuple):
            if not isinstance(out, (tuple, list)) or len(out) != len(result):
                raise TypeError(f"{op}(): argument 'out' must be a tuple of {len(result)} "
                                f"Tensors")
            written = tuple(write_out(o, r, op, cast) for o, r in zip(out, result))
            return type(result)._make(written) if hasattr(result, "_make") else written
        return write_out(out, result, op, cast)
    return call


def write_out(out, result, op, cast="same_kind"):
    """Write result into out (torch's rules) and return out."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if grad_mode.state.enabled and (result._requires_grad or out._requires_grad):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           f"differentiation, but one of the arguments requires grad.")
    want, have = np.dtype(result._data.dtype), out._data.dtype
    if cast != "unsafe" and dtypes.category(want) > dtypes.category(have):
        raise DTypeError(f"{op}(): result type {scalar_name(want)} can't be cast to the "
                         f"desired output type {scalar_name(have)}")
    if not isinstance(out._data, np.ndarray) or not isinstance(result._data, np.ndarray):
        from .inplace import commit
        if tuple(out.shape) != tuple(result.shape):
            raise RuntimeError(f"{op}(): out= of shape {list(out.shape)} cannot take a result "
                               f"of shape {list(result.shape)} inside compiled code (it would "
                               f"have to be resized); pass an out of the result's shape")
        with grad_mode.no_grad():
            return commit(out, result, op)
    if out._data.shape != result._data.shape:
        if out._data.size:
            warnings.warn(f"An output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape "
                          f"{list(result.shape)}. This behavior is deprecated, and in a future "
                          f"PyTorch release outputs will not be resized unless they have zero "
                          f"elements. You can explicitly reuse an out tensor t by resizing it, "
                          f"inplace, to zero elements with t.resize_(0).", UserWarning,
                          stacklevel=user_stacklevel())
        out._data = np.empty(result._data.shape, have)
    np.copyto(out._data, result._data, casting="unsafe")
    out._vc[0] += 1
    return out


def is_one(scale):
    """Whether an alpha= or value= scale is the plain number 1, which an op may skip. Only a
    plain number (or a numpy scalar) is compared: a tensor is not, nor a number fed to
    compiled code (tracing/number.py), which comparing would read and so compile in (its
    product gives the same numbers)."""
    kind = type(scale)
    return (kind in (int, float, bool) or issubclass(kind, np.generic)) and scale == 1


def number_first(name, keyword, number, tensors, given, n):
    """(tensors, number) of torch's deprecated overloads that put the number first, which
    it still takes with a warning: `p.data.add_(-lr, grad)` is add_(grad, alpha=-lr),
    `addcmul_(0.5, t1, t2)` is addcmul_(t1, t2, value=0.5) (old optimizers and tutorials
    are written so). Each op calls it when given a positional argument more than its
    current form takes: `number` then `tensors` (n of them) as given; `given`: the
    keyword's value in the call, which the old form cannot have set."""
    if len(tensors) != n or not isinstance(number, (int, float)) or isinstance(number, bool) \
            or not all(isinstance(t, Tensor) for t in tensors) or given != 1:
        raise TypeError(f"{name}() takes the tensor, then {n} more, with {keyword}= as a "
                        f"keyword; got {len(tensors) + 2} positional arguments")
    old = ", ".join(["Number " + keyword] + ["Tensor"] * n)
    warnings.warn(f"This overload of {name} is deprecated: {name}({old}). Use "
                  f"{name}({', '.join(['Tensor'] * n)}, *, {keyword}=...) instead",
                  UserWarning, stacklevel=user_stacklevel())
    return tensors, number


def creating_into(fn):
    """torch.zeros(..., out=t), torch.rand(2, 2, out=c): a creation function that writes
    into `out` (resized to the result, as torch's) in out's dtype unless dtype= says
    otherwise. Only the torch-level names take it: tracecomp's own calls stay direct."""
    @functools.wraps(fn)
    def call(*args, out=None, **kw):
        if out is None:
            return fn(*args, **kw)
        if not isinstance(out, Tensor):
            raise TypeError(f"{fn.__name__}(): argument 'out' must be Tensor, not "
                            f"{type(out).__name__}")
        kw.setdefault("dtype", out.dtype)
        with grad_mode.no_grad():
            result = fn(*args, **kw)
            if tuple(out.shape) != tuple(result.shape) and type(out._data) is np.ndarray:
                out.resize_(tuple(result.shape))    # torch's factories resize silently
            return write_out(out, result, fn.__name__)
    return call
