"""Random sampling with torch's API, and `tracecomp.random` (torch.random).

    multinomial, normal (all four forms), bernoulli, poisson, binomial, randint_like
    Tensor.random_ / exponential_ / cauchy_ / log_normal_ / geometric_ / bernoulli_ / normal_
    manual_seed, seed, initial_seed, get_rng_state, set_rng_state, fork_rng

Numbers come from numpy's PCG64 through a `Generator` (creation.py): a seed gives the same
numbers here every time, not the numbers torch gives. Every function takes `generator=`.
Samplers with tensor inputs (multinomial, bernoulli, poisson, binomial) are primitives tagged
"random", and normal with tensor mean/std draws through the `normal` primitive, so compiled
code draws afresh on every call (from the generator given, if any) instead of baking one
sample into the graph.

Gradients: torch defines the derivative of a sample with respect to its parameters (mean,
std, p, rates) as zero, yet the sample requires grad when a parameter does.
`_zero_grad_link` gives both.
"""
import contextlib

import numpy as np

from . import dtypes, grad_mode, inplace
from .creation import (
    _finish,
    _rand_dtype,
    _random,
    _size,
    default_generator,
    drawn,
    full,
    initial_seed,
    laid_out_like,
    manual_seed,
    normal_p,
    seed,
)
from .dispatch import bind
from .dtypes import np_kind
from .errors import DTypeNotImplemented
from .ops import elementwise as ew
from .ops.registry import defprim
from .ops.rules import broadcast_shapes, same_dtype, same_shape
from .tensor import Tensor

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "fork_rng", "default_generator"]


_F32 = np.dtype(np.float32)


def _gen(generator):
    return (generator or default_generator).rng


def _gen_param(generator):
    """The `generator` param only when one was given, so the IR of default draws is plain."""
    return {} if generator is None else {"generator": generator}


def _not_implemented(kernel, dtype):
    return DTypeNotImplemented(f'"{kernel}" not implemented for '
                               f"'{dtypes.TORCH_NAMES[np.dtype(dtype)]}'")


def _zero_grad_link(out, *params):
    """out, made to require grad (with a zero gradient) when a tensor in `params` does."""
    for t in params:
        if isinstance(t, Tensor) and t.requires_grad and grad_mode.is_grad_enabled():
            out = ew.where(full(tuple(out.shape), True), out, t)
    return out


# --- multinomial --------------------------------------------------------------------------
def _multinomial_impl(probs, num_samples, replacement, generator=None):
    rng, rows = _gen(generator), np.asarray(probs, np.float64).reshape(-1, probs.shape[-1])
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if rows.shape[0] and np.any(rows.sum(axis=1) <= 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if replacement:
        # inverse CDF: category j owns [cdf[j-1], cdf[j]), empty for a zero probability
        cdf = np.cumsum(rows, axis=1)
        draws = rng.random((rows.shape[0], num_samples)) * cdf[:, -1:]
        out = np.stack([np.searchsorted(c, d, side="right") for c, d in zip(cdf, draws)]) \
            if rows.shape[0] else np.zeros((0, num_samples), np.int64)
    else:
        # exponential race: the k smallest of E_j / p_j (E_j ~ Exp(1)) are a draw without
        # replacement in proportion to p; zero-probability categories come last
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential(rows.shape) / rows
        out = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    return np.minimum(out, rows.shape[1] - 1).astype(np.int64).reshape(
        probs.shape[:-1] + (num_samples,))


multinomial_p = defprim(
    "multinomial", _multinomial_impl,
    lambda p, num_samples, replacement, generator=None: tuple(p[:-1]) + (num_samples,),
    lambda p, **_: dtypes.I64, None, ("random",))


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):  # noqa: A002
    """Indices drawn from each row of `input` (unnormalized probabilities)."""
    if np_kind(input._data.dtype) != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{dtypes.TORCH_NAMES[input._data.dtype]}")
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > input.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    return bind(multinomial_p, input, num_samples=int(num_samples),
                replacement=bool(replacement), **_gen_param(generator))


