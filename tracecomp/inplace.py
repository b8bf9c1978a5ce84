"""In-place ops (x.add_(y), x += y, x[k] = v, x.zero_(), ...) with torch's rules.

An in-place op computes its result with the ordinary primitive, then writes it into the
tensor's own buffer, so views and optimizer state that alias the buffer see the update,
and bumps the version counter, so a saved value that changed is caught at backward time.
When the tape is involved, the tensor takes the result's history (torch's rebase); an update
of a view gives its base a new history too (inplace_view.py).
With no tape involved and a numpy ufunc behind the primitive, the write goes straight
through `out=` (one pass over memory: optimizers live on this path).
"""
import numpy as np

from . import context, dtypes, grad_mode, inplace_view, saved_hooks
from .device_array import DeviceArray
from .dispatch import bind, history_taken
from .errors import AutogradError, DTypeError
from .meta_device import is_meta
from .ops.indexing import check_put_shape, index_put, np_key
from .sparse_data import SparseData
from .tensor import Tensor
from .torch_args import scalar_name

_grad = grad_mode.state
_writing = saved_hooks.writing

_LEAF = ("a leaf Variable that requires grad is being used in an in-place operation. Wrap "
         "the update in `with tracecomp.no_grad():` (as optimizers do) or use an out-of-place op.")


def _check_cast(x, result_dtype, op):
    if dtypes.category(np.dtype(result_dtype)) > dtypes.category(x._data.dtype):
        raise DTypeError(f"{op}: result type {scalar_name(result_dtype)} can't be cast to "
                         f"the desired output type {scalar_name(x._data.dtype)}")


def check_promotion(x, other, op):
    """torch's first check of an in-place binary op: the dtype x and other promote to must
    cast to x's (before any check of whether the op has a kernel for that dtype)."""
    _check_cast(x, dtypes.result_type(x._data, other._data if isinstance(other, Tensor)
                                      else other), op)


def tape_free(x, operands):
    """True when the update touches no tape and no tracer: write straight into numpy."""
    if _writing[0] is not None:     # allow_mutation_on_saved_tensors: copy saved values
        _writing[0](x)
    if not isinstance(x._data, np.ndarray) or any(
            isinstance(o, Tensor) and not isinstance(o._data, np.ndarray) for o in operands):
        return False            # a traced value: the update is recorded, not computed
    if not _grad.enabled:
        return True
    if x._view is not None and inplace_view.chain(x)[1]._requires_grad:
        return False            # the write changes a base's history (inplace_view.py)
    return not x._requires_grad and not any(isinstance(o, Tensor) and o._requires_grad
                                            for o in operands)


def alias(x):
    """A stand-in for x's current value and history, to compute x's in-place update out of
    place with. The tape then records the stand-in, not x itself (which is about to take the
    result's history: recording x would make the node its own input), and the stand-in keeps
    the old values that VJPs need, as torch saves `original_self`."""
    batched = getattr(type(x._data), "batched", False)     # inside vmap (func/batching_value)
    if not (_grad.enabled and (batched or isinstance(x._data, (np.ndarray, DeviceArray)))):
        return x
    if x._view is not None and x._requires_grad:
        return inplace_view.old_view(x)   # history replayed from the base's, not via x's
    out = Tensor._make(x._data.copied() if batched else x._data.copy(), x._requires_grad,
                       x._node)
    trace = context.current()
    if trace is not None and not batched:   # x's value, read where x came from (`s =
        trace.made(out, x)  # zeros(n); s[i] = v`: a temporary's copy is one too), not a
    return out              # tensor from outside (a batched one's physical tensor says)


def _apart(x, operand):
    """An operand that shares x's memory (`y[k] += v` writes the view y[k] back into y,
    `y.add_(y.t())`) as a stand-in with its own version counter: the write into x must not
    invalidate the operand's recorded use."""
    return alias(operand) if isinstance(operand, Tensor) and operand._vc is x._vc else operand


def _vmapped_into_unbatched():
    raise RuntimeError("vmap: inplace arithmetic(self, *extra_args) is not possible because "
                       "there exists a Tensor `other` in extra_args that has more elements "
                       "than `self`. This happened due to `other` being vmapped over but "
                       "`self` not being vmapped over in a vmap. Please try to use "
                       "out-of-place operators instead of inplace arithmetic. If said operator "
                       "is being called inside the PyTorch framework, please file a bug "
                       "report instead.")


