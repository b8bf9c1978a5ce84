"""Tensor creation: tensor(), zeros/ones/full/empty (and *_like), arange, linspace, eye,
and the random creators, plus the RNG (manual_seed, Generator).

`full` and `arange` are primitives (no tensor inputs), so constants made inside model
code become graph nodes when traced. Random numbers come from numpy's PCG64; the same
seed gives the same numbers here, not the same numbers as torch.
"""
import numpy as np

from . import dtypes
from .dispatch import bind
from .ops.registry import defprim
from .tensor import Tensor

# --- constant primitives ---------------------------------------------------------------
full_p = defprim("full", lambda shape, value, dtype: np.full(shape, value, dtype=dtype),
                 lambda shape, value, dtype: tuple(shape), lambda shape, value, dtype: dtype,
                 None, ("constant",))
arange_p = defprim("arange", lambda start, stop, step, dtype: np.arange(start, stop, step,
                                                                       dtype=dtype),
                   lambda start, stop, step, dtype: (max(0, int(np.ceil((stop - start) / step))),),
                   lambda start, stop, step, dtype: dtype, None, ("constant",))


# --- random primitives: they draw from the default generator when they *run*, so a traced
# graph draws fresh numbers on every call (dropout masks are not baked in at trace time)
def _draw(method):
    def impl(shape, dtype):
        return getattr(default_generator.rng, method)(shape).astype(dtype)
    return impl


def _random_shape(shape, dtype):
    return tuple(shape)


def _random_dtype(shape, dtype):
    return np.dtype(dtype)


uniform_p = defprim("uniform", _draw("random"), _random_shape, _random_dtype, None, ("random",))
normal_p = defprim("normal", _draw("standard_normal"), _random_shape, _random_dtype, None,
                   ("random",))


def _size(size):
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) all mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if len(size) == 1 and isinstance(size[0], Tensor):
        size = tuple(size[0].tolist())
    return tuple(int(s) for s in size)


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def full(size, fill_value, *, dtype=None, requires_grad=False, device=None):
    if dtype is None:
        dtype = dtypes.BOOL if isinstance(fill_value, bool) else \
            dtypes.I64 if isinstance(fill_value, (int, np.integer)) else dtypes.F32
    return _finish(bind(full_p, shape=_size((size,)), value=fill_value,
                        dtype=dtypes.to_np(dtype)), requires_grad)


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return full(_size(size), 0, dtype=dtypes.to_np(dtype) or dtypes.F32,
                requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return full(_size(size), 1, dtype=dtypes.to_np(dtype) or dtypes.F32,
                requires_grad=requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None):
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full_like(x, fill_value, *, dtype=None, requires_grad=False, device=None):
    return full(tuple(x.shape), fill_value, dtype=dtypes.to_np(dtype) or x._data.dtype,
                requires_grad=requires_grad)


def zeros_like(x, *, dtype=None, requires_grad=False, device=None):
    return full_like(x, 0, dtype=dtype, requires_grad=requires_grad)


def ones_like(x, *, dtype=None, requires_grad=False, device=None):
    return full_like(x, 1, dtype=dtype, requires_grad=requires_grad)


def empty_like(x, *, dtype=None, requires_grad=False, device=None):
    return zeros_like(x, dtype=dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False, device=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        dtype = dtypes.I64 if all(isinstance(v, (int, np.integer)) for v in vals) else dtypes.F32
    return _finish(bind(arange_p, start=vals[0], stop=vals[1], step=vals[2],
                        dtype=dtypes.to_np(dtype)), requires_grad)


def linspace(start, end, steps, *, dtype=None, requires_grad=False, device=None):
    data = np.linspace(start, end, int(steps), dtype=np.float64)
    return _finish(Tensor._make(data.astype(dtypes.to_np(dtype) or dtypes.F32)), requires_grad)


def eye(n, m=None, *, dtype=None, requires_grad=False, device=None):
    data = np.eye(int(n), int(n if m is None else m), dtype=dtypes.to_np(dtype) or dtypes.F32)
    return _finish(Tensor._make(data), requires_grad)


# --- from data -------------------------------------------------------------------------
def _to_numpy(data):
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)) and any(isinstance(d, (Tensor, list, tuple))
                                               for d in data):
        return np.array([_to_numpy(d) for d in data])
    return data