# --- bernoulli, poisson -------------------------------------------------------------------
def _bernoulli_impl(p, generator=None):
    p = np.asarray(p)
    if not np.all((p >= 0) & (p <= 1)):           # NaN fails too
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  "
                           "(Could this error message be improved?  If so, please report an "
                           "enhancement request to PyTorch.)")
    return (_gen(generator).random(p.shape) < p).astype(p.dtype)


def _poisson_impl(rates, generator=None):
    rates = np.asarray(rates)
    if np.any(rates < 0):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return _gen(generator).poisson(rates).astype(rates.dtype)


def _binomial_impl(count, prob, generator=None):
    """torch's rules, fractional counts included: 0 for count <= 0 or prob <= 0, the count
    itself for prob >= 1; else k successes in floor(count) trials for prob <= 1/2, and for
    prob > 1/2 count less the failures in floor(count) trials (so 2.7 trials at 0.9 give
    2.7, 1.7 or 0.7, as torch's do)."""
    count, prob = np.broadcast_arrays(np.asarray(count), np.asarray(prob))
    trials = np.floor(np.where(count > 0, count, 0)).astype(np.int64)
    flip = prob > 0.5
    draws = _gen(generator).binomial(trials, np.clip(np.where(flip, 1 - prob, prob), 0, 1))
    draws = np.where(flip, count - draws, draws)
    out = np.where((count <= 0) | (prob <= 0), 0, np.where(prob >= 1, count, draws))
    return out.astype(np.result_type(count, prob))


bernoulli_p = defprim("bernoulli", _bernoulli_impl, same_shape, same_dtype, None, ("random",))
poisson_p = defprim("poisson", _poisson_impl, same_shape, same_dtype, None, ("random",))
binomial_p = defprim("binomial", _binomial_impl,
                     lambda c, p, generator=None: broadcast_shapes("binomial", c, p),
                     lambda c, p, generator=None: np.result_type(c.dtype, p.dtype), None,
                     ("random",))


def bernoulli(input, p=None, *, generator=None, out=None):  # noqa: A002
    """1 with probability `input` (or with probability p, in input's shape), else 0."""
    if p is not None and not isinstance(p, Tensor):
        probs = full(tuple(input.shape), float(p), dtype=input._data.dtype)
    else:
        probs = input if p is None else p
        if np_kind(probs._data.dtype) != "f":
            raise _not_implemented("bernoulli_tensor_cpu_p_", probs._data.dtype)
    return _zero_grad_link(bind(bernoulli_p, probs, **_gen_param(generator)), input)


def poisson(input, generator=None):  # noqa: A002
    """A Poisson sample with rate `input`, elementwise (input's float dtype)."""
    if np_kind(input._data.dtype) != "f":
        raise _not_implemented("poisson_cpu", input._data.dtype)
    return _zero_grad_link(bind(poisson_p, input, **_gen_param(generator)), input)


def binomial(count, prob, generator=None):
    """Binomial(count, prob) draws, elementwise (torch.binomial: float tensors)."""
    for t in (count, prob):
        if t._data.dtype.kind != "f":
            raise _not_implemented("binomial_cpu", t._data.dtype)
    return _zero_grad_link(bind(binomial_p, count, prob, **_gen_param(generator)), count, prob)


# --- normal -------------------------------------------------------------------------------
_NORMAL_FORMS = (
    "normal() received an invalid combination of arguments - got ({}), but expected one of:\n"
    " * (Tensor mean, Tensor std, *, Generator generator = None)\n"
    " * (Tensor mean, float std = 1, *, Generator generator = None)\n"
    " * (float mean, Tensor std, *, Generator generator = None)\n"
    " * (float mean, float std, tuple of ints size, *, Generator generator = None, "
    "dtype dtype = None, device device = None, bool requires_grad = False)")


