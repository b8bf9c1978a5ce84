"""torch.as_strided and its family: views that address a tensor's storage directly by
size, stride and storage offset (in elements), as torch's.

as_strided(x, size, stride, offset) is a view primitive whose numpy impl re-strides x's
storage, the root array its memory belongs to, so the result shares memory with x and with
every other view of that storage (a write through it is seen by x). Its gradient is
torch's AsStridedBackward0: the output's gradient is added into a storage-sized buffer at
the positions the view reads, and x takes the entries at its own positions (divided by how
often x itself reads each one, for an x that overlaps itself). Strides exist only for real
memory, so as_strided inside traced code is a TraceError naming it (a graph break).

as_strided_scatter is the functional form, built from index ops: a copy of x whose
elements at the view's storage positions are src's. Its gradient is that of those index
ops, the true one: torch 2.13's AsStridedScatterBackward0 gives input a wrong gradient (and
refuses a non-contiguous input that requires grad). as_strided_ re-strides x itself, and
as_strided_copy is the view's values as a new tensor.

Tensor.unfold(dim, size, step), sliding windows along dim as a new last dim, is such a view
eagerly (torch's strides: dim's stride times step, then dim's own stride), its node named
UnfoldBackward0 as torch's. Traced values and tensors on a device have no strides: there,
and for a numpy broadcast (no one dense block of memory), it is the same windows copied;
in a trace the copy is held as sharing memory with x (Tracer.alias), so a write through
either makes the other unreadable, a graph break whose eager run writes x as torch does,
never a write lost silently.
"""
import numpy as np

from . import composite as C
from . import context
from .device_array import DeviceArray
from .dispatch import bind, chain
from .errors import TraceError
from .grad_fn_names import renamed
from .layouts import storage_root
from .ops import elementwise as ew
from .ops.public import public
from .ops.registry import defprim
from .tensor import Tensor, _wrap_dim
from .torch_args import with_out


def _storage(data):
    """(the storage of numpy array data as a flat array, data's offset in it in elements)."""
    root = storage_root(data)
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        raise NotImplementedError("as_strided: this tensor's memory is not one dense block "
                                  "(it comes from a broadcast numpy array); call "
                                  ".contiguous() first")
    flat = root.ravel(order="K")          # a view: root is one dense block
    offset = (data.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) \
        // data.itemsize
    return flat, offset


def _positions(size, stride, offset):
    """The storage index of each element of a (size, stride, offset) view."""
    index = np.full(tuple(size), offset, dtype=np.int64)
    for dim, (n, step) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[dim] = n
        index = index + (np.arange(n, dtype=np.int64) * step).reshape(shape)
    return index


def _own_positions(data):
    """The storage index of each element of numpy array data."""
    _, offset = _storage(data)
    return _positions(data.shape, [s // data.itemsize for s in data.strides], offset)


def _impl(x, size, stride, offset):
    # an ndarray over the storage array itself (not numpy's as_strided, whose result hides
    # its base), so the view's base chain and storage offset lead back to the storage
    flat, own = _storage(x)
    start = own if offset is None else offset
    if 0 in size and start >= flat.size:       # an empty view past the end: numpy's buffer
        start = 0                              # check refuses it; nothing is read anyway
    return np.ndarray(size, x.dtype, buffer=flat, offset=start * x.itemsize,
                      strides=tuple(s * x.itemsize for s in stride))


def _shape(x_shape, size, stride, offset):
    return tuple(size)


def _dtype(x, *_, **__):
    return x.dtype


def _vjp(g, out, x, size, stride, offset):
    """torch's as_strided_backward, in storage coordinates (positions from x's memory)."""
    flat, own = _storage(x._data)
    start = own if offset is None else offset
    read = Tensor._make(_positions(size, stride, start).reshape(-1))
    mine = _own_positions(x._data).reshape(-1)
    storage = Tensor._make(np.zeros(flat.size, g._data.dtype)).index_add(0, read, g.reshape(-1))
    counts = np.bincount(mine, minlength=flat.size)
    if counts.max(initial=0) > 1:          # x reads some storage elements more than once
        storage = storage / Tensor._make(np.maximum(counts, 1).astype(g._data.dtype))
    return (storage[Tensor._make(mine)].reshape(tuple(x.shape)),)


# the VJP reads x's layout, never its values (torch's AsStridedBackward0 saves its geometry
# alone): a write into x after the view was made (`u = a.unfold(1, 2, 2); u.copy_(u * 0)`)
# leaves the gradient as it was, where a saved x would refuse it as modified in place
as_strided_p = defprim("as_strided", _impl, _shape, _dtype, _vjp, ("view",), saves=())


def _checked(input, size, stride, storage_offset, op):  # noqa: A002
    if context.current() is not None or not isinstance(input._data, np.ndarray):
        if isinstance(input._data, DeviceArray):
            raise NotImplementedError(f"{op}: tracecomp re-strides CPU tensors only (this one "
                                      f"is on {input.device})")
        raise TraceError(f"{op}: a view by strides into the tensor's memory, which traced "
                         f"values do not have; call it outside the compiled function")
    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got "
                           f"strides: {list(stride)}")
    flat, own = _storage(input._data)
    offset = own if storage_offset is None else int(storage_offset)
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    need = 0 if 0 in size else offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if need > flat.size:
        item = input._data.itemsize
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage "
                           f"offset {offset}, and itemsize {item} requiring a storage size of "
                           f"{need * item} are out of bounds for storage of size "
                           f"{flat.size * item}")
    return size, stride, None if storage_offset is None else offset