def _default_dtype(arr, data):
    """torch.tensor's inference: Python floats -> float32, ints -> int64, numpy keeps its."""
    if isinstance(data, (np.ndarray, np.generic, Tensor)):
        return arr.dtype
    kind = arr.dtype.kind
    return dtypes.F32 if kind == "f" else dtypes.I64 if kind in "iu" else \
        dtypes.BOOL if kind == "b" else arr.dtype


def tensor(data, *, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of `data` (lists, scalars, numpy arrays, tensors)."""
    raw = _to_numpy(data)
    arr = np.array(raw)
    np_dtype = dtypes.to_np(dtype) or _default_dtype(arr, data)
    if arr.dtype.kind == "O" or arr.dtype.kind in "USM":
        raise TypeError(f"tensor(): could not infer a numeric dtype from {type(data).__name__} "
                        f"data; expected numbers, (nested) lists of numbers or an array")
    dtypes.from_np(np_dtype)
    return _finish(Tensor._make(np.array(arr, dtype=np_dtype, copy=True)), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with numpy arrays and tensors when it can."""
    if isinstance(data, Tensor):
        return data if dtype is None or data._data.dtype == dtypes.to_np(dtype) else \
            data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtypes.to_np(dtype)):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy expects an np.ndarray, got {type(arr).__name__}")
    dtypes.from_np(arr.dtype)
    return Tensor._make(arr)


# --- randomness ------------------------------------------------------------------------
class Generator:
    """torch.Generator: a seedable source of random numbers (numpy PCG64 underneath)."""

    def __init__(self, device="cpu"):
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        return self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63))).initial_seed()

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (the one every random op uses unless given another)."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def _rng(generator):
    return (generator or default_generator).rng


def _rand_dtype(dtype):
    d = dtypes.to_np(dtype) or dtypes.F32
    if d.kind != "f":
        raise TypeError(f"random floats need a floating dtype, got {dtypes.from_np(d)}")
    return d


def _random(prim, method, size, generator, dtype):
    if generator is None:
        return bind(prim, shape=size, dtype=dtype)
    return Tensor._make(getattr(generator.rng, method)(size).astype(dtype))


def rand(*size, generator=None, dtype=None, requires_grad=False, device=None):
    return _finish(_random(uniform_p, "random", _size(size), generator, _rand_dtype(dtype)),
                   requires_grad)


def randn(*size, generator=None, dtype=None, requires_grad=False, device=None):
    return _finish(_random(normal_p, "standard_normal", _size(size), generator,
                           _rand_dtype(dtype)), requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None):
    if size is None and isinstance(high, (tuple, list)):    # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    data = _rng(generator).integers(low, high, size=_size((size,)))
    return Tensor._make(data.astype(dtypes.to_np(dtype) or dtypes.I64))


def randperm(n, *, generator=None, dtype=None, device=None):
    return Tensor._make(_rng(generator).permutation(int(n)).astype(dtypes.to_np(dtype)
                                                                   or dtypes.I64))


def rand_like(x, *, dtype=None, generator=None):
    return rand(tuple(x.shape), dtype=dtype or x._data.dtype, generator=generator)


def randn_like(x, *, dtype=None, generator=None):
    return randn(tuple(x.shape), dtype=dtype or x._data.dtype, generator=generator)


def normal(mean, std, size, *, generator=None, dtype=None):
    return Tensor._make((_rng(generator).standard_normal(_size((size,))) * std + mean)
                        .astype(_rand_dtype(dtype)))


def bernoulli(p, *, generator=None):
    """Each element 1 with probability p (a tensor of probabilities)."""
    from .ops.elementwise import cast
    p = p if isinstance(p, Tensor) else Tensor._make(np.asarray(p))
    draws = _random(uniform_p, "random", tuple(p.shape), generator, dtypes.F64) < p
    return cast(draws, p._data.dtype if p._data.dtype.kind == "f" else dtypes.F32)