def _check_std(std):
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None,
           layout=None, device=None, pin_memory=False, requires_grad=False):
    """Samples of N(mean, std^2): numbers with `size`, or tensors (broadcast together)."""
    tensors = [a for a in (mean, std) if isinstance(a, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError(_NORMAL_FORMS.format(f"{type(mean).__name__}, "
                                                 f"{type(std).__name__}"))
        from .devices import check_placement
        check_placement(device)
        _check_std(std)
        sample = _random(normal_p, "standard_normal", _size((size,)), generator,
                         _rand_dtype(dtype))
        sample = sample * std if std != 1 else sample
        return _finish(sample + mean if mean != 0 else sample, requires_grad)
    if size is not None or dtype is not None or requires_grad:
        got = ", ".join(type(a).__name__ for a in (mean, std)) + (", size=tuple"
                                                                  if size is not None else "")
        raise TypeError(_NORMAL_FORMS.format(got))
    for t in tensors:
        if np_kind(t._data.dtype) != "f":
            raise _not_implemented("normal_kernel_cpu", t._data.dtype)
    if isinstance(std, Tensor):
        if isinstance(std._data, np.ndarray) and np.any(std._data < 0):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    else:
        _check_std(std)
    shape = broadcast_shapes("normal", *[tuple(t.shape) for t in tensors])
    dtype = dtypes.result_type(*[t._data for t in tensors])
    eps = bind(normal_p, shape=shape, dtype=dtype, **_gen_param(generator))
    scale = std.detach() if isinstance(std, Tensor) else float(std)
    shift = mean.detach() if isinstance(mean, Tensor) else float(mean)
    return _zero_grad_link(eps * scale + shift, mean, std)


# --- randint_like -------------------------------------------------------------------------
def _int_range(low, high):
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    return int(low), int(high)


def randint_like(input, low=0, high=None, *, dtype=None, generator=None, requires_grad=False,  # noqa: A002
                 layout=None, device=None, memory_format=None):
    """Integers in [low, high) (randint_like(x, high) means low = 0) in x's shape and dtype."""
    from .devices import check_placement
    check_placement(device)
    low, high = _int_range(low, high)
    made = drawn(tuple(input.shape), dtypes.to_np(dtype) or input._data.dtype,
                 lambda s: _gen(generator).integers(low, high, size=s),
                 f"randint_like({low}, {high})")
    made = laid_out_like(made, input, memory_format, "randint_like")
    return _finish(made, requires_grad)


# --- in-place samplers (Tensor methods) ---------------------------------------------------
_C_NAMES = {np.dtype(np.uint8): "unsigned char", np.dtype(np.int8): "signed char",
            np.dtype(np.int16): "short", np.dtype(np.int32): "int", np.dtype(np.int64): "long",
            dtypes.BOOL: "bool"}
# random_() with no range: the integers the dtype holds exactly, as torch
_FULL_RANGE = {np.dtype(np.float16): 2 ** 11, np.dtype(np.float32): 2 ** 24,
               np.dtype(np.float64): 2 ** 53, dtypes.BOOL: 1}


def random_(x, *args, generator=None, **kwargs):
    """x.random_(), x.random_(to), x.random_(from, to): integers, [from, to) (to = None:
    up to the dtype's largest exact integer)."""
    names = ("from", "to")
    bounds = dict(zip(names, args)) | {k: kwargs.pop(k) for k in names if k in kwargs}
    if kwargs:
        raise TypeError(f"random_() got an unexpected keyword argument '{next(iter(kwargs))}'")
    d = x._data.dtype
    top = _FULL_RANGE.get(d) if d in _FULL_RANGE else int(np.iinfo(d).max)
    if len(args) == 1 and "to" not in bounds:
        bounds = {"from": 0, "to": args[0]}
    low, high = bounds.get("from", 0), bounds.get("to")
    if high is None:
        if low > top:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                               f"from={low} >= to={top}")
        high = top + 1
    _int_range(low, high)
    if np_kind(d) in "biu":
        info = (0, 1) if d == dtypes.BOOL else (int(np.iinfo(d).min), int(np.iinfo(d).max))
        if not info[0] <= low <= info[1]:
            raise RuntimeError(f"from is out of bounds for {_C_NAMES[d]}")
        if not info[0] <= high - 1 <= info[1]:
            raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[d]}")
    return inplace.random_fill(
        x, lambda s: _gen(generator).integers(low, high, size=s, dtype=np.int64,
                                              endpoint=False), f"random_({low}, {high})")


