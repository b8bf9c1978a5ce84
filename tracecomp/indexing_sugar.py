"""x[key] and x[key] = v: turn Python index keys into primitives.

`indexing_keys.entries` says what a key means (torch's rules). A key made only of ints,
slices, None and Ellipsis is *basic*: it becomes one `slice` primitive plus a `reshape` (ints
drop a dim, None adds one), named on the tape as torch's chain of Select/Slice/Unsqueeze
nodes. Any index tensor, sequence, bool or mask in the key makes it
*advanced*: it becomes one `index` primitive (numpy/torch semantics), with boolean masks
turned into the integer positions of their True elements.

Eagerly, a basic key on a tensor that records no tape (no grad needed) skips the primitives:
numpy's basic indexing gives the same view directly (see `_fast_view`), which matters for
code that slices in Python loops, like the bigram scripts' batch sampling.
"""
import operator

import numpy as np

from . import dispatch, dtypes, grad_mode
from .device_array import DeviceArray
from .devices import to_host
from .dtypes import np_kind
from .errors import TraceError, fmt_shape
from .grad_fn_names import chained
from .indexing_keys import BoolIndex, entries
from .ops import movement as mv
from .ops.indexing import index
from .tensor import Tensor, made_in_grad, no_grad_view

_grad = grad_mode.state
_make = Tensor._make


def _fast_view(data, key):
    """data[key] as a numpy view when `key` is basic and valid (ints, slices with positive
    steps, None, one Ellipsis), else None: the primitives then take it, with their errors.
    A trailing Ellipsis makes numpy return a 0-d view, not a scalar, for a full selection."""
    parts = key if type(key) is tuple else (key,)
    ellipsis = False
    for k in parts:
        kind = type(k)
        if kind is int or k is None:
            continue
        if kind is slice:
            step = k.step
            if step is not None and not (type(step) is int and step > 0):
                return None
            if not (_bound(k.start) and _bound(k.stop)):
                return None
        elif k is Ellipsis and not ellipsis:
            ellipsis = True
        else:
            return None     # tensors, sequences, bools, a second Ellipsis: the full path
    try:
        return data[parts if ellipsis else parts + (Ellipsis,)]
    except IndexError:
        return None         # out of bounds, too many indices: the full path says so


def _int_tensor(t):
    """An eager 0-d signed integer tensor: an int, as torch reads it in an index (a uint8 one
    is a legacy mask)."""
    return isinstance(t, Tensor) and type(t._data) is np.ndarray and t._data.ndim == 0 and \
        np_kind(t._data.dtype) == "i"


def _bound(b):
    """A slice bound numpy reads as torch does: None, an int, or an eager 0-d int tensor."""
    return b is None or type(b) is int or _int_tensor(b)


# torch's words for x[0] and x[:] on a 0-d tensor
_ZERO_DIM = {int: "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                  "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number",
             slice: "slice() cannot be applied to a 0-dim tensor."}


def _advanced(k):
    return isinstance(k, (Tensor, BoolIndex))


def _expand_ellipsis(key, ndim):
    consumed = sum(k.ndim if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL else
                   0 if k is None or k is Ellipsis or isinstance(k, BoolIndex) else 1
                   for k in key)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        if ndim == 0 and len(key) == 1 and type(key[0]) in (int, slice):
            raise IndexError(_ZERO_DIM[type(key[0])])
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
        raise ValueError("slice step cannot be zero" if int(s.step) == 0 else
                         "step must be greater than zero")
    return s.indices(n)


def parse(x, key):
    """(advanced?, entries) with the Ellipsis expanded against x's shape."""
    key = entries(key)
    return any(_advanced(k) for k in key), _expand_ellipsis(key, x.ndim)


def _int_key(key):
    """An eager 0-d signed integer tensor index as the int it is (x[t] is the view x[3] is,
    SelectBackward), so it takes the int paths; any other key as it is."""
    return int(key._data) if _int_tensor(key) else key


