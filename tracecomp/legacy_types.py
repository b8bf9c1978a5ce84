"""torch's legacy tensor types: torch.FloatTensor, LongTensor, ... and their CUDA twins.

Old programs still build tensors with them and test types with them:

    x = torch.FloatTensor([1, 2])            # data, converted to the type's dtype
    buf = torch.LongTensor(2, 3)              # a shape: an (uninitialised) 2x3 tensor
    isinstance(x, torch.FloatTensor)          # a dtype test; the tensor's class is Tensor
    x.type() == 'torch.FloatTensor'           # torch's type string, which programs compare
    x.type(torch.DoubleTensor), x.type('torch.LongTensor')

As in torch, these are not subclasses of Tensor: `type(torch.FloatTensor([1]))` is Tensor.
The CUDA types (tracecomp.cuda.FloatTensor, ...) exist so programs can name them; no tensor
is ever one, and building one raises as torch's CPU build does.
"""
import collections.abc
import warnings

import numpy as np

from . import context, dtypes
from .devices import as_device
from .dispatch import bind
from .dtypes import np_kind
from .tensor import Tensor, _init, _same_memory_while_tracing
from .tracing.array_stand_in import ArrayStandIn
from .user_code import user_stacklevel

# legacy type name -> dtype, in torch's order
NAMES = {"FloatTensor": dtypes.float32, "DoubleTensor": dtypes.float64,
         "HalfTensor": dtypes.float16, "ByteTensor": dtypes.uint8, "CharTensor": dtypes.int8,
         "ShortTensor": dtypes.int16, "IntTensor": dtypes.int32, "LongTensor": dtypes.int64,
         "BoolTensor": dtypes.bool_, "BFloat16Tensor": dtypes.bfloat16}
# x.type()'s names: complex tensors have one, though torch has no legacy class for them
_BY_DTYPE = {d.np: name for name, d in NAMES.items()} | {
    dtypes.complex64.np: "ComplexFloatTensor", dtypes.complex128.np: "ComplexDoubleTensor"}


class LegacyTensorType(type):
    """The type of torch.FloatTensor & co: calling one is torch's legacy constructor, and
    isinstance() tests a tensor's dtype (CUDA types match no tensor: tensors live on the
    CPU)."""

    def __instancecheck__(cls, x):
        return isinstance(x, Tensor) and not cls.is_cuda and x._data.dtype == cls.dtype.np

    def __call__(cls, *args, device=None):
        if cls.is_cuda:
            raise TypeError(f"type torch.cuda.{cls.__name__} not available. Torch not "
                            f"compiled with CUDA enabled.")
        return legacy_new(cls.dtype, args, device, cls.__name__)

    def __repr__(cls):
        return f"<class '{cls.__module__}.{cls.__name__}'>"


def _make_types(module, is_cuda):
    return {name: LegacyTensorType(name, (), {"dtype": dtype, "is_cuda": is_cuda,
                                              "is_sparse": False, "__module__": module})
            for name, dtype in NAMES.items()}


CPU_TYPES = _make_types("tracecomp", False)
CUDA_TYPES = _make_types("tracecomp.cuda", True)


# --- the legacy constructor ----------------------------------------------------------------
def tensor_init(self, *args, device=None):
    """Tensor.__init__, as torch.Tensor: `Tensor(2, 3)` is an uninitialised float32 tensor
    of that size, `Tensor([1, 2])` copies the data as float32, `Tensor(t)` aliases t. A
    subclass instance that its __new__ made already (Tensor.__new__, _make_subclass) is left
    as it is: torch's constructor is __new__, and its __init__ takes any arguments."""
    if type(self) is not Tensor and hasattr(self, "_data"):
        return
    t = legacy_new(None if len(args) == 1 and isinstance(args[0], Tensor) else
                   dtypes.get_default_dtype(), args, device)
    _init(self, t._data, t._requires_grad, t._node, t._vc)
    _same_memory_while_tracing(t, self)
    if t._view_of_grad:
        self._view_of_grad = True


