"""Tensor methods about where a tensor lives and what type it has: to, cuda, cpu, type,
pin_memory and the new_* creators (which take device= like every creation function).

A tensor lives on the CPU (numpy) or, where a device backend keeps tensors (devices.py), on
that device (a DeviceArray); to/cuda/cpu copy between them. Where no backend keeps them, a
device other than the CPU raises what torch's CPU build raises, never a silent CPU tensor.
"""
import numpy as np

from . import dtypes, grad_mode
from .autograd.function import Function
from .device_array import DeviceArray
from .devices import (
    CPU,
    NO_ACCELERATOR,
    as_device,
    check_placement,
    current_accelerator,
    placed,
    to_device,
    to_host,
)
from .legacy_types import is_nonzero, resolve, type_string
from .memory_format import is_copy_of_itself
from .ops import elementwise as ew
from .tensor import Size, Tensor

# Python types as dtypes mean what they mean to torch: float is float64
_PYTHON_DTYPES = {float: dtypes.float64, int: dtypes.int64, bool: dtypes.bool_}
_TO_FORMS = ("to(dtype, non_blocking=False, copy=False), "
             "to(device=None, dtype=None, non_blocking=False, copy=False), "
             "to(other, non_blocking=False, copy=False)")


def _as_dtype(d):
    """d as a dtype if it is one (DType, numpy dtype, float/int/bool), else None."""
    if isinstance(d, (dtypes.DType, np.dtype)):
        return d
    return _PYTHON_DTYPES.get(d) if isinstance(d, type) else None


def parse_to(args, kwargs, op="to"):
    """(device, dtype, non_blocking, copy) from torch's three forms of .to(...)."""
    kwargs = dict(kwargs)
    device_ = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    flags = [kwargs.pop("non_blocking", False), kwargs.pop("copy", False)]
    kwargs.pop("memory_format", None)       # one dense layout here: every format is it
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        device_, dtype = other.device, other.dtype
    elif rest and _as_dtype(rest[0]) is not None:
        dtype = _once(dtype, rest.pop(0), op)
    elif rest and rest[0] is not None and not isinstance(rest[0], bool):
        device_ = rest.pop(0)
        if rest and _as_dtype(rest[0]) is not None:
            dtype = _once(dtype, rest.pop(0), op)
    elif rest and rest[0] is None:
        rest.pop(0)
    if kwargs or len(rest) > 2 or not all(isinstance(f, bool) for f in rest):
        got = ", ".join([type(a).__name__ for a in args] + [f"{k}=" for k in kwargs])
        raise TypeError(f"{op}() received an invalid combination of arguments - got ({got}), "
                        f"but expected one of: {_TO_FORMS}")
    flags[:len(rest)] = rest
    if dtype is not None:
        dtype = _as_dtype(dtype) or dtypes.from_np(dtypes.to_np(dtype))
    return device_, dtype, flags[0], flags[1]


def _once(given, positional, op):
    if given is not None:
        raise TypeError(f"{op}() got dtype twice: {given} (dtype=) and {positional}")
    return positional


def to(x, *args, **kwargs):
    """x.to(dtype), x.to(device), x.to(device, dtype), x.to(other): x itself when nothing
    changes (unless copy=True), else a converted copy that gradients flow through."""
    memory_format = kwargs.pop("memory_format", None)
    device_, dtype, _, copy = parse_to(args, kwargs)
    moved = x if device_ is None else move(x, device_)
    if dtype is not None and dtypes.to_np(dtype) != x._data.dtype:
        moved = ew.cast(moved, dtype)
    elif copy and moved is x:
        moved = ew.clone(moved)
    if memory_format is None or not isinstance(moved._data, np.ndarray) or \
            is_copy_of_itself(moved._data, memory_format):
        return moved
    return ew.clone(moved, memory_format=memory_format)


def move(x, where):
    """x on device `where`: x itself when it is there already, else a copy there that
    gradients flow back through. Inside compiled code x stays as it is: a compiled graph is
    device-neutral, and its backend places every value."""
    where = placed(where)
    data = x._data
    if not isinstance(data, (np.ndarray, DeviceArray)):
        check_placement(where, moving=True)
        return x
    if x.device == where:
        return x
    if where.type != "cpu":
        check_placement(where, moving=True)
    if x._requires_grad and grad_mode.state.enabled:
        return _Move.apply(x, where)
    return Tensor._make(moved_data(data, where))


def moved_data(data, where):
    """Tensor data (numpy or a DeviceArray) copied to device `where`."""
    host = to_host(data)            # a fresh copy when data is on a device
    return host if where.type == "cpu" else to_device(host, where)


class _Move(Function):
    """A device copy on the autograd tape (torch's ToCopyBackward): the gradient goes back
    to the device the input came from."""

    @staticmethod
    def forward(ctx, x, where):
        ctx.source = x.device
        return Tensor._make(moved_data(x._data, where))

    @staticmethod
    def backward(ctx, grad):
        return move(grad, ctx.source), None


