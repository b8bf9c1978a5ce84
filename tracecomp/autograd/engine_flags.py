"""torch.autograd's engine switches and queries, answered for tracecomp's engine.

    is_multithreading_enabled() / set_multithreading_enabled(mode)   torch runs backward on
        per-device worker threads unless this is off; our engine always runs it on the
        calling thread, so the setting (per thread, as torch's) is kept and reported only
    is_view_replay_enabled()    False: torch's default; a view whose base changed in place
        replays its view ops here anyway (dispatch.current_node), which is what the setting
        asks torch for where as_strided cannot be used
    is_tensor_like(x)           a Tensor, or an object with __torch_function__
    kineto_available()          False: the profiler (autograd/profiler.py) is our own
"""
import threading

from ..grad_mode import Switch
from ..tensor import Tensor


class _Flags(threading.local):
    multithreading = True


_flags = _Flags()


def is_multithreading_enabled() -> bool:
    return _flags.multithreading


class set_multithreading_enabled(Switch):
    """Switches at once (as a call) and restores the previous setting on exit (as a context
    manager); as a decorator, switches while the function runs."""

    holder, name = _flags, "multithreading"


def is_view_replay_enabled() -> bool:
    return False


def is_tensor_like(inp) -> bool:
    return isinstance(inp, Tensor) or hasattr(inp, "__torch_function__")


def kineto_available() -> bool:
    return False