def legacy_new(dtype, args, device=None, name="Tensor"):
    """torch's legacy constructor (torch.Tensor(...), torch.FloatTensor(...)): no argument
    is an empty tensor, ints or a Size are a shape (zero-filled here), a sequence or array is
    data, and a tensor is aliased (its dtype must match unless dtype is None)."""
    if device is not None and as_device(device).type != "cpu":
        raise RuntimeError(f"legacy constructor expects device type: cpu but device type: "
                           f"{as_device(device).type} was passed")
    if len(args) == 1 and isinstance(args[0], Tensor):
        return _alias(args[0], dtype, name)
    if len(args) == 1 and type(args[0]) is ArrayStandIn:    # a numpy argument fed to
        return args[0].converted(dtype or dtypes.get_default_dtype())   # compiled code
    return _fresh(_new(dtype, args, name), args[0] if len(args) == 1 else None)


def _fresh(t, source):
    """A tensor the constructor made anew: inside compiled code, a temporary, as tensor()
    makes one, which the code may then fill in place with traced values
    (`s = torch.FloatTensor(n).zero_(); s[i] = ...`, old attention code)."""
    trace = context.current()
    if trace is not None:
        trace.made(t, source)
    return t


def _new(dtype, args, name):
    np_dtype = (dtype or dtypes.get_default_dtype()).np
    if not args:
        return Tensor._make(np.empty((0,), dtype=np_dtype))
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        return _uninitialised(tuple(int(a) for a in args), np_dtype)
    if len(args) == 1 and type(args[0]).__name__ == "Size":
        return _uninitialised(tuple(args[0]), np_dtype)
    if len(args) > 1:
        got = ", ".join(type(a).__name__ for a in args)
        raise TypeError(f"{name}(): a size must be ints, got ({got}); pass data as one "
                        f"list, e.g. {name}([1.0, 2.0])")
    arr = _data(args[0], name)
    if not isinstance(args[0], np.ndarray):
        _check_range(arr, np_dtype)
    return Tensor._make(arr.astype(np_dtype))


def _uninitialised(shape, np_dtype):
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension "
                           f"{min(shape)}: {list(shape)}")
    return Tensor._make(np.zeros(shape, dtype=np_dtype))