def commit(x, result, op):
    """Make `result` (computed out of place) the new contents of x."""
    if type(x._data) is SparseData:     # a sparse tensor takes the result's parts
        return x._take(result, op)
    if _writing[0] is not None:
        _writing[0](x)
    if _grad.enabled and x._requires_grad and x._node is None:
        if x._no_grad_version is not None:      # a view made under no_grad: torch's words
            raise AutogradError(inplace_view.view_mode_message(inplace_view.NO_GRAD_VIEW, x))
        raise AutogradError(f"{op}: {_LEAF}")
    tracing = None      # the trace recording this thread, when x takes a traced value
    _check_cast(x, result._data.dtype, op)
    if type(result._data) is DeviceArray and isinstance(x._data, np.ndarray):
        result = result.cpu()           # a CPU tensor takes a device value: cpu.copy_(gpu)
    if type(x._data) is DeviceArray and isinstance(result._data, (DeviceArray, np.ndarray)):
        if _commit_on_device(x, result, op):
            return x        # a view: it, its base and the views between took new histories
    elif isinstance(x._data, np.ndarray) and isinstance(result._data, np.ndarray):
        inplace_view.check_overlap(x._data)
        wide = np.broadcast_shapes(x._data.shape, result._data.shape)
        if x._data.shape != wide:
            raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the "
                               f"broadcast shape {list(wide)}")
        plan = inplace_view.new_history(x, result) if inplace_view.needs_history(
            x, result) else None
        np.copyto(x._data, result._data, casting="unsafe")
        x._vc[0] += 1
        if plan is not None:
            inplace_view.finish(plan)
        return x
    else:
        if result.dtype != x.dtype:     # as eager's copyto: x keeps its dtype
            result = result.to(x.dtype)
        from . import context
        tracing = context.current()
        data = result._data
        if getattr(type(x._data), "batched", False) or getattr(type(data), "batched", False):
            data = x._data.write(result) if type(x._data) is not np.ndarray else \
                _vmapped_into_unbatched()   # a batched tensor's memory, written through
        if tracing is not None and isinstance(x._data, np.ndarray):
            tracing.rebound.append((x, x._data))  # a real tensor takes a traced value:
            #                                       the compiler checks it
        elif tracing is not None and isinstance(data, np.ndarray):
            # a traced value takes one computed eagerly (`p.grad.zero_()` fills with a
            # constant): it stays a graph value, or reading it later would be reading a
            # tensor from outside, which changes every call
            data = tracing.lift(result)
        if tracing is not None and not _grad.enabled and x._requires_grad and x._node is not None:
            # a non-leaf updated under no_grad keeps its gradient path, as torch keeps its
            # grad_fn (tabnet's sparsemax does `input -= max_val` in a Function's forward)
            data = tracing.kept_history(x._data, data)
        x._data = data       # traced values are immutable: rebind
    x._vc[0] += 1
    if result._requires_grad and _grad.enabled:
        old, x._node = x._node, result._node
        history_taken(old)
        x._requires_grad = True
        inplace_view.retake_retain(x, old)
    if tracing is not None:     # once x has its history: its views replay their ops on
        tracing.updated_in_place(x)     # its new value, its bases are marked stale
    return x


def _commit_on_device(x, result, op):
    """x's box takes result's device array (cast and broadcast to x's dtype and shape, moved
    over if it was computed on the CPU): every tensor sharing the box sees the update. A
    view of a device tensor is a copy of its part, so its base takes the update as the CPU's
    shared memory would give it (inplace_view: torch's CopySlices), and each view on the way
    its new part."""
    wide = np.broadcast_shapes(x.shape, result.shape)
    if wide != tuple(x.shape):
        raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the "
                           f"broadcast shape {list(wide)}")
    if type(result._data) is not DeviceArray:   # computed on the CPU: x.copy_(cpu_tensor)
        result = result.to(x.device)
    if x._view is not None:
        links, base = inplace_view.chain(x)
        if any(view.numel() > parent.numel() for view, parent, *_ in links):
            raise RuntimeError(f"{op}: {inplace_view.OVERLAP}")     # an expanded view
        plan = inplace_view.new_history(x, result)
        base._data.assign(plan[2].detach()._data)
        base._vc[0] += 1
        inplace_view.finish(plan)
        return True
    with grad_mode.no_grad():
        value = _broadcast_like(result.detach(), x)
    x._data.assign(value._data)     # safe even if it is x's own: device memory is never
    #                                 written in place, so boxes may share arrays


def method(prim):
    """The Tensor method x.name_(*operands): prim(x, *operands) written into x."""
    return lambda x, *operands: apply(x, prim, *operands)


def composite_method(fn, name):
    """The Tensor method x.name(*args): a composite op's fn(x, *args) written into x (torch's
    in-place rules: commit)."""
    def written(x, *args, **kwargs):
        return commit(x, fn(alias(x), *args, **kwargs), name)
    written.__name__ = name
    return written


