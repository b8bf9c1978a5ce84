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


class Switch:
    """A per-thread setting (attribute `name` of `holder`, a threading.local) that a call
    switches at once and a `with` restores on exit; as a decorator it holds the setting
    while the function runs (torch's set_grad_enabled, set_multithreading_enabled)."""

    holder, name = None, None

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = getattr(self.holder, self.name)
        setattr(self.holder, self.name, self._mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        setattr(self.holder, self.name, self._prev)
        return False

    def clone(self):
        return self.__class__(self._mode)

    def __call__(self, fn):
        holder, name, mode = self.holder, self.name, self._mode
        setattr(holder, name, self._prev)       # the call's switch undone: fn's own

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = getattr(holder, name)
            setattr(holder, name, mode)
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(holder, name, prev)
        return wrapper


class set_grad_enabled(Switch):
    """`set_grad_enabled(False)` switches at once (as a call) and restores as a context."""

    holder, name = state, "enabled"


INPLACE = ("Inplace update to inference tensor outside InferenceMode is not allowed.You can "
           "make a clone to get a normal tensor before doing inplace update.See "
           "https://github.com/pytorch/rfcs/pull/17 for more details.")


class InferenceCounter(list):
    """The version counter of an inference tensor: one made while inference_mode is on
    (views share their base's counter, so a view of one is one too, and a view of an
    ordinary tensor is ordinary, as torch's). Its type is the mark, so ordinary tensors
    carry nothing more: is_inference() is a type check, and the checks torch makes (no
    saving for backward, no version, no requires_grad outside inference mode) run only once
    some inference tensor was made (`seen`).

    An in-place update bumps the counter after writing: outside inference mode the bump is
    torch's error, raised, as torch raises it, once the values are written."""

    __slots__ = ()

    def __setitem__(self, k, value):
        if not state.inference:
            raise RuntimeError(INPLACE)
        list.__setitem__(self, k, value)


class DetachedCounter(InferenceCounter):
    """detach() or .data of an inference tensor outside inference mode: still an inference
    tensor, but with a version counter of its own that in-place updates may bump (torch's
    quirk: `a.detach().add_(1)` is allowed where `a.add_(1)` is not)."""

    __slots__ = ()
    __setitem__ = list.__setitem__


# [True] once inference_mode was entered in any thread: until then the tape skips looking
# for inference tensors (most programs never make one)
seen = [False]


def detached_counter(vc):
    """The counter of x.detach() / x.data for x's counter vc: a DetachedCounter for an
    inference tensor outside inference mode; else None (detach shares vc, .data a new one)."""
    if type(vc) is InferenceCounter and not state.inference:
        return DetachedCounter((0,))
    return None


class inference_mode(no_grad):
    """torch.inference_mode: no_grad whose new tensors are inference tensors (marked by
    their version counter, InferenceCounter), with torch's rules for them outside it."""

    def __init__(self, mode: bool = True):
        self._mode = not mode
        self._inference = bool(mode)

    def __enter__(self):
        super().__enter__()
        self._prev_inference = state.inference
        state.inference = self._inference
        if self._inference:
            seen[0] = True

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


def refuse_complex_grad(op, dtype, *inputs):
    """torch has no derivative for some ops' complex results (scatter_reduce, index_reduce,
    view_as_complex_copy) and refuses when the op runs, not at backward: the same here, in
    torch's words followed by what to do. dtype: the result's (a tracecomp DType)."""
    from .errors import AutogradError
    grads = [t for t in inputs if getattr(t, "requires_grad", False)]
    if grads and dtype.is_complex and state.enabled:
        raise AutogradError(
            f"{op} does not support automatic differentiation for outputs with complex dtype. "
            f"(here {dtype}, from an input that requires grad; detach() it, run under "
            f"no_grad(), or apply {op} to the real parts of torch.view_as_real)")
