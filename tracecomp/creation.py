"""Tensor creation: tensor(), zeros/ones/full/empty (and *_like), arange, linspace, eye,
and the random creators, plus the RNG (manual_seed, Generator).

`full` and `arange` are primitives (no tensor inputs), so constants made inside model
code become graph nodes when traced. Random numbers come from numpy's PCG64; the same
seed gives the same numbers here, not the same numbers as torch.
"""
import functools
import math
import operator
import threading
import warnings

import numpy as np

from . import context, devices, dtypes, meta_device
from . import dispatch as _dispatch
from .creation_traced import holds_traced, stacked
from .devices import check_placement
from .dispatch import bind
from .dtypes import np_kind
from .generator import (  # noqa: F401 - tracecomp.creation.Generator etc., as before
    Generator,
    default_generator,
    initial_seed,
    manual_seed,
    seed,
)
from .memory_format import axis_order, new_like
from .ops.registry import PRIMITIVES, defprim
from .tensor import Tensor
from .tracing.array_stand_in import ArrayStandIn
from .user_code import user_stacklevel


# --- constant primitives ---------------------------------------------------------------
def _full_impl(shape, value, dtype):
    # zeros by calloc: the pages are mapped when first written (a weight that init is
    # about to fill is touched once, not twice)
    if type(value) in (int, bool) and value == 0 or \
            type(value) is float and value == 0 and math.copysign(1.0, value) > 0:
        return np.zeros(shape, dtype=dtype)
    return np.full(shape, value, dtype=dtype)


full_p = defprim("full", _full_impl,
                 lambda shape, value, dtype: tuple(shape), lambda shape, value, dtype: dtype,
                 None, ("constant",))
def _arange_length(start, stop, step):
    return max(0, int(np.ceil((stop - start) / step)))


def _arange_impl(start, stop, step, dtype):
    """start + k * step, worked out in float64 and then rounded, as torch does: numpy's
    float32 arange extrapolates from its first two float32 values, so
    arange(-10., 10., 0.01)[1000] was 2.3e-4 instead of 2e-16."""
    if np_kind(np.dtype(dtype)) != "f":
        return np.arange(start, stop, step, dtype=dtype)
    steps = np.arange(_arange_length(start, stop, step), dtype=np.float64)
    return (start + steps * step).astype(dtype)


arange_p = defprim("arange", _arange_impl,
                   lambda start, stop, step, dtype: (_arange_length(start, stop, step),),
                   lambda start, stop, step, dtype: dtype, None, ("constant",))


# --- random primitives: they draw from the default generator when they *run*, so a traced
# graph draws fresh numbers on every call (dropout masks are not baked in at trace time)
_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))     # numpy draws these directly


def _draw(method):
    # `generator` is a param only when the user passed one (the IR of default draws is
    # unchanged); a compiled graph then draws from that generator on every call.
    # Drawn in the dtype itself: float64 draws rounded to float32 could give exactly 1.0
    # (about 3 in 10^8 of rand's draws; torch's rand is in [0, 1)), and took twice the memory
    def impl(shape, dtype, generator=None):
        draw = getattr((generator or default_generator).rng, method)
        dtype = np.dtype(dtype)
        if dtype.kind == "c":       # as torch: the real and imaginary parts drawn apart,
            parts = impl(tuple(shape) + (2,), dtypes.real_type(dtype), generator)
            if method == "standard_normal":
                parts *= math.sqrt(0.5)     # each of variance 1/2, so |z|^2 has mean 1
            return parts.view(dtype)[..., 0]
        if dtype in _NATIVE:
            return draw(shape, dtype=dtype)
        out = draw(shape, dtype=np.float32).astype(dtype)      # float16
        if method == "random":      # rounding up to 1.0 again: the largest value below it
            np.minimum(out, np.nextafter(dtype.type(1), dtype.type(0)), out=out)
        return out
    return impl


def _random_shape(shape, dtype, generator=None):
    return tuple(shape)


def _random_dtype(shape, dtype, generator=None):
    return np.dtype(dtype)