def apply(x, prim, *operands, op=None, **params):
    """x = prim(x, *operands) in place."""
    op = op or prim.name + "_"
    for o in operands:      # (inline: optimizers' updates run here, and seldom share memory)
        if isinstance(o, Tensor) and o._vc is x._vc and o is not x:
            inplace_view.check_partial_overlap(x, operands)
            break
    # (a bfloat16 x goes through bind, which computes in float32 as torch does: numpy's
    # bfloat16 loop would round a Python scalar operand to bfloat16 first; and a uint16/32/64
    # one, where bind refuses what torch refuses)
    if prim.ufunc is not None and x._data.dtype not in dtypes.BIND_ONLY and \
            tape_free(x, operands):
        arrays = [o._data if isinstance(o, Tensor) else o for o in operands]
        want = prim.dtype(x._data, *arrays)
        _check_cast(x, want, op)
        try:
            prim.ufunc(x._data, *arrays, out=x._data, casting="unsafe")
        except ValueError:
            inplace_view.check_overlap(x._data)     # an expanded x: numpy's read-only view
            raise RuntimeError(f"{op}: output with shape {list(x.shape)} doesn't match the "
                               f"broadcast shape of operands "
                               f"{[list(np.shape(a)) for a in arrays]}") from None
        x._vc[0] += 1
        return x
    operands = [_apart(x, o) for o in operands]
    return commit(x, bind(prim, alias(x), *operands, **params), op)


def assign(x, value, idxs, key):
    """x[key] = value (key in the index primitive's form)."""
    if isinstance(value, Tensor) and value._vc is x._vc and type(x._data) is np.ndarray \
            and all(type(i._data) is np.ndarray for i in idxs):
        # `t[2:7] = t[0:5]`: torch's copy_ refuses. The part written as an array (`...`
        # keeps `t[1, 1]` a 0-d view, not a copied scalar: `t[1, 1] *= -1` writes it back)
        k = np_key(key, [i._data for i in idxs])
        k = k if type(k) is tuple else (k,)
        part = x._data[k if any(e is Ellipsis for e in k) else (*k, Ellipsis)]
        # (a gather's copy: index_put_, which checks all of x against the value)
        inplace_view.check_partial_overlap(
            x, (value,), part if np.may_share_memory(part, x._data) else None)
    if tape_free(x, (value,)):
        v = value._data if isinstance(value, Tensor) else value
        k = np_key(key, [i._data for i in idxs])
        try:
            x._data[k] = v
        except ValueError:      # in torch's words when the shapes are what is wrong
            check_put_shape(np.shape(v), x._data[k].shape)
            raise
        x._vc[0] += 1
        return x
    if not isinstance(value, Tensor):
        value = Tensor._make(np.asarray(value, dtype=x._data.dtype))
    return commit(x, index_put(alias(x), _apart(x, value), idxs, key), "setitem")


def fill_(x, value):
    check_fill_value(value, "fill_")
    if tape_free(x, (value,)):
        x._data[...] = value._data if isinstance(value, Tensor) else value
        x._vc[0] += 1
        return x
    from .creation import full
    v = value if isinstance(value, Tensor) else full((), value, dtype=x._data.dtype)
    return commit(x, _broadcast_like(v, x), "fill_")


def check_fill_value(value, op):
    """torch fills with a number or a 0-d tensor only."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"{op} only supports 0-dimension value tensor but got tensor with "
                           f"{value.ndim} dimensions.")


def _broadcast_like(v, x):
    from .ops.elementwise import cast
    from .ops.movement import expand
    return expand(cast(v, x.dtype), tuple(x.shape))


def zero_(x):
    return fill_(x, 0)


def copy_(x, src, non_blocking=False):
    # non_blocking: torch's for copies across devices (`p.copy_(q, non_blocking=True)`);
    # the copy here is done when copy_ returns either way
    inplace_view.check_partial_overlap(x, (src,))
    if tape_free(x, (src,)):
        np.copyto(x._data, src._data if isinstance(src, Tensor) else src, casting="unsafe")
        x._vc[0] += 1
        return x
    return commit(x, _broadcast_like(_apart(x, src), x), "copy_")


def random_fill(x, sample, what=None):
    """uniform_/normal_/...: overwrite x with samples (never on the tape, as in torch).
    Inside compiled code (x traced, or a temporary made there: `empty_like(x).bernoulli_(p)`
    in a dropout) the samples are a graph node drawn afresh on every call, never numbers
    fixed when the code was traced."""
    from . import context
    if _writing[0] is not None:
        _writing[0](x)
    if is_meta(x._data):        # no values to draw (torch's generator does not move either)
        x._vc[0] += 1
        return x
    with grad_mode.no_grad():
        if context.current() is None and isinstance(x._data, np.ndarray):
            if getattr(sample, "fills", False) and x._data.flags.c_contiguous:
                sample(x._data.shape, out=x._data)      # no temporary of x's size
            else:
                x._data[...] = sample(x._data.shape)
            x._vc[0] += 1
            return x
        from .creation import Sampler, draw_p
        dtype = x._data.dtype
        # compiled code makes no bfloat16 from nothing (tracer._bf16_refusal): a bfloat16
        # x's samples are drawn in float64 and rounded once, as eager's assignment rounds
        # them (gpt-fast's `empty_like(probs).exponential_(1)` on bfloat16 probabilities)
        drawn = bind(draw_p, shape=tuple(x.shape),
                     dtype=dtypes.F64 if dtype == dtypes.BF16 else dtype,
                     sampler=Sampler(sample, what or "sample"))
        if dtype == dtypes.BF16:
            from .ops.elementwise import cast
            drawn = cast(drawn, dtype)
        return commit(x, drawn, what or "random fill")
