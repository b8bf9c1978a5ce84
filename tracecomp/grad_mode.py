"""Grad mode: whether ops record themselves on the autograd tape.

`no_grad`, `enable_grad` and `set_grad_enabled` work as context managers and decorators,
as in torch. The flag lives on one module-level object, `state`, because every op reads
it (`grad_mode.state.enabled`). As in torch it is per thread: `state` is a threading.local,
so `no_grad` in one thread leaves the others recording, and a new thread starts with
gradients on (the class attribute is every thread's default until it sets its own).
"""
import functools
import threading


class _GradState(threading.local):
    enabled = True      # the default each thread sees until it switches
    inference = False   # inside inference_mode() (torch.is_inference_mode_enabled)


state = _GradState()


def is_grad_enabled() -> bool:
    return state.enabled


class _GradModeContext:
    """Base for the grad-mode switches: a context manager that also decorates functions."""

    _mode = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._mode

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    _mode = False


class enable_grad(_GradModeContext):
    _mode = True


class set_grad_enabled(_GradModeContext):
    """`set_grad_enabled(False)` switches at once (as a call) and restores as a context."""

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = state.enabled
        state.enabled = self._mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        state.enabled = self._prev
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.enabled
            state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = prev
        return wrapper


class inference_mode(no_grad):
    """torch.inference_mode: no_grad that torch.is_inference_mode_enabled() reports (its
    tensors are ordinary ones here: torch's speed-up is in its own bookkeeping)."""

    def __init__(self, mode: bool = True):
        self._mode = not mode
        self._inference = bool(mode)

    def __enter__(self):
        super().__enter__()
        self._prev_inference = state.inference
        state.inference = self._inference

    def __exit__(self, *exc):
        state.inference = self._prev_inference
        return super().__exit__(*exc)

    def __call__(self, fn):
        inference = self._inference

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(inference):
                return fn(*args, **kwargs)
        return wrapper
