"""torch._C's names that Python programs use with __torch_function__ (torch_function.py):
DisableTorchFunctionSubclass, DisableTorchFunction, _disabled_torch_function_impl and the
state queries."""
from . import torch_function as _tf
from .torch_function import (  # noqa: F401  (torch._C's names)
    DisableTorchFunction,
    DisableTorchFunctionSubclass,
    _disabled_torch_function_impl,
)


def _is_torch_function_enabled() -> bool:
    return _tf.current_state() == _tf.ENABLED


def _is_torch_function_mode_enabled() -> bool:
    return _tf.modes_on()


def _is_torch_function_all_disabled() -> bool:
    return _tf.current_state() == _tf.ALL_DISABLED


def _len_torch_function_stack() -> int:
    return len(_tf.thread_modes())