def getitem(x, key):
    data = x._data
    if type(key) is Tensor:
        if np_kind(key._data.dtype) == "i" and key._data.ndim and data.ndim:
            return index(x, [key], (0,))    # x[positions], as embedding lookups do
        key = _int_key(key)
    if type(key) is not Tensor and type(data) is np.ndarray and \
            not ((wants := x._requires_grad) and _grad.enabled):
        view = _fast_view(data, key)
        if view is not None:    # what slice + reshape give: a view, no tape node
            out = _make(view, False, None, x._vc)
            out._view = (x, None, key, made_in_grad(x))    # replayed as x[key] (inplace_view)
            if wants:               # grad mode is off: torch's view made under no_grad
                no_grad_view(out)
            if dispatch.trace_hook is not None:
                _view_while_tracing(x, key, out)
            return out
    out = _getitem(x, key, type(key) is slice)
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
    from . import context
    plain = _plain_key(key)
    active = context.current()
    if plain is not None and active is not None:
        active.indexed[id(out)] = (out, x, plain)


def _view_while_tracing(x, key, out):
    """out = x[key], a numpy view of a real tensor, made while compiled code is traced:
    the tracer learns what bind would have told it. out is a temporary when x is one (so
    `forces = zeros(n, 2); forces[0] += f` may update it with traced values), an update
    through either makes the other stale, and `x[key] = out` writes out's update back."""
    from . import context
    active = context.current()
    if active is None:
        return
    if active.made_here(x):
        active.created[id(out)] = out
    active.alias(x, out)
    _remember_view(x, key, out)


def _writing_back(x, key, value):
    from . import context
    active = context.current()
    hit = active.indexed.get(id(value)) if active is not None else None
    if hit is not None and hit[0] is value and hit[1] is x and hit[2] == _plain_key(key):
        active.written_back(x, value)


def _getitem(x, key, lone_slice=False):
    advanced, key = parse(x, key)
    if not advanced:
        return _basic(x, key, lone_slice)
    x, key = _ints_first(x, key)
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


