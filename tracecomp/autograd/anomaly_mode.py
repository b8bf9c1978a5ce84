"""Anomaly detection (torch.autograd.detect_anomaly / set_detect_anomaly), honestly scoped.

What it checks here: while it is on with check_nan=True, every backward function's returned
gradients are scanned, and the first one holding a NaN stops backward with torch's error,
"Function 'SqrtBackward' returned nan values in its 0th output.". What it does not do:
torch also records the Python traceback of every forward op so the error can show where
the failing op was created; tracecomp's tape keeps no tracebacks (it would cost every eager
op a stack walk), so the error names the backward function only. Compiled code is not
checked (its backward runs as one native call).
"""
import warnings

import numpy as np

from ..dtypes import np_kind
from ..errors import AutogradError
from ..tensor import Tensor
from ..user_code import user_stacklevel


class _State:
    # One flag for the whole process, not per thread: torch's AnomalyMode is a static too,
    # so set_detect_anomaly(True) in one thread turns it on in all of them.
    enabled = False
    check_nan = False       # enabled and check_nan: the engine reads only this flag


state = _State()


def is_anomaly_enabled() -> bool:
    return state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return state.check_nan


def _set(mode, check_nan):
    state.enabled, state.check_nan = bool(mode), bool(mode) and bool(check_nan)


def _warn():
    warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                  "and should only be enabled for debugging.", stacklevel=user_stacklevel())


class detect_anomaly:
    """Context manager (and decorator) that turns anomaly detection on inside it."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        _warn()

    def __enter__(self):
        self._prev = (state.enabled, state.check_nan)
        _set(True, self.check_nan)

    def __exit__(self, *exc):
        state.enabled, state.check_nan = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """Turns anomaly detection on or off at once; as a context manager, restores on exit."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (state.enabled, state.check_nan)
        _set(mode, check_nan)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        state.enabled, state.check_nan = self._prev
        return False


def check_nan(name, grads):
    """torch's error when a backward function returned NaN (eager arrays only)."""
    for k, g in enumerate(grads):
        if isinstance(g, Tensor) and isinstance(g._data, np.ndarray) \
                and np_kind(g._data.dtype) == "f" and np.isnan(g._data).any():
            raise AutogradError(f"Function '{name}' returned nan values in its {k}th output.")
