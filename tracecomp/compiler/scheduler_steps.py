"""A learning-rate scheduler stepped inside compiled code, stepped after every call instead.

A scheduler counts its steps in Python and sets the groups' lr (and OneCycleLR's momentum)
as Python numbers: a trace would run that once, and every later call of the compiled code
would skip it. torch's tutorial on compiling the optimizer puts `sched.step()` right after
`opt.step()` inside the compiled function, and training-step functions do the same. While
the step is traced, such a `scheduler.step()` is recorded, not run (`Deferral.defer`); the
compiled call then steps the scheduler after the graph has run, every call
(`step_after`), which is where the function stepped it: nothing after it in the function
may read what it changes. So, for the rest of the trace, its optimizer's numeric
hyperparameters and its `get_last_lr()` are `AfterStep` numbers, and any use of one (an
optimizer step after the scheduler's, a returned lr) is a TraceError instead of a value
that would be one step old.

The scheduler is found again at every call by where the function reached it when traced
(`reach`): an argument, a closure cell, a global name or the function's own object (a
bound method's `self`), or one attribute, list element or dict entry inside one of those,
so a scheduler rebound to that name is the one stepped.
"""
from ..errors import TraceError
from .hyperparameters import WatchedNumber
from .state import describe_place, follow, inside, start, starts
from .value_reads import unwatched


class AfterStep(WatchedNumber):
    """A hyperparameter, or a scheduler's last lr, after a deferred scheduler step in the
    traced code: it holds the value before that step, so any use is refused."""

    def __new__(cls, value, what):
        number = WatchedNumber.__new__(cls, value)
        number.what = what
        return number

    def used(self):
        raise TraceError(
            f"compiled code read {self.what} after the scheduler's step() that changes it: "
            f"that step runs after the compiled call, so the value read here would be the "
            f"one before it. Step the scheduler last (after opt.step()), and read the "
            f"learning rate outside the compiled function.")


def _numeric(v):
    return type(v) in (int, float) or isinstance(v, float)


class Deferral:
    """The schedulers a trace stepped (`deferred`, in order), and the values swapped for
    AfterStep numbers meanwhile, put back when the `with` ends."""

    def __init__(self):
        self.deferred, self.swapped = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for holder, key, value in reversed(self.swapped):
            holder[key] = value
        self.swapped = []

    def check(self, statics):
        """After tracing: the function may not return a value AfterStep holds."""
        for v in statics:
            if type(v) is AfterStep:
                v.used()

    def defer(self, scheduler):
        """scheduler.step() inside the traced code: recorded, not run."""
        with unwatched():       # what it reads here is not the code's (value_reads.py)
            self._defer(scheduler)

    def _defer(self, scheduler):
        self.deferred.append(scheduler)
        for g, group in enumerate(scheduler.optimizer.param_groups):
            for name, value in list(group.items()):
                what = f"optimizer group {g}'s {name}"
                if _numeric(value):
                    self._swap(group, name, AfterStep(value, what))
                elif type(value) is tuple and value and all(map(_numeric, value)):
                    self._swap(group, name, tuple(AfterStep(v, what) for v in value))
        last = getattr(scheduler, "_last_lr", None)
        if isinstance(last, list) and all(map(_numeric, last)):
            self._swap(scheduler.__dict__, "_last_lr",
                       [AfterStep(v, f"{type(scheduler).__name__}.get_last_lr()")
                        for v in last])

    def _swap(self, holder, key, value):
        self.swapped.append((holder, key, holder[key]))
        holder[key] = value


def reach(fn, args, scheduler):
    """Where fn reaches `scheduler` when called with args, the path step_after follows: a
    place of state.starts and, one level inside it, (how, key), or None."""
    places = starts(fn, args)
    for where, x in places:
        if x is scheduler:
            return where, None
    for where, x in places:
        for how, _, key, value in inside(x):
            if value is scheduler:
                return where, (how, key)
    raise TraceError(f"compiled code stepped a learning-rate scheduler "
                     f"({type(scheduler).__name__}) it cannot find again at the next call: "
                     f"keep it in a global, a closure, an argument, or an attribute or list "
                     f"element of one")


def step_after(paths, fn, args):
    """Step the schedulers the traced code stepped, found by their paths, in order."""
    for where, step in paths:
        scheduler = start(fn, args, where)
        if step is not None and scheduler is not None:
            scheduler = follow(scheduler, *step)
        if scheduler is None:
            raise TraceError(f"the learning-rate scheduler that compiled {fn.__qualname__} "
                             f"steps is gone from where it was found "
                             f"({describe_place((where, step))})")
        scheduler.step()