def _data(data, name):
    from .creation import _to_numpy
    if isinstance(data, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    if not isinstance(data, np.ndarray) and not _is_sequence(data):
        what = type(data).__module__ + "." if isinstance(data, np.generic) else ""
        raise TypeError(f"new(): data must be a sequence (got {what}{type(data).__name__})")
    if not isinstance(data, (list, tuple, np.ndarray)):
        data = list(data)       # range(140), a deque: any sequence (pygcn's LongTensor(range))
    arr = np.array(_to_numpy(data))
    if np_kind(arr.dtype) not in "biuf":
        raise TypeError(f"{name}(): could not read numbers from {type(data).__name__} data "
                        f"(numpy made {arr.dtype} of it)")
    return arr


def _is_sequence(data):
    """Python's sequence protocol as torch's new() checks it: indexable, not a mapping."""
    return isinstance(data, collections.abc.Sequence) or (
        hasattr(type(data), "__getitem__") and hasattr(type(data), "__len__")
        and not isinstance(data, collections.abc.Mapping))


def _check_range(arr, np_dtype):
    """torch's check on Python numbers for an integer type: floats must lie in its range;
    ints too, except that uint8 takes negative ints modulo 256."""
    if np_kind(np_dtype) not in "iu" or arr.size == 0:
        return
    info = np.iinfo(np_dtype)
    if np_kind(arr.dtype) == "f":
        bad = not bool(np.all((arr >= info.min) & (arr <= info.max)))     # nan is bad too
    else:
        low = np.iinfo(np.int64).min if np_dtype == np.uint8 else info.min
        bad = bool(np.any(arr > info.max) or np.any(arr < low))
    if bad:
        raise RuntimeError(f"value cannot be converted to type {np_dtype.name} without "
                           f"overflow")


def _alias(t, dtype, name):
    """A new tensor sharing t's data and history (torch's legacy constructor aliases)."""
    if dtype is not None and t._data.dtype != dtype.np:
        raise TypeError(f"{name}(): expected a tensor of dtype {dtype} (got {t.dtype}); "
                        f"convert it first with .to({dtype})")
    from .ops.movement import reshape_p
    return bind(reshape_p, t, shape=tuple(t.shape))


# --- Tensor.type ----------------------------------------------------------------------------
def type_string(x) -> str:
    """x.type(): torch's name of x's type, 'torch.FloatTensor' (programs compare it)."""
    return "torch." + _BY_DTYPE[x._data.dtype]


def resolve(dst) -> dtypes.DType:
    """The dtype that x.type(dst) converts to: a dtype, a legacy type, Tensor (the default
    float32), or a type's name ('torch.LongTensor'; 'tracecomp.LongTensor' too)."""
    if isinstance(dst, dtypes.DType):
        return dst
    if dst is Tensor:
        return dtypes.get_default_dtype()
    if isinstance(dst, LegacyTensorType):
        if dst.is_cuda:
            raise _cuda_type_error(f"torch.cuda.{dst.__name__}")
        return dst.dtype
    if isinstance(dst, str):
        prefix, _, short = dst.rpartition(".")
        if prefix in ("torch", "tracecomp"):
            if short == "Tensor":
                return dtypes.get_default_dtype()
            if short in NAMES:
                return NAMES[short]
        if prefix in ("torch.cuda", "tracecomp.cuda") and short in NAMES:
            raise _cuda_type_error(dst)
        raise ValueError(f"invalid type: '{dst}'")
    raise ValueError(f"invalid type: '{getattr(dst, '__name__', dst)}'")


def _cuda_type_error(name):
    return RuntimeError(f"Cannot initialize CUDA: {name} is a CUDA tensor type and "
                        f"tracecomp tensors live on the CPU (Torch not compiled with CUDA "
                        f"enabled); use the CPU type, e.g. 'torch.FloatTensor'")


# --- torch.set_default_tensor_type -----------------------------------------------------------
def set_default_tensor_type(t):
    """The deprecated torch.set_default_tensor_type(torch.DoubleTensor): sets the default
    float dtype (set_default_dtype) from a floating legacy type or its name."""
    warnings.warn("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please "
                  "use torch.set_default_dtype() and torch.set_default_device() as "
                  "alternatives.", UserWarning, stacklevel=user_stacklevel())
    if isinstance(t, str):
        prefix, _, short = t.rpartition(".")
        table = {"torch": CPU_TYPES, "tracecomp": CPU_TYPES, "torch.cuda": CUDA_TYPES,
                 "tracecomp.cuda": CUDA_TYPES}.get(prefix, {})
        if short not in table:
            raise TypeError(f"invalid type: '{t}'; expected a tensor type such as "
                            f"'torch.DoubleTensor'")
        t = table[short]
    if not isinstance(t, LegacyTensorType):
        raise TypeError("invalid type object: only floating-point types are supported as the "
                        "default type")
    if t.is_cuda:
        raise TypeError(f"type torch.cuda.{t.__name__} not available. Torch not compiled "
                        f"with CUDA enabled.")
    dtypes.set_default_dtype(t.dtype)


# --- torch.is_nonzero ---------------------------------------------------------------------
def is_nonzero(x) -> bool:
    """The truth of a one-element tensor, with torch's errors for any other."""
    if not isinstance(x, Tensor):
        raise TypeError(f"is_nonzero(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    n = x.numel()
    if n != 1:
        raise RuntimeError(f"Boolean value of Tensor with "
                           f"{'no values' if n == 0 else 'more than one value'} is ambiguous")
    return bool(x.item())
