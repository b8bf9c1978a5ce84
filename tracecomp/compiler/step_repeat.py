"""The fused optimizer step's fast path: the latest step again, on the same parameters.

A fused `opt.step()` (fused_step.py) goes through the general compiled call: it finds the
modules and optimizers its function reads, walks the optimizer's groups and state into a
labelled list, sorts every group's hyperparameters into the signature, rechecks the
latest signature, then runs the update. For SGD on a three-layer MLP that is ~35 us of
Python around a ~0.3 us native call (tiny layers, znver4), every step, while from the
second step on nothing of it changes: the same parameters in the same groups, the same
state entries, the same hyperparameters, gradients of the same shapes.

So the latest general call that changed nothing but tensors' values leaves a StepRepeat:
where each tensor of that call's input list came from (parameter i, its gradient, its
state entry `key`, or a fed hyperparameter), and the groups' hyperparameters as they were.
The next step rebuilds the list from the parameters by that recipe and runs the same
artifact when

  - grad mode is as it was and no trace is in progress (a traced step inlines the update);
  - the groups are the same parameters, in the same order, with hyperparameters that are
    the very same objects or equal numbers, strings and tuples, except those the artifact
    is fed (compiler/hyperparameters.py: a scheduler's new lr is read into its input, while
    it is zero where it was); a new value of another is a miss, which the general call
    compiles;
  - the same parameters have a gradient, the state holds the same entries, and every
    tensor has the latest call's shape, dtype, requires_grad and device (CPU arrays).

Anything else returns None and the general call answers, as it always did. The recipe holds
no tensor: a gradient kept alive here would keep the backward from reusing its buffer.
"""
import operator

from numpy import ndarray

from .. import context, grad_mode
from ..debug_log import debug_level
from ..tracing.gate import GATE
from . import state_walk
from .hyperparameters import Fed, fed_sources, refill

_grad = grad_mode.state
_SCALARS = (int, float, bool, str)      # compared by value (and tuples of them)


class StepRepeat:
    __slots__ = ("art", "execute", "grad_enabled", "groups", "n_state", "params", "plan",
                 "state_sizes")

    @staticmethod
    def of(opt, art, execute, fed):
        """A StepRepeat of the step just run by `art`, or None when the next step needs
        the general call (the step changed more than tensors' values, or its artifact
        does more than a plain update). fed: the compiled update's FedSettings."""
        if (art is None or art.eager or art.captured or art.bound or art.outside is not None
                or art.attribute_writes or art.kept or art.unread_grads
                or art.run_backward is not None
                or any(e.kind != "data" for e in art.effects)
                or not getattr(art.run_forward, "fast", False) or debug_level() >= 1):
            return None
        every, _, _ = state_walk.collect([], [opt], fed=fed)
        params = [p for g in opt.param_groups for p in g["params"]]
        where = {id(p): ("param", i) for i, p in enumerate(params)}
        for i, p in enumerate(params):
            if p.grad is not None:
                where.setdefault(id(p.grad), ("grad", i))
            for key, v in opt.state.get(p, {}).items():
                where.setdefault(id(v), ("state", i, key))
        held, numbers, fed_numbers = fed_sources([opt], every)
        where.update((key, ("held", t)) for key, t in held.items())
        where.update((key, ("number", source)) for key, source in numbers.items())
        recipe = [where.get(id(t)) for _, t in every]
        if None in recipe or any(type(t._data) is not ndarray for _, t in every):
            return None
        repeat = StepRepeat()
        repeat.art, repeat.execute = art, execute
        repeat.grad_enabled = _grad.enabled
        repeat.groups = groups_of(opt, fed_numbers[0])
        repeat.params = params
        repeat.n_state = art.n_state
        repeat.state_sizes = (len(opt.state), [len(opt.state.get(p, ())) for p in params],
                              [p.grad is not None for p in params])
        # each entry's source (kind, index or value, state key) with the spec it must
        # meet, in one tuple: _run's one loop finds and checks each tensor
        repeat.plan = [(where[0], where[1], where[2] if len(where) > 2 else None,
                        t._data.shape, t._data.dtype, t._requires_grad)
                       for where, (_, t) in zip(recipe, every)]
        return repeat

    def __call__(self, opt):
        """Run the step and return True, or return False when it is not the latest one."""
        if _grad.enabled is not self.grad_enabled or context.current() is not None \
                or not same_groups(opt, self.groups):
            return False
        with GATE.shared:
            return self._run(opt)

    def _run(self, opt):
        params = self.params
        now = [p for g in opt.param_groups for p in g["params"]]
        if len(now) != len(params) or any(map(operator.is_not, now, params)):
            return False
        state = opt.state
        count, sizes, has_grad = self.state_sizes
        if len(state) != count:
            return False
        get = state.get
        for p, size, grad in zip(params, sizes, has_grad):
            if len(get(p, ())) != size or (p.grad is not None) is not grad:
                return False
        every = []
        append = every.append
        for kind, source, key, shape, dtype, requires_grad in self.plan:
            if kind == "param":
                t = params[source]
            elif kind == "grad":
                t = params[source].grad
            elif kind == "state":
                t = state[params[source]].get(key)
            else:
                t = source if kind == "held" else refill(source)
            data = getattr(t, "_data", None)   # a state entry may be a number by now
            if (type(data) is not ndarray or data.shape != shape or data.dtype != dtype
                    or t._requires_grad is not requires_grad):
                return False
            append(t)
        n = self.n_state        # the entries the artifact reads (all but a dropped tail)
        self.execute(self.art, every if n is None else every[:n], 0)
        return True


def groups_of(opt, fed=()):
    """opt's parameter groups as same_groups() compares them later: each group, its list
    of parameters and their count, and its hyperparameters. fed: (group index, name) of
    the hyperparameters the artifact is fed, which may change while zero where they were."""
    return [(g, g["params"], len(g["params"]),
             [(k, Fed.of(v, k in type(opt).zero_tested) if (i, k) in fed else v)
              for k, v in g.items() if k != "params"])
            for i, g in enumerate(opt.param_groups)]


def same_groups(opt, groups):
    """Whether opt's groups are `groups` (groups_of) still: the same group objects holding
    the same lists of as many parameters, with hyperparameters as they were."""
    now = opt.param_groups
    if len(now) != len(groups):
        return False
    for group, (was, params, n, settings) in zip(now, groups):
        if group is not was or group["params"] is not params or len(params) != n \
                or len(group) != len(settings) + 1:
            return False
        for key, v in settings:
            now = group.get(key, _MISSING)
            if now is not v and not _same(now, v):     # (the same object: the usual case)
                return False
    return True


def _same(now, was):
    """Whether a hyperparameter is as it was: the same object, or an equal number, string
    or tuple of them (never ==, elementwise, on a tensor)."""
    if now is was:
        return True
    if type(was) is Fed:
        return was.matches(now)
    if type(now) is not type(was):
        return False
    if type(was) is tuple:
        return len(now) == len(was) and all(map(_same, now, was))
    return type(was) in _SCALARS and now == was


_MISSING = object()