def _basic(x, key, lone_slice=False):
    """One slice and one reshape; the tape names them as the chain of nodes torch records:
    one per entry (Select for an int, Unsqueeze for None, Slice for a slice), left to right,
    except a slice in a tuple that keeps its whole dim (`:`, `0:n` or more), which torch
    skips. A key that is one slice is always sliced (`x[:]` records SliceBackward0)."""
    starts, stops, steps, shape, names = [], [], [], [], []
    dim = 0
    for k in key:
        if k is None:
            shape.append(1)
            names.append("UnsqueezeBackward0")
            continue
        n = x.shape[dim]
        if isinstance(k, slice):
            a, b, s = _norm_slice(k, n)
            b = max(a, b)
            starts.append(a)
            stops.append(b)
            steps.append(s)
            shape.append(max(0, (b - a + s - 1) // s))
            if lone_slice or not _keeps_dim(k, n):
                names.append("SliceBackward0")
        else:
            i = _norm_int(k, n, dim)
            starts.append(i)
            stops.append(i + 1)
            steps.append(1)
            names.append("SelectBackward0")
        dim += 1
    for n in x.shape[dim:]:
        starts.append(0)
        stops.append(n)
        steps.append(1)
        shape.append(n)
    sliced = mv.slice(x, starts, stops, steps)
    return chained(x, sliced, mv.reshape(sliced, tuple(shape)), names)


def _keeps_dim(k, n):
    """torch's test for skipping a slice, on the key as written: x[-3:] is recorded."""
    start, stop, step = (None if b is None else operator.index(b)
                         for b in (k.start, k.stop, k.step))
    return start in (None, 0) and step in (None, 1) and (stop is None or stop >= n)


def _is_int(k):
    return not (k is None or isinstance(k, (Tensor, BoolIndex, slice)))


def _ints_first(x, key):
    """torch applies the ints and slices of an advanced key first, as a basic index, and the
    index tensors to what is left: x[0, :, [1, 2]] is x[0][:, [1, 2]] (shape [3, 2, 4] for
    x of [2, 3, 5, 4]), where numpy broadcasts the 0 with [1, 2] and puts the result's dim
    first ([2, 3, 4]). (x1, the rest of the key): the ints are gone from it, its slices
    taken whole."""
    if not any(_is_int(k) for k in key):
        return x, key
    first, rest = [], []
    for k in key:
        if _is_int(k) or isinstance(k, slice):
            first.append(k)
            if isinstance(k, slice):
                rest.append(slice(None))
        elif isinstance(k, Tensor):
            first.extend([slice(None)] * (k.ndim if k._data.dtype == dtypes.BOOL else 1))
            rest.append(k)
        else:                                       # None, a bool: no dim of x
            rest.append(k)
    return _basic(x, first), rest


def _as_numpy_layout(x, key, value):
    """value for x[key] = value, where the index below lays the result out as numpy does
    (the ints are index tensors) and torch as _ints_first does. They differ where the ints
    alone separate the tensors from each other (x[0, :, [1, 2]], x[:, [0, 1], 0, [1, 2]]):
    torch puts the tensors' dims after the slices before them, numpy first. Then value,
    broadcast to torch's result, has those dims moved to the front."""
    adv = [i for i, k in enumerate(key) if isinstance(k, Tensor) or _is_int(k)]
    tensors = [i for i in adv if isinstance(key[i], Tensor)]
    if not tensors or None in key or len(adv) == adv[-1] - adv[0] + 1 or any(
            isinstance(key[i], slice) for i in range(tensors[0], tensors[-1])):
        return value            # the same layout both ways
    kept = tuple(_getitem(x, tuple(key)).shape)
    before = sum(isinstance(k, slice) for k in key[:tensors[0]])
    consumed = sum(k.ndim if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL else 1
                   for k in key)
    n_adv = len(kept) - sum(isinstance(k, slice) for k in key) - (x.ndim - consumed)
    perm = (list(range(before, before + n_adv)) + list(range(before)) +
            list(range(before + n_adv, len(kept))))
    return mv.permute(_fit_value(value, kept, kept), tuple(perm))


def _insert_new_dims(x, key):
    """None and bool entries of an advanced key: unsqueeze x there and index the new dim
    with ':' (None) or with the bool's positions ([0] or none)."""
    if not any(k is None or isinstance(k, BoolIndex) for k in key):
        return x, key
    shape, new_key, dim = list(x.shape), [], 0
    for k in key:
        if k is None or isinstance(k, BoolIndex):
            shape.insert(dim, 1)
            new_key.append(slice(None) if k is None else k.positions())
            dim += 1
        else:
            new_key.append(k)
            dim += k.ndim if isinstance(k, Tensor) and k._data.dtype == dtypes.BOOL else 1
    return mv.reshape(x, tuple(shape)), new_key


def _mask_positions(x, mask, dim):
    if not isinstance(mask._data, (np.ndarray, DeviceArray)):
        raise TraceError("boolean-mask indexing gives a result whose shape depends on the "
                         "data, which a compiled graph cannot have; use torch.where(mask, x, 0) "
                         "or masked_fill instead")
    want = tuple(x.shape[dim:dim + mask.ndim])
    if tuple(mask.shape) != want:
        raise IndexError(f"The shape of the mask {fmt_shape(mask.shape)} at index {dim} does not "
                         f"match the shape of the indexed tensor {fmt_shape(x.shape)} at index "
                         f"{dim}")
    # the positions are worked out on the host (their number decides the result's shape)
    return [Tensor._make(p.astype(np.int64)) for p in np.nonzero(to_host(mask._data))]


def setitem(x, key, value):
    """x[key] = value, in place (torch semantics: broadcast value, cast to x's dtype)."""
    from .inplace import assign
    if type(key) is Tensor:
        key = _int_key(key)
    if dispatch.trace_hook is not None and isinstance(value, Tensor):
        _writing_back(x, key, value)        # (x may be a real temporary made while tracing)
    advanced, parsed = parse(x, key)
    if any(isinstance(k, BoolIndex) for k in parsed):
        if not all(k.value for k in parsed if isinstance(k, BoolIndex)):
            return      # a False selects nothing: nothing to write
        # a True adds a size-1 dim and takes all of it: what None does
        parsed = [None if isinstance(k, BoolIndex) else k for k in parsed]
        advanced = any(isinstance(k, Tensor) for k in parsed)
    if not advanced:
        parsed = [k for k in parsed if k is not None]
        idxs, entries = [], _basic_entries(x, parsed)
        if isinstance(value, Tensor) and value.ndim:
            # ints became length-1 slices: broadcast value to the int-dropped shape first
            kept = _basic(x, parsed).shape
            sliced = [len(range(*e[1:])) for e in entries] + list(x.shape[len(entries):])
            value = _fit_value(value, tuple(kept), tuple(sliced))
    else:
        if isinstance(value, Tensor):
            # through tensor indices torch writes only a value of x's dtype (a bfloat16 KV
            # cache written with float32 keys stops there)
            from .composite_index import require_put_dtype
            require_put_dtype(x, value, parsed)
        if (len(parsed) == 1 and isinstance(parsed[0], Tensor)
                and parsed[0]._data.dtype == dtypes.BOOL
                and not isinstance(parsed[0]._data, (np.ndarray, DeviceArray))):
            return _traced_mask_assign(x, parsed[0], value)
        if isinstance(value, Tensor):
            value = _as_numpy_layout(x, parsed, value)
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


def _traced_mask_assign(x, mask, value):
    """x[mask] = value with a traced mask, as `where(mask, value, x)` written into x: the
    positions are unknown while tracing, but a value that broadcasts over the selected rows
    (a number, or a tensor shaped like one row) does not need them."""
    from .inplace import copy_
    from .ops.elementwise import where
    rest = tuple(x.shape[mask.ndim:])
    if tuple(mask.shape) != tuple(x.shape[:mask.ndim]):
        raise IndexError(f"The shape of the mask {fmt_shape(mask.shape)} at index 0 does not "
                         f"match the shape of the indexed tensor {fmt_shape(x.shape)} at index 0")
    if isinstance(value, Tensor):
        vshape = tuple(value.shape)
        while vshape and vshape[0] == 1:
            vshape = vshape[1:]
        if len(vshape) > len(rest):     # one value per selected row
            return _row_per_true(x, mask, value, rest)
        value = mv.reshape(value, vshape)
    else:
        value = Tensor._make(np.asarray(value, dtype=x._data.dtype))
    wide = mv.reshape(mask, tuple(mask.shape) + (1,) * len(rest))
    return copy_(x, where(wide, value, x))


def _row_per_true(x, mask, value, rest):
    """x[mask] = value with one row of value per True of a traced mask (the DQN tutorial's
    `next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values`):
    the i-th True takes value[i], i its rank among the Trues (a cumulative sum), so the
    graph's shapes do not depend on where the Trues are. Their count must be value's
    length: checked when the graph runs, with torch's error."""
    from .inplace import copy_
    from .ops.elementwise import where
    from .ops.indexing import check_range
    k = value.shape[0]
    if tuple(value.shape[1:]) != rest:
        raise RuntimeError(f"shape mismatch: value tensor of shape {fmt_shape(value.shape)} "
                           f"cannot be broadcast to indexing result of shape "
                           f"{fmt_shape((k,) + rest)}")
    trues = mask.reshape(-1).to(dtypes.int64)
    check_range(trues.sum(), k, k + 1, f"shape mismatch: value tensor of shape "
                f"{fmt_shape(value.shape)} cannot be broadcast to indexing result of shape "
                f"[{{value}}{''.join(f', {n}' for n in rest)}]", error="RuntimeError")
    if k == 0:          # no True (checked): nothing to write
        return x
    rank = (trues.cumsum(0) - 1).clamp(0, k - 1)
    rows = value.index_select(0, rank).reshape(tuple(mask.shape) + rest)
    wide = mv.reshape(mask, tuple(mask.shape) + (1,) * len(rest))
    return copy_(x, where(wide, rows, x))


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