uniform_p = defprim("uniform", _draw("random"), _random_shape, _random_dtype, None, ("random",))
normal_p = defprim("normal", _draw("standard_normal"), _random_shape, _random_dtype, None,
                   ("random",))


class Sampler:
    """What an in-place sampler (x.bernoulli_(p), x.normal_(), ...) draws: `fn(shape)`
    gives numpy samples from the sampler's generator. It prints as the call that made it,
    so IR text stays the same from run to run (no function address)."""

    def __init__(self, fn, text):
        self.fn, self.text = fn, text

    def __repr__(self):
        return self.text


# an in-place sampler inside compiled code: draws afresh on every call, like uniform/normal
draw_p = defprim("draw", lambda shape, dtype, sampler: np.asarray(sampler.fn(shape), dtype),
                 lambda shape, dtype, sampler: tuple(shape),
                 lambda shape, dtype, sampler: np.dtype(dtype), None, ("random",))


def drawn(shape, dtype, sample, text):
    """A tensor of `sample(shape)`'s numbers (randint, randperm, randint_like): eagerly
    drawn now; inside compiled code a `draw` node, drawn afresh on every call (as numbers
    drawn while tracing they were one sample baked into the graph: the same timesteps
    every step of a compiled DDPM loss)."""
    if context.current() is None:
        return Tensor._make(np.asarray(sample(shape)).astype(dtype))
    return bind(draw_p, shape=tuple(shape), dtype=np.dtype(dtype),
                sampler=Sampler(sample, text))


