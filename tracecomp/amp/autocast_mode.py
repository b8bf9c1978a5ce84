"""torch.autocast (torch.amp.autocast), the autocast state functions, custom_fwd/custom_bwd.

Autocast runs chosen ops of a region in a lower precision on one device type. tracecomp
does not lower precision, and answers as torch's CPU build does where that is honest:

  - autocast('cuda') without a CUDA device warns and disables itself, as torch does;
    with a registered CUDA backend it is enabled and, as in torch, touches only tensors on
    that device: tracecomp tensors live on the CPU, so none.
  - autocast('cpu', dtype=float32/float64) warns and disables itself, as torch does.
  - autocast('cpu') enabled with bfloat16 (the default) or float16 casts the arguments of
    the ops in torch's CPU lists (amp/cpu_policy.py): matmuls and convolutions run in the
    autocast dtype, losses and a few others in float32.
  - other device types (mps, xpu, ...) only set their flags, as in torch on a machine
    without them: no tensor lives there.

The state (enabled flag and dtype per device type, cache flag, nesting) is per thread, as
in torch: autocast entered in one thread does not change another, and a new thread starts
with the defaults.
"""
import copy
import functools
import threading
import warnings

from .. import devices, dtypes
from ..user_code import user_stacklevel

# torch's default autocast dtype per device type (where autocast exists for it)
_DEFAULT_DTYPES = {"cuda": "float16", "cpu": "bfloat16", "mps": "float16", "xpu": "float16",
                   "hpu": "bfloat16", "xla": "bfloat16", "mtia": "float16",
                   "maia": "bfloat16", "ipu": "float16", "privateuseone": "float16"}


class _State(threading.local):
    """This thread's autocast state; __init__ runs once in each thread that reads it."""

    def __init__(self):
        self.enabled = {}       # device type -> bool (absent: off)
        self.dtype = {}         # device type -> DType (absent: _DEFAULT_DTYPES)
        self.cache = True
        self.nesting = 0
        self.inside = False     # inside an autocast op: its own inner ops are not cast


_STATE = _State()
# set once CPU autocast was enabled in any thread: until then an autocast op (cpu_policy)
# reads only this
CPU_EVER = [False]
# set once autocast was enabled for any device in any thread: until then compile_key, read
# on every fast compiled call, reads only this
EVER = [False]