@public("torch", "Tensor")
def as_strided(input, size, stride, storage_offset=None):  # noqa: A002
    size, stride, offset = _checked(input, size, stride, storage_offset, "as_strided")
    return bind(as_strided_p, input, size=size, stride=stride, offset=offset)


@public("torch", "Tensor")
def as_strided_(input, size, stride, storage_offset=None):  # noqa: A002
    """input re-strided in place (its values become the view's; its memory stays shared)."""
    size, stride, offset = _checked(input, size, stride, storage_offset, "as_strided_")
    if input.requires_grad:
        raise NotImplementedError("as_strided_: re-striding a tensor that requires grad in "
                                  "place is not supported; use as_strided")
    input._data = _impl(input._data, size, stride, offset)
    return input


@public("torch")
@with_out
def as_strided_copy(input, size, stride, storage_offset=None):  # noqa: A002
    return ew.contiguous_copy(as_strided(input, size, stride, storage_offset))


@public("torch", "Tensor")
def as_strided_scatter(input, src, size, stride, storage_offset=None):  # noqa: A002
    """A copy of input whose elements that input.as_strided(size, stride, storage_offset)
    would address are src's: the positions are in input's storage, and only input's own
    elements among them are written (torch's result, whatever input's layout)."""
    if context.current() is not None:
        raise TraceError("as_strided_scatter: its positions are in the memory of the input, "
                         "which traced values do not have; call it outside the compiled "
                         "function")
    size, stride, offset = _checked(input, size, stride, storage_offset, "as_strided_scatter")
    if tuple(src.shape) != size:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src "
                           f"size = {list(src.shape)}, slice size = {list(size)}")
    flat, own = _storage(input._data)
    mine = Tensor._make(_own_positions(input._data).reshape(-1))
    where = Tensor._make(_positions(size, stride, own if offset is None else offset)
                         .reshape(-1))
    storage = Tensor._make(np.zeros(flat.size, input._data.dtype))
    storage = storage.index_put((mine,), input.reshape(-1))     # input's values, in place
    storage = storage.index_put((where,), ew.cast(src, input.dtype).reshape(-1))
    return storage[mine].reshape(tuple(input.shape))


@public("Tensor")
def unfold(input, dimension, size, step):  # noqa: A002
    """Sliding windows of `size` elements, `step` apart, along `dimension` (a new last dim);
    a view of input, with torch's checks of the arguments."""
    x = input
    d = _wrap_dim(dimension, x.ndim, "unfold") if x.ndim else 0
    n = x.shape[d] if x.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is "
                           f"{size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    count = (n - size) // step + 1
    data = x._data
    if type(data) is np.ndarray and context.current() is None and _dense(data):
        if x.ndim == 0:
            shape, strides = (size,), (1,)
        else:
            own = [s // data.itemsize for s in data.strides]
            shape = tuple(x.shape[:d]) + (count,) + tuple(x.shape[d + 1:]) + (size,)
            strides = tuple(own[:d]) + (own[d] * step,) + tuple(own[d + 1:]) + (own[d],)
        return renamed(bind(as_strided_p, x, size=shape, stride=strides, offset=None), x,
                       "UnfoldBackward0")
    starts = [C.narrow(x, d, i * step, size) for i in range(count)]
    out = C.movedim(C.stack(starts, d), d + 1, -1)
    tracer = context.current()
    if tracer is not None:      # eagerly the windows are x's memory: a write through either
        tracer.alias(x, chain(out)[1])  # makes the other unreadable (a graph break); out is
        #                                 a view (movedim) of the copy that owns its values
    return out


def _dense(data):
    root = storage_root(data)
    return root.flags.c_contiguous or root.flags.f_contiguous
