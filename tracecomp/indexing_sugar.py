"""x[key] and x[key] = v: turn Python index keys into primitives.

A key made only of ints, slices, None and Ellipsis becomes one `slice` primitive plus a
`reshape` (ints drop a dim, None adds one). Any integer tensor, list or boolean mask in the
key makes it *advanced*: it becomes one `index` primitive (numpy/torch semantics), with
boolean masks turned into the integer positions of their True elements.
"""
import numpy as np

from . import dtypes
from .errors import TraceError, fmt_shape
from .ops import movement as mv
from .ops.indexing import index
from .tensor import Tensor


def _is_advanced(k):
    return isinstance(k, (Tensor, list, np.ndarray)) or isinstance(k, bool)


def _as_tensor_key(k):
    if isinstance(k, Tensor):
        return k
    arr = np.asarray(k)
    if arr.dtype.kind not in "iub":
        raise IndexError(f"tensors used as indices must be long, int or bool tensors; got "
                         f"{arr.dtype}")
    return Tensor._make(arr if arr.dtype.kind == "b" else arr.astype(np.int64))


def _expand_ellipsis(key, ndim):
    consumed = sum(k.ndim if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL else
                   0 if k is None or k is Ellipsis else 1 for k in key)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    out = []
    for k in key:
        out.extend([slice(None)] * (ndim - consumed) if k is Ellipsis else [k])
    return out


def _norm_int(i, n, dim):
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {n}")
    return i % n


def _norm_slice(s, n):
    if s.step is not None and int(s.step) <= 0:
        raise ValueError("step must be greater than zero")
    return s.indices(n)


def parse(x, key):
    """(basic?, entries) with entries normalized against x's shape."""
    if not isinstance(key, tuple):
        key = (key,)
    key = [_as_tensor_key(k) if _is_advanced(k) else k for k in key]
    return any(isinstance(k, Tensor) for k in key), _expand_ellipsis(key, x.ndim)


def getitem(x, key):
    out = _getitem(x, key)
    if type(x._data) is not np.ndarray and isinstance(out, Tensor):
        _remember_view(x, key, out)
    return out


def _plain_key(key):
    """A comparable form of a basic key (ints, slices, None, Ellipsis), or None."""
    key = key if isinstance(key, tuple) else (key,)
    plain = []
    for k in key:
        if isinstance(k, slice):
            plain.append(("slice", k.start, k.stop, k.step))
        elif k is None or k is Ellipsis or (isinstance(k, int) and not isinstance(k, bool)):
            plain.append(k)
        else:
            return None
    return tuple(plain)


def _remember_view(x, key, out):
    """While tracing: out = x[key], so a later `x[key] = out` writes out's update back."""
    from . import tracer
    plain = _plain_key(key)
    if plain is not None and tracer.CURRENT is not None:
        tracer.CURRENT.indexed[id(out)] = (out, x, plain)


def _writing_back(x, key, value):
    from . import tracer
    hit = tracer.CURRENT.indexed.get(id(value)) if tracer.CURRENT is not None else None
    if hit is not None and hit[0] is value and hit[1] is x and hit[2] == _plain_key(key):
        tracer.CURRENT.written_back(x, value)


def _getitem(x, key):
    advanced, key = parse(x, key)
    if not advanced:
        return _basic(x, key)
    x, key = _insert_new_dims(x, key)
    idxs, entries, dim = [], [], 0
    for k in key:
        if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL:
            for pos in _mask_positions(x, k, dim):
                entries.append(len(idxs))
                idxs.append(pos)
            dim += k.ndim
            continue
        if isinstance(k, Tensor):
            entries.append(len(idxs))
            idxs.append(k)
        elif isinstance(k, slice):
            start, stop, step = _norm_slice(k, x.shape[dim])
            full = (start, stop, step) == (0, x.shape[dim], 1)
            entries.append(None if full else ("s", start, stop, step))
        else:
            entries.append(len(idxs))
            idxs.append(Tensor._make(np.asarray(_norm_int(k, x.shape[dim], dim), np.int64)))
        dim += 1
    return index(x, idxs, entries)