def _size(size, keyword=None, op=None):
    """zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(size=(2, 3)) all mean shape
    (2, 3)."""
    if keyword is not None:
        if size:
            raise TypeError(f"{op}() got multiple values for argument 'size'")
        size = (keyword,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if len(size) == 1 and isinstance(size[0], Tensor) and size[0].ndim > 0:
        size = tuple(size[0].tolist())      # a 0-d one is one size (zeros(mask.sum()))
    return tuple(_dim(s, k, op) for k, s in enumerate(size))


def _dim(s, k, op):
    """One size entry as an int: an int, a numpy int, a traced size or an int tensor, as
    torch takes; a float (`nn.Conv2d(24, out / 4, 1)` under Python 3) is a TypeError, not
    truncated."""
    try:
        return operator.index(s)
    except TypeError:
        raise TypeError(f"{op or 'full'}(): argument 'size' (position 1) must be tuple of "
                        f"ints, but found element of type {type(s).__name__} at pos {k}") \
            from None


def placing(make):
    """make(..., device=d), built on the CPU as before, then moved to d (or to the default
    device, set_default_device / `with device(...)`, when d is None) if that is not the
    CPU. A tensor being traced stays as it is: compiled graphs are device-neutral."""
    @functools.wraps(make)
    def placed(*args, **kwargs):
        where = kwargs.get("device")
        if where is None:
            if not devices.default_set():
                return make(*args, **kwargs)    # the hot path: nothing set anywhere
            where = devices.default_device()
        where = devices.placed(where)
        if where.type == "meta" and context.current() is None:
            return _on_meta(make, args, kwargs, where)  # no values built
        t = make(*args, **kwargs)
        if where.type == "cpu" or not isinstance(t._data, np.ndarray):
            return t
        return Tensor._make(devices.to_device(t._data, where), t._requires_grad)
    return placed


def _on_meta(make, args, kwargs, where):
    """make(*args, **kwargs), a creation function, its tensors made on 'meta' without values:
    while it runs, each primitive with no tensor operand is answered by its rules through
    dispatch's hook (on this thread; other threads' ops run as usual). Where the hook is
    taken (a trace, a profiler) or make built a tensor some other way, the CPU-built result
    is moved."""
    if _dispatch.trace_hook is None:
        thread = threading.get_ident()

        def hook(prim, operands, params):
            if threading.get_ident() != thread or any(isinstance(o, Tensor) for o in operands):
                return NotImplemented
            out = meta_device.MetaDevice().run_primitive(prim, operands, params, where)
            return Tensor._make(out)
        _dispatch.trace_hook = hook
        try:
            t = make(*args, **kwargs)
        finally:
            _dispatch.trace_hook = None
    else:
        t = make(*args, **kwargs)
    if not meta_device.is_meta(t._data):
        t = Tensor._make(devices.to_device(t._data, where), t._requires_grad)
    return t


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


@placing
def full(size, fill_value, *, dtype=None, requires_grad=False, device=None):
    check_placement(device)             # devices.py: a device tensors cannot live on raises
    if dtype is None:
        dtype = dtypes.BOOL if isinstance(fill_value, bool) else \
            dtypes.I64 if isinstance(fill_value, (int, np.integer)) else \
            dtypes.complex_type(dtypes.default_float()) if isinstance(fill_value, complex) \
            else dtypes.default_float()
    return _finish(bind(full_p, shape=_size((size,), op="full"), value=fill_value,
                        dtype=dtypes.to_np(dtype)), requires_grad)


def zeros(*size_args, size=None, dtype=None, requires_grad=False, device=None):
    return full(_size(size_args, size, "zeros"), 0,
                dtype=dtypes.to_np(dtype) or dtypes.default_float(),
                requires_grad=requires_grad, device=device)


def ones(*size_args, size=None, dtype=None, requires_grad=False, device=None):
    return full(_size(size_args, size, "ones"), 1,
                dtype=dtypes.to_np(dtype) or dtypes.default_float(),
                requires_grad=requires_grad, device=device)


def empty(*size_args, size=None, dtype=None, requires_grad=False, device=None):
    return zeros(_size(size_args, size, "empty"), dtype=dtype, requires_grad=requires_grad,
                 device=device)


def laid_out_like(made, x, memory_format, op):
    """`made`, a new tensor shaped like x, laid out in memory as torch lays out the result
    of `op(x, memory_format=...)`: x's own order by default (memory_format.py)."""
    if isinstance(made._data, np.ndarray) and isinstance(x._data, np.ndarray):
        made._data = new_like(x._data, memory_format, op, lambda shape: made._data)
    elif memory_format is not None:     # traced: only the rank check (compiled results
        axis_order(memory_format, x.dim(), op)  # are row-major, memory_format.py)
    return made


def full_like(x, fill_value, *, dtype=None, requires_grad=False, device=None, layout=None,
              memory_format=None):
    made = full(tuple(x.shape), fill_value, dtype=dtypes.to_np(dtype) or x._data.dtype,
                device=x.device if device is None else device)
    return _finish(laid_out_like(made, x, memory_format, "full_like"), requires_grad)


def zeros_like(x, *, dtype=None, requires_grad=False, device=None, layout=None,
               memory_format=None):
    return full_like(x, 0, dtype=dtype, requires_grad=requires_grad, device=device,
                     memory_format=memory_format)


def ones_like(x, *, dtype=None, requires_grad=False, device=None, layout=None,
              memory_format=None):
    return full_like(x, 1, dtype=dtype, requires_grad=requires_grad, device=device,
                     memory_format=memory_format)


def empty_like(x, *, dtype=None, requires_grad=False, device=None, layout=None,
               memory_format=None):
    return zeros_like(x, dtype=dtype, requires_grad=requires_grad, device=device,
                      memory_format=memory_format)


@placing
def arange(start, end=None, step=1, *, dtype=None, requires_grad=False, device=None):
    check_placement(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        dtype = dtypes.I64 if all(isinstance(v, (int, np.integer)) for v in vals) \
            else dtypes.default_float()
    return _finish(bind(arange_p, start=vals[0], stop=vals[1], step=vals[2],
                        dtype=dtypes.to_np(dtype)), requires_grad)


@placing
def range(start, end, step=1, *, dtype=None, requires_grad=False, device=None):  # noqa: A001
    """torch.range, deprecated in torch as here: start .. end with end included, in the
    default float dtype unless dtype says otherwise."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because "
                  "its behavior is inconsistent with Python's range builtin. Instead, use "
                  "torch.arange, which produces values in [start, end).", UserWarning,
                  stacklevel=user_stacklevel())
    check_placement(device)
    if step == 0 or (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    n = int(math.floor((end - start) / step)) + 1
    data = start + step * np.arange(n, dtype=np.float64)
    return _finish(Tensor._make(data.astype(dtypes.to_np(dtype) or dtypes.default_float())),
                   requires_grad)


@placing
def linspace(start, end, steps, *, dtype=None, requires_grad=False, device=None):
    check_placement(device)
    data = _linspace_values(start, end, int(steps),
                            np.dtype(dtypes.to_np(dtype) or dtypes.default_float()))
    return _finish(Tensor._make(data), requires_grad)


def _linspace_values(start, end, steps, dtype):
    """torch's CPU kernel, bit for bit: step = (end - start) / (steps - 1) in the dtype,
    then start + step * i over the first half and end - step * (steps - 1 - i) over the
    rest, each a fused multiply-add (one rounding: the product and sum are exact in the
    wider type, float64 for float32; float64's through long double, which may round twice
    in rare cases). numpy's linspace, in float64 and cast, differed from torch's float32
    values by an ulp in a third of cases."""
    if np_kind(dtype) != "f" or steps < 2:
        return np.linspace(start, end, steps, dtype=np.float64).astype(dtype)
    narrow, wide = (np.float32, np.float64) if dtype.itemsize <= 4 else \
        (np.float64, np.longdouble)
    first, last = narrow(start), narrow(end)
    step = (last - first) / narrow(steps - 1)
    i = np.arange(steps)
    low = wide(step) * i + wide(first)
    high = wide(last) - wide(step) * (steps - 1 - i)
    return np.where(i < steps // 2, low, high).astype(narrow).astype(dtype, copy=False)


@placing
def eye(n, m=None, *, dtype=None, requires_grad=False, device=None):
    check_placement(device)
    data = np.eye(int(n), int(n if m is None else m),
                  dtype=dtypes.to_np(dtype) or dtypes.default_float())
    return _finish(Tensor._make(data), requires_grad)


# --- from data -------------------------------------------------------------------------
def _to_numpy(data):
    if isinstance(data, Tensor):
        return devices.to_host(data._data)      # a device tensor's values, copied back
    if isinstance(data, (list, tuple)) and any(isinstance(d, (Tensor, list, tuple))
                                               for d in data):
        return np.array([_scalar(d) if isinstance(d, Tensor) else _to_numpy(d)
                         for d in data])
    return data


def _scalar(x):
    """A tensor inside a list is one number to torch.tensor, as float(x) reads it
    (`a_lst.append([a])` of 1-element actions, minimalRL's ppo-continuous), not a
    dimension: a tensor of more elements is its ValueError."""
    if x.numel() != 1:
        raise ValueError("only one element tensors can be converted to Python scalars")
    return devices.to_host(x._data).reshape(())


def _holds_typed(data):
    """Whether a (nested) list holds a tensor or a numpy value, whose dtype counts."""
    return any(type(d) not in _PYTHON_DTYPES and (
        isinstance(d, _TYPED) or isinstance(d, (list, tuple)) and _holds_typed(d))
        for d in data)


_TYPED = (Tensor, np.ndarray, np.generic)


def _element_dtype(data):
    """torch.tensor's dtype for a list holding tensors or numpy values: each element's
    dtype (a tensor's or numpy value's own, a Python number's default), promoted pairwise
    ([int32 tensor, 1] -> int64, [float64 tensor] -> float64, [float16 tensor, 1] ->
    float16, a list of np.float64 rewards -> float64)."""
    found = None
    for d in data:
        if isinstance(d, (list, tuple)):
            t = _element_dtype(d)
        elif isinstance(d, Tensor):
            t = d._data.dtype
        elif isinstance(d, (np.ndarray, np.generic)):
            t = d.dtype
        else:
            t = _PYTHON_DTYPES[type(d)]() if type(d) in _PYTHON_DTYPES else None
        if t is not None:
            found = t if found is None else dtypes.to_np(dtypes.promote_types(
                dtypes.from_np(found), dtypes.from_np(t)))
    return found


_PYTHON_DTYPES = {bool: lambda: dtypes.BOOL, int: lambda: dtypes.I64,
                  float: dtypes.default_float,
                  complex: lambda: dtypes.complex_type(dtypes.default_float())}


def _default_dtype(arr, data):
    """torch.tensor's inference: Python floats -> float32, ints -> int64, numpy keeps its."""
    if isinstance(data, (np.ndarray, np.generic, Tensor)):
        return arr.dtype
    if isinstance(data, (list, tuple)) and _holds_typed(data):
        return _element_dtype(data) or arr.dtype
    kind = np_kind(arr.dtype)
    return dtypes.default_float() if kind == "f" else dtypes.I64 if kind in "iu" else \
        dtypes.BOOL if kind == "b" else dtypes.complex_type(dtypes.default_float()) \
        if kind == "c" else arr.dtype


@placing
def tensor(data, *, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of `data` (lists, scalars, numpy arrays, tensors)."""
    check_placement(device, moving=True)      # torch builds it on the CPU, then moves it
    if type(data) is ArrayStandIn:      # a numpy argument fed to compiled code: its input
        return _finish(data.converted(dtype), requires_grad)
    if not _SLOW_WARNED and isinstance(data, (list, tuple)):
        _warn_if_arrays(data)
    if isinstance(data, (list, tuple)) and context.current() is not None and holds_traced(data):
        return _finish(stacked(data, dtypes.to_np(dtype) or _element_dtype(data)), requires_grad)
    raw = _to_numpy(data)
    arr = np.array(raw)
    np_dtype = dtypes.to_np(dtype) or _default_dtype(arr, data)
    if np_kind(arr.dtype) == "O" or np_kind(arr.dtype) in "USM":
        raise TypeError(f"tensor(): could not infer a numeric dtype from {type(data).__name__} "
                        f"data; expected numbers, (nested) lists of numbers or an array")
    dtypes.from_np(np_dtype)
    out = _finish(Tensor._make(np.array(dtypes.astype(arr, np_dtype), copy=True)), requires_grad)
    trace = context.current()
    if trace is not None:           # a constant of the traced code, not a value from outside
        trace.made(out, data)
    if device is None and isinstance(data, Tensor) and not data.is_cpu:
        # torch: without device=, a copy of a tensor stays on the tensor's device
        out = Tensor._make(devices.to_device(out._data, data.device), out._requires_grad)
    return out


_SLOW_WARNED = []     # torch gives it once a process


def _warn_if_arrays(data):
    """torch's warning for a list (or tuple, nested) of numpy arrays: minimalRL's
    make_batch builds its states so. Read at the first element of each level, as torch."""
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    if isinstance(data, np.ndarray) and data.ndim:
        _SLOW_WARNED.append(True)
        warnings.warn("Creating a tensor from a list of numpy.ndarrays is extremely slow. "
                      "Please consider converting the list to a single numpy.ndarray with "
                      "numpy.array() before converting to a tensor.", UserWarning,
                      stacklevel=user_stacklevel())


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with numpy arrays and tensors when it can; on
    `device` when given (a tensor already there is itself)."""
    check_placement(device, moving=True)
    if isinstance(data, Tensor):
        out = data if dtype is None or data._data.dtype == dtypes.to_np(dtype) else \
            data.to(dtype)
    elif isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtypes.to_np(dtype)):
        out = from_numpy(data)
    else:
        out = tensor(data, dtype=dtype)
    if device is None:
        device = devices.default_device() if devices.default_set() and not isinstance(
            data, Tensor) else None
    return out if device is None else out.to(device)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array."""
    if type(arr) is ArrayStandIn:   # a numpy argument fed to compiled code: its input
        return arr.converted(copy=False)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy expects an np.ndarray, got {type(arr).__name__}")
    dtypes.from_np(arr.dtype)
    out = Tensor._make(arr)
    trace = context.current()
    if trace is not None:   # for the error should the code update it in place (state.py)
        trace.from_numpy[id(out)] = out
    return out


def _rng(generator):
    return (generator or default_generator).rng


def _rand_dtype(dtype, kernel="normal_kernel_cpu"):
    d = dtypes.to_np(dtype) or dtypes.default_float()
    if np_kind(d) not in "fc":     # torch's message names its kernel: rand's, randn's / normal's
        from .errors import DTypeNotImplemented
        raise DTypeNotImplemented(f'"{kernel}" not implemented for \'{dtypes.TORCH_NAMES[d]}\'')
    return d


def _random(prim, method, size, generator, dtype):
    given = {} if generator is None else {"generator": generator}
    if dtype != dtypes.BF16:
        return bind(prim, shape=size, dtype=dtype, **given)
    # bfloat16 as the impl makes it (float32 draws rounded, rand's kept below 1), in ops
    # that compiled code has: it makes no bfloat16 from nothing (tracer._bf16_refusal).
    # The primitives by name: ops.elementwise imports this module (full)
    out = bind(PRIMITIVES["cast"], bind(prim, shape=size, dtype=dtypes.F32, **given),
               dtype=dtypes.BF16)
    if method == "random":
        below_one = np.nextafter(dtypes.BF16.type(1), dtypes.BF16.type(0))
        out = bind(PRIMITIVES["minimum"], out,
                   Tensor._make(np.asarray(below_one, dtypes.BF16)))
    return out


@placing
def rand(*size_args, size=None, generator=None, dtype=None, requires_grad=False,
         device=None):
    check_placement(device)
    return _finish(_random(uniform_p, "random", _size(size_args, size, "rand"), generator,
                           _rand_dtype(dtype, "check_uniform_bounds")), requires_grad)


@placing
def randn(*size_args, size=None, generator=None, dtype=None, requires_grad=False,
          device=None):
    check_placement(device)
    return _finish(_random(normal_p, "standard_normal", _size(size_args, size, "randn"),
                           generator, _rand_dtype(dtype)), requires_grad)


@placing
def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None):
    check_placement(device)
    if size is None and isinstance(high, (tuple, list)):    # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    low, high = operator.index(low), operator.index(high)
    return drawn(_size((size,)), dtypes.to_np(dtype) or dtypes.I64,
                 lambda s: _rng(generator).integers(low, high, size=s),
                 f"randint({low}, {high})")


@placing
def randperm(n, *, generator=None, dtype=None, device=None):
    check_placement(device)
    n = operator.index(n)
    return drawn((n,), dtypes.to_np(dtype) or dtypes.I64,
                 lambda s: _rng(generator).permutation(n), f"randperm({n})")


def rand_like(x, *, dtype=None, generator=None, device=None, requires_grad=False,
              layout=None, memory_format=None):
    made = rand(tuple(x.shape), dtype=dtype or x._data.dtype, generator=generator,
                device=x.device if device is None else device)
    return _finish(laid_out_like(made, x, memory_format, "rand_like"), requires_grad)


def randn_like(x, *, dtype=None, generator=None, device=None, requires_grad=False,
               layout=None, memory_format=None):
    made = randn(tuple(x.shape), dtype=dtype or x._data.dtype, generator=generator,
                 device=x.device if device is None else device)
    return _finish(laid_out_like(made, x, memory_format, "randn_like"), requires_grad)


# --- issue 9: logspace and triangle indices -----------------------------------------------
@placing
def logspace(start, end, steps, base=10.0, *, dtype=None, layout=None, device=None,
             requires_grad=False, out=None):
    """base ** linspace(start, end, steps), computed in float64 then cast."""
    check_placement(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end)]
    data = np.power(float(base), np.linspace(vals[0], vals[1], int(steps), dtype=np.float64))
    d = dtypes.to_np(dtype) or dtypes.default_float()
    return _finish(Tensor._make(data.astype(d)), requires_grad)