def check_cuda(device=None):
    """The CUDA device x.cuda(device) goes to; raises as torch where there is none."""
    d = as_device("cuda" if device is None else device)
    if d.type != "cuda":
        raise RuntimeError("Invalid device, must be cuda device")
    check_placement(d)
    return d


def cuda(x, device=None, non_blocking=False, memory_format=None):
    """x.cuda(): x on a CUDA device (x itself if it is there)."""
    return move(x, check_cuda(device))


def cpu(x, memory_format=None):
    """x.cpu(): x on the CPU (x itself if it is there)."""
    return move(x, CPU)


def tensor_type(x, dtype=None, non_blocking=False, **kwargs):
    """x.type(): 'torch.FloatTensor'; x.type(dst): x converted to a dtype, a legacy type
    (torch.DoubleTensor) or a type's name ('torch.LongTensor')."""
    if dtype is None:
        return type_string(x)
    return to(x, resolve(dtype))


def pin_memory(x, device=None):
    """x.pin_memory(): x itself where an accelerator exists (copies to it come from any
    host memory; pinning would only make them asynchronous), torch's error where none
    does."""
    if current_accelerator() is None:
        raise RuntimeError(NO_ACCELERATOR)
    return x


# --- new_*: a new tensor with x's dtype and device (not the default device) unless told -----
def _new_options(x, dtype, device_, layout, pin_memory_):
    if device_ is not None:
        check_placement(device_)
    if layout is not None and not str(layout).endswith("strided"):
        raise NotImplementedError(f"tracecomp tensors are dense (strided); layout={layout} "
                                  f"is not supported")
    if pin_memory_:
        raise RuntimeError("pin_memory=True requires a CUDA or other accelerator backend; no "
                           "pinned memory allocator is available on this system.")
    return dtype or x.dtype


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def _size_by_name(size, by_name, op):
    """The size given as positional ints, one sequence, or size= (torch takes each)."""
    unknown = sorted(set(by_name) - {"size"})
    if unknown:
        raise TypeError(f"{op}() got an unexpected keyword argument '{unknown[0]}'")
    if "size" in by_name and size:
        raise TypeError(f"{op}(): the size is given twice, positionally and as size=")
    return (by_name["size"],) if "size" in by_name else size


def _new_filled(value, op):
    def new(x, *size, dtype=None, device=None, requires_grad=False, layout=None,
            pin_memory=False, **by_name):
        from .creation import full
        size = _size_by_name(size, by_name, op)
        d = _new_options(x, dtype, device, layout, pin_memory)
        return full(tuple(int(s) for s in _shape(size)), value, dtype=d,
                    requires_grad=requires_grad,
                    device=x.device if device is None else device)
    return new


def new_full(x, size, fill_value, *, dtype=None, device=None, requires_grad=False,
             layout=None, pin_memory=False):
    from .creation import full
    d = _new_options(x, dtype, device, layout, pin_memory)
    return full(tuple(size), fill_value, dtype=d, requires_grad=requires_grad,
                    device=x.device if device is None else device)


def new_tensor(x, data, *, dtype=None, device=None, requires_grad=False, layout=None,
               pin_memory=False):
    from .creation import tensor
    if device is not None:
        check_placement(device, moving=True)      # torch builds it on the CPU, then moves it
    d = _new_options(x, dtype, None, layout, pin_memory)
    return tensor(data, dtype=d, requires_grad=requires_grad,
                    device=x.device if device is None else device)


def new(x, *args, dtype=None, device=None):
    """The legacy constructor (`weight.new(n_layers, batch, hidden).zero_()` in course
    code): x's dtype and device; x.new(*sizes) or x.new(torch.Size) an uninitialized
    tensor of that shape (zeros here), x.new(sequence) a tensor of the data, x.new() an
    empty one; x.new(t) t's memory (t of x's dtype, as torch requires)."""
    from .creation import empty, tensor
    d, where = dtype or x.dtype, x.device if device is None else device
    if len(args) == 1 and isinstance(args[0], Tensor):
        if args[0].dtype != d:
            raise TypeError(f"Tensor.new(): expected a tensor of dtype {d}, got "
                            f"{args[0].dtype}")
        return args[0].detach()     # its memory, without its history
    if len(args) == 1 and isinstance(args[0], (list, tuple)) and \
            not isinstance(args[0], Size):
        return tensor(args[0], dtype=d, device=where)
    sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size) else args
    return empty(*sizes, dtype=d, device=where) if sizes else empty(0, dtype=d, device=where)


METHODS = {
    "new": new,
    "to": to, "cuda": cuda, "cpu": cpu, "type": tensor_type, "pin_memory": pin_memory,
    "new_zeros": _new_filled(0, "new_zeros"), "new_ones": _new_filled(1, "new_ones"),
    "new_empty": _new_filled(0, "new_empty"),
    "new_full": new_full, "new_tensor": new_tensor, "is_nonzero": is_nonzero,
    "byte": lambda x: to(x, dtypes.uint8), "char": lambda x: to(x, dtypes.int8),
    "short": lambda x: to(x, dtypes.int16),
}