def _basic(x, key):
    starts, stops, steps, shape = [], [], [], []
    dim = 0
    for k in key:
        if k is None:
            shape.append(1)
            continue
        n = x.shape[dim]
        if isinstance(k, slice):
            a, b, s = _norm_slice(k, n)
            b = max(a, b)
            starts.append(a)
            stops.append(b)
            steps.append(s)
            shape.append(max(0, (b - a + s - 1) // s))
        else:
            i = _norm_int(k, n, dim)
            starts.append(i)
            stops.append(i + 1)
            steps.append(1)
        dim += 1
    for n in x.shape[dim:]:
        starts.append(0)
        stops.append(n)
        steps.append(1)
        shape.append(n)
    out = mv.slice(x, starts, stops, steps)
    return mv.reshape(out, tuple(shape))


def _insert_new_dims(x, key):
    """None entries of an advanced key: unsqueeze x there and index it with ':'."""
    if not any(k is None for k in key):
        return x, key
    shape, new_key, dim = list(x.shape), [], 0
    for k in key:
        if k is None:
            shape.insert(dim, 1)
            new_key.append(slice(None))
            dim += 1
        else:
            new_key.append(k)
            dim += k.ndim if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL else 1
    return mv.reshape(x, tuple(shape)), new_key


def _mask_positions(x, mask, dim):
    if not isinstance(mask._data, np.ndarray):
        raise TraceError("boolean-mask indexing gives a result whose shape depends on the "
                         "data, which a compiled graph cannot have; use torch.where(mask, x, 0) "
                         "or masked_fill instead")
    want = tuple(x.shape[dim:dim + mask.ndim])
    if tuple(mask.shape) != want:
        raise IndexError(f"The shape of the mask {fmt_shape(mask.shape)} at index {dim} does not "
                         f"match the shape of the indexed tensor {fmt_shape(x.shape)} at index "
                         f"{dim}")
    return [Tensor._make(p.astype(np.int64)) for p in np.nonzero(mask._data)]


def setitem(x, key, value):
    """x[key] = value, in place (torch semantics: broadcast value, cast to x's dtype)."""
    from .inplace import assign
    if type(x._data) is not np.ndarray and isinstance(value, Tensor):
        _writing_back(x, key, value)
    advanced, parsed = parse(x, key)
    if not advanced:
        parsed = [k for k in parsed if k is not None]
        idxs, entries = [], _basic_entries(x, parsed)
        if isinstance(value, Tensor) and value.ndim:
            # ints became length-1 slices: broadcast value to the int-dropped shape first
            kept = _basic(x, parsed).shape
            sliced = [len(range(*e[1:])) for e in entries] + list(x.shape[len(entries):])
            value = _fit_value(value, tuple(kept), tuple(sliced))
    else:
        y, parsed = _insert_new_dims(x, parsed)
        if y is not x:
            raise IndexError("x[..., None, ...] = v: assignment through a key with None is not "
                             "supported; drop the None")
        idxs, entries, dim = [], [], 0
        for k in parsed:
            if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL:
                for pos in _mask_positions(x, k, dim):
                    entries.append(len(idxs))
                    idxs.append(pos)
                dim += k.ndim
            elif isinstance(k, Tensor):
                entries.append(len(idxs))
                idxs.append(k)
                dim += 1
            elif isinstance(k, slice):
                a, b, s = _norm_slice(k, x.shape[dim])
                entries.append(("s", a, max(a, b), s))
                dim += 1
            else:
                entries.append(len(idxs))
                idxs.append(Tensor._make(np.asarray(_norm_int(k, x.shape[dim], dim), np.int64)))
                dim += 1
    assign(x, value, idxs, entries)


def _basic_entries(x, key):
    """Basic key -> index entries where ints become length-1 slices."""
    entries = []
    for dim, k in enumerate(key):
        n = x.shape[dim]
        if isinstance(k, slice):
            a, b, s = _norm_slice(k, n)
            entries.append(("s", a, max(a, b), s))
        else:
            i = _norm_int(k, n, dim)
            entries.append(("s", i, i + 1, 1))
    return entries


def _fit_value(value, kept, sliced):
    """Broadcast `value` to the indexing result's shape `kept` (leading 1s of value may
    drop, as in torch), then reshape it to `sliced`, the same result with int dims kept."""
    vshape = tuple(value.shape)
    while len(vshape) > len(kept) and vshape[0] == 1:
        vshape = vshape[1:]
    if len(vshape) > len(kept):
        raise RuntimeError(f"shape mismatch: value tensor of shape {fmt_shape(value.shape)} "
                           f"cannot be broadcast to indexing result of shape {fmt_shape(kept)}")
    return mv.reshape(mv.expand(mv.reshape(value, vshape), kept), sliced)
