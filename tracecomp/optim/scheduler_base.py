"""LRScheduler, the base of the learning-rate schedulers, with torch's semantics: the
initial step at construction, the chainable `get_lr` called from `step()`, the closed
form for the deprecated `step(epoch)`, state_dict / load_state_dict, and the warnings
torch gives (a scheduler stepped before its optimizer, get_lr called directly).

A group's lr may be a Python float or a 1-element tensor; a tensor is updated in place
(fill_) and read back as a copy, as torch does, so nobody holding it sees it aliased.
"""
import warnings
from functools import wraps

from .. import context
from ..errors import TraceError
from ..tensor import Tensor
from ..user_code import user_stacklevel
from .optimizer import Optimizer

EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated "
    "where possible. Please use `scheduler.step()` to step the scheduler. During the "
    "deprecation, if epoch is different from None, the closed form is used instead of the "
    "new chainable form, where available. Please open an issue if you are unable to "
    "replicate your use case: https://github.com/pytorch/pytorch/issues/new/choose.")

_ORDER_DOCS = "See more details at https://pytorch.org/docs/stable/optim.html" \
              "#how-to-adjust-learning-rate"


def group_values(optimizer, key="lr"):
    """[group[key] for each group], tensors copied so the result never aliases them."""
    return [g[key].clone() if isinstance(g[key], Tensor) else g[key]
            for g in optimizer.param_groups]


def set_group_value(group, key, value):
    """group[key] = value, in place when it holds a tensor (whoever holds it sees it)."""
    if isinstance(group[key], Tensor):
        group[key].fill_(value.item() if isinstance(value, Tensor) else value)
    else:
        group[key] = value


def format_param(name, optimizer, value):
    """One value per param group: a list is checked for length, a scalar is repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. "
                             f"{name} has {len(value)} values, param_groups has "
                             f"{len(optimizer.param_groups)}.")
    else:
        value = [value] * len(optimizer.param_groups)
    return [v.clone() if isinstance(v, Tensor) else v for v in value]


def check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _mark_step_calls(optimizer):
    """Wrap optimizer.step so it records that it ran: the first scheduler.step() warns when
    it comes before any optimizer.step(), as torch's does."""
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    step = optimizer.step

    @wraps(step)
    def wrapper(*args, **kwargs):
        # object.__setattr__: a flag of ours, not a store of the user's step for compiled
        # code to replay (object_stores.StoreWatch hooks a user Optimizer's __setattr__)
        object.__setattr__(optimizer, "_opt_called", True)
        return step(*args, **kwargs)

    wrapper._wrapped_by_lr_sched = True
    optimizer.step = wrapper


def _outside_traces(step):
    """A scheduler's step, which a trace of compiled code does not run: it changes Python
    numbers (its epoch count, the groups' lr), which a trace would change once, on the
    first call. The compiler steps it after every call instead (compiler/scheduler_steps.py);
    a step with arguments (ReduceLROnPlateau's metric, an epoch) is refused."""
    @wraps(step)
    def checked(self, *args, **kwargs):
        trace = context.current()
        if trace is None:
            return step(self, *args, **kwargs)
        if args or kwargs or trace.defer_scheduler is None:
            raise TraceError(
                f"{type(self).__name__}.step({'...' if args or kwargs else ''}) ran inside "
                f"compiled code{' with arguments' if args or kwargs else ''}: a scheduler "
                f"counts its steps in Python, which a trace runs once, so the learning rate "
                f"would change on the first call only. Call the scheduler's step() after "
                f"the compiled function returns: the next call reads the new values.")
        trace.defer_scheduler(self)
    return checked


class LRScheduler:
    _get_lr_called_within_step = False
    _is_initial = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _outside_traces(cls.__dict__["step"])

    def __init__(self, optimizer, last_epoch=-1):
        check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                lr = group["lr"]
                group.setdefault("initial_lr", lr.clone() if isinstance(lr, Tensor) else lr)
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        f"resuming scheduler with last_epoch >= 0.\nThis typically happens "
                        f"when:\n1. You're trying to resume training from a checkpoint but "
                        f"haven't properly loaded the optimizer state\n2. You're using "
                        f"last_epoch >= 0 for a fresh training run (not recommended)")
        self.base_lrs = group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _mark_step_calls(optimizer)
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)

    def get_last_lr(self):
        return self._last_lr

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def _check_in_step(self):
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, "
                          "please use `get_last_lr()`.", UserWarning, stacklevel=user_stacklevel())

    def step(self, epoch=None):
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn("Seems like `optimizer.step()` has been overridden after "
                              "learning rate scheduler initialization. Please, make sure to "
                              "call `optimizer.step()` before `lr_scheduler.step()`. "
                              + _ORDER_DOCS, UserWarning, stacklevel=user_stacklevel())
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn("Detected call of `lr_scheduler.step()` before "
                              "`optimizer.step()`. In PyTorch 1.1.0 and later, you should "
                              "call them in the opposite order: `optimizer.step()` before "
                              "`lr_scheduler.step()`.  Failure to do this will result in "
                              "PyTorch skipping the first value of the learning rate "
                              "schedule. " + _ORDER_DOCS, UserWarning, stacklevel=user_stacklevel())
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION, UserWarning, stacklevel=user_stacklevel())
        self._update_lr(epoch)

    step = _outside_traces(step)

    def _update_lr(self, epoch=None):
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._set_lrs(values)

    def _set_lrs(self, values):
        for group, lr in zip(self.optimizer.param_groups, values):
            set_group_value(group, "lr", lr)
        self._last_lr = group_values(self.optimizer)


class _LRScheduler(LRScheduler):
    """torch's old name of the base class, kept for code that subclasses it."""