def _continuous_only(x, what, type_names=dtypes.TORCH_NAMES):
    if np_kind(x._data.dtype) != "f":
        raise RuntimeError(f"{what} is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {type_names[x._data.dtype]}")


# cauchy_'s message spells the dtype as C++ does
_CPP_NAMES = {**_C_NAMES, np.dtype(np.int64): "long int", np.dtype(np.int16): "short int"}


def exponential_(x, lambd=1.0, *, generator=None):
    _continuous_only(x, "Exponential distribution")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    return inplace.random_fill(x, lambda s: _gen(generator).exponential(1.0 / lambd, s),
                               f"exponential_({lambd})")


def cauchy_(x, median=0.0, sigma=1.0, *, generator=None):
    _continuous_only(x, "Cauchy distribution", _CPP_NAMES)
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
    return inplace.random_fill(
        x, lambda s: median + sigma * _gen(generator).standard_cauchy(s),
        f"cauchy_({median}, {sigma})")


def log_normal_(x, mean=1.0, std=2.0, *, generator=None):
    if np_kind(x._data.dtype) != "f":
        raise _not_implemented("log_normal_cpu", x._data.dtype)
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std:g}")
    return inplace.random_fill(x, lambda s: _gen(generator).lognormal(mean, std, s),
                               f"log_normal_({mean}, {std})")


def geometric_(x, p, *, generator=None):
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")
    return inplace.random_fill(x, lambda s: _gen(generator).geometric(p, s),
                               f"geometric_({p})")


def normal_(x, mean=0.0, std=1.0, *, generator=None):
    if np_kind(x._data.dtype) != "f":
        raise _not_implemented("normal_kernel_cpu", x._data.dtype)
    _check_std(std)
    sample = _float32_fill("standard_normal", std, mean, generator) \
        if x._data.dtype == _F32 else lambda s: _gen(generator).normal(mean, std, s)
    return inplace.random_fill(x, sample, f"normal_({mean}, {std})")


def uniform_(x, a=0.0, b=1.0, generator=None):
    sample = _float32_fill("random", b - a, a, generator) \
        if x._data.dtype == _F32 else lambda s: _gen(generator).uniform(a, b, s)
    return inplace.random_fill(x, sample, f"uniform_({a}, {b})")


def _float32_fill(method, scale, shift, generator):
    """A float32 tensor's sampler: the generator's `method` drawn in float32, as torch
    draws, straight into the tensor (random_fill's out=), then scaled and shifted in place.
    A float64 draw cast down takes twice the memory and a pass more (VGG's 4096x25088
    classifier weight: 100M numbers), and a scale of 1 or a shift of 0 is no pass at all."""
    def sample(s, out=None):
        z = getattr(_gen(generator), method)(s, dtype=_F32, out=out)
        if scale != 1:
            z *= np.float32(scale)
        if shift != 0:
            z += np.float32(shift)
        return z
    sample.fills = True
    return sample


def bernoulli_(x, p=0.5, *, generator=None):
    if isinstance(p, Tensor):
        probs = np.broadcast_to(p._data, x._data.shape)
        return inplace.random_fill(x, lambda s: _bernoulli_impl(probs, generator),
                                   "bernoulli_(p: tensor)")
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
    return inplace.random_fill(x, lambda s: _gen(generator).random(s) < p, f"bernoulli_({p})")


def _bernoulli_method(x, p=None, *, generator=None):
    """Tensor.bernoulli(p=None): p is a number here (torch's method signature)."""
    return bernoulli(x, p, generator=generator)


def get_rng_state() -> Tensor:
    """The default generator's state (a uint8 tensor), for set_rng_state."""
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices",
             device_type=None):
    """Inside the block, draws do not advance the default generator: its state is restored
    on exit (tracecomp has only the CPU generator, so `devices` has nothing else to fork)."""
    if not enabled:
        yield
        return
    saved = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)