def _device_type(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    return devices.device(device_type).type


def is_autocast_available(device_type) -> bool:
    return _device_type(device_type) in _DEFAULT_DTYPES


def _available(device_type):
    kind = _device_type(device_type)
    if kind not in _DEFAULT_DTYPES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{kind}'")
    return kind


def get_autocast_dtype(device_type):
    kind = _device_type(device_type)
    if kind not in _DEFAULT_DTYPES:
        raise RuntimeError("unsupported scalarType")
    return _STATE.dtype.get(kind) or getattr(dtypes, _DEFAULT_DTYPES[kind])


def set_autocast_dtype(device_type, dtype):
    _STATE.dtype[_available(device_type)] = dtype


def compile_key():
    """The autocast state a compiled call was traced under (its casts are graph nodes), for
    compiled code's cache key: the device types autocast is on for, with their dtypes; ()
    when it is off everywhere."""
    if not EVER[0]:
        return ()
    enabled = _STATE.enabled
    if True not in enabled.values():
        return ()
    dtype = _STATE.dtype        # a kind's None: its default dtype
    return tuple((kind, dtype.get(kind)) for kind, on in sorted(enabled.items()) if on)


def is_autocast_enabled(device_type=None) -> bool:
    """Whether autocast is on for device_type (None: 'cuda', torch's legacy default)."""
    return _STATE.enabled.get("cuda" if device_type is None else _available(device_type),
                                 False)


def set_autocast_enabled(device_type, enabled=None):
    """set_autocast_enabled(device_type, enabled), or the legacy set_autocast_enabled(flag)
    for CUDA."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    kind = _available(device_type)
    _STATE.enabled[kind] = bool(enabled)
    if enabled:
        EVER[0] = True
    if enabled and kind == "cpu":
        CPU_EVER[0] = True


def is_autocast_cpu_enabled() -> bool:
    return is_autocast_enabled("cpu")


def get_autocast_gpu_dtype():
    warnings.warn("torch.get_autocast_gpu_dtype() is deprecated. Please use "
                  "torch.get_autocast_dtype('cuda') instead.", DeprecationWarning,
                  stacklevel=user_stacklevel())
    return get_autocast_dtype("cuda")


def get_autocast_cpu_dtype():
    warnings.warn("torch.get_autocast_cpu_dtype() is deprecated. Please use "
                  "torch.get_autocast_dtype('cpu') instead.", DeprecationWarning,
                  stacklevel=user_stacklevel())
    return get_autocast_dtype("cpu")


def is_autocast_cache_enabled() -> bool:
    return _STATE.cache


def set_autocast_cache_enabled(enabled):
    _STATE.cache = bool(enabled)


def clear_autocast_cache():
    """No casts are cached here (none are made)."""


class autocast:
    """with tracecomp.autocast(device_type, dtype=None, enabled=True): ... (also a
    decorator). See the module docstring for what each device type does here."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = _available(device_type)
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else dtype
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None \
            else cache_enabled
        if enabled:
            enabled = self._check_enabled()
        self._enabled = enabled

    def _check_enabled(self):
        """False (with torch's warning) where torch disables itself."""
        from .. import cuda
        supported = (dtypes.bfloat16, dtypes.float16)
        if self.device == "cuda":
            if not cuda.is_available():
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling "
                              "autocast.", stacklevel=user_stacklevel())
                return False
            if self.fast_dtype == dtypes.bfloat16 and not cuda.is_bf16_supported():
                raise RuntimeError("Current CUDA Device does not support bfloat16. Please "
                                   "switch dtype to float16.")
        elif self.fast_dtype not in supported:
            name = self.device.upper()
            warnings.warn(f"In {name} autocast, but the target dtype is not supported. "
                          f"Disabling autocast.\n{name} Autocast only supports dtypes of "
                          f"{', '.join(map(repr, supported))} currently.",
                          stacklevel=user_stacklevel())
            return False
        return True

    def __enter__(self):
        if self._enabled:
            EVER[0] = True
        if self._enabled and self.device == "cpu":
            CPU_EVER[0] = True
        self.prev_cache_enabled = is_autocast_cache_enabled()
        self.prev = is_autocast_enabled(self.device)
        self.prev_fastdtype = get_autocast_dtype(self.device)
        _STATE.enabled[self.device] = self._enabled
        _STATE.dtype[self.device] = self.fast_dtype
        _STATE.nesting += 1
        set_autocast_cache_enabled(self._cache_enabled)
        return self

    def __exit__(self, *exc):
        _STATE.nesting -= 1
        _STATE.enabled[self.device] = self.prev
        _STATE.dtype[self.device] = self.prev_fastdtype
        set_autocast_cache_enabled(self.prev_cache_enabled)
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got "
                            f"{type(func).__name__}. Did you mean to use autocast as a "
                            f"context manager? For example:\n    with "
                            f"torch.autocast(device_type=...):\n        output = model(input)")

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            # a copy per call: __enter__ keeps the state to restore on the object, and the
            # decorated function may run in several threads at once
            with copy.copy(self):
                return func(*args, **kwargs)
        return decorate_autocast


# --- custom_fwd / custom_bwd: for autograd.Function forward/backward under autocast ---------
def _cast(value, device_type, dtype):
    """Floating tensors (not float64) of `device_type` in value, converted to dtype."""
    from ..tensor import Tensor
    if isinstance(value, Tensor):
        eligible = value.is_floating_point() and value.device.type == device_type and \
            value.dtype is not dtypes.float64
        return value.to(dtype) if eligible else value
    if isinstance(value, dict):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    return value


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorate an autograd.Function's forward: it runs under the caller's autocast state,
    or with its floating inputs cast to `cast_inputs` and autocast off."""
    _device_type(device_type)
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        args[0]._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            args[0]._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        used = is_autocast_enabled(device_type)
        args[0]._fwd_used_autocast = False
        if not used:
            return fwd(*args, **kwargs)
        with autocast(device_type=device_type, enabled=False):
            return fwd(*_cast(args, device_type, cast_inputs),
                       **_cast(kwargs, device_type, cast_inputs))
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorate an autograd.Function's backward: it runs under its forward's autocast state."""
    _device_type(device_type)
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        with autocast(device_type=device_type, enabled=args[0]._fwd_used_autocast,
                      dtype=args[0]._dtype):
            return bwd(*args, **kwargs)
    return decorate_bwd
