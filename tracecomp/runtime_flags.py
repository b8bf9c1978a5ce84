"""torch's process-wide switches that programs and libraries query or set: inference mode
and anomaly detection state, warn_always, the interop thread count, the deterministic
debug mode, denormal flushing. Each answers what tracecomp does (no interop pool: the
count is kept and reported; numpy cannot flush denormals: set_flush_denormal says False,
as torch says on a CPU without the instructions)."""
import warnings

from . import backends, grad_mode
from .autograd import anomaly_mode
from .ops.public import public

_STATE = {"warn_always": False, "interop_threads": None}
_DETERMINISTIC_MODES = {"default": 0, "warn": 1, "error": 2}


@public("torch")
def is_inference_mode_enabled():
    """Whether code runs under tracecomp.inference_mode()."""
    return grad_mode.state.inference


@public("torch")
def is_inference(input):  # noqa: A002
    """Whether input is an inference tensor (made under inference_mode, or a view of one)."""
    return input.is_inference()


@public("torch")
def is_anomaly_enabled():
    return anomaly_mode.is_anomaly_enabled()


@public("torch")
def is_anomaly_check_nan_enabled():
    return anomaly_mode.is_anomaly_check_nan_enabled()


@public("torch")
def set_anomaly_enabled(enabled, check_nan=True):
    anomaly_mode.set_detect_anomaly(enabled, check_nan)


@public("torch")
def is_warn_always_enabled():
    return _STATE["warn_always"]


@public("torch")
def set_warn_always(b):
    """torch's warn-once warnings warn every time when set; tracecomp's warn-once notices
    (a recompile, a graph break) go through Python's warnings, whose filters decide."""
    _STATE["warn_always"] = bool(b)
    if b:
        warnings.simplefilter("always")


@public("torch")
def get_num_interop_threads():
    """The inter-op thread count: what was set, else torch's default (the cores)."""
    import os
    return _STATE["interop_threads"] or (os.cpu_count() or 1)


@public("torch")
def set_num_interop_threads(num):
    if _STATE["interop_threads"] is not None:
        raise RuntimeError("Error: cannot set number of interop threads after parallel work "
                           "has started or set_num_interop_threads called")
    if int(num) <= 0:
        raise RuntimeError("Expected positive number of threads")
    _STATE["interop_threads"] = int(num)


@public("torch")
def get_deterministic_debug_mode():
    """0 (default), 1 (warn) or 2 (error): use_deterministic_algorithms' setting."""
    if not backends.are_deterministic_algorithms_enabled():
        return 0
    return 1 if backends.is_deterministic_algorithms_warn_only_enabled() else 2


@public("torch")
def set_deterministic_debug_mode(debug_mode):
    mode = _DETERMINISTIC_MODES.get(debug_mode, debug_mode)
    if mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected one of 0, 1, 2, but got "
                           f"{debug_mode}")
    backends.use_deterministic_algorithms(mode > 0, warn_only=mode == 1)


@public("torch")
def set_flush_denormal(mode):
    """Whether denormal flushing was turned on: never here (numpy computes with them)."""
    return False
