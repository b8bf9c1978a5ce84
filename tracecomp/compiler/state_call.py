"""A whole training step's fast path: the latest call again, of a function that reads
modules and optimizers.

The general call (driver.CompiledFunction._call) of a compiled step function finds the
modules and optimizers it reads (its arguments, closure and globals), walks their
parameters, buffers, gradients and optimizer state into a labelled list, rechecks the
latest signature over all of it, then runs the artifact: ~25 us of Python before the
native call of a whole MLP training step (znver4), every step, while from the third step
on nothing of it changes (the first creates the optimizer state, the second the
gradients).

So the latest general call leaves a StateCall: the artifact, and where each tensor the
artifact was given came from: argument i, the i-th tensor of the modules' walk
(compiler/state.py), optimizer o's i-th parameter, a parameter's .grad, or its state
entry `key`, a hyperparameter fed as an input, or a tensor the function names itself
(bound_tensors.py: read from that global name or closure cell). The next call rebuilds
that list by the recipe and runs the same artifact when

  - the positional arguments are as many tensors, each with the latest shape, dtype and
    requires_grad, CPU arrays without a .grad, and there are no keyword arguments;
  - grad mode is as it was, and no trace is in progress;
  - every global name and closure cell the function reads is the very object it was
    (except those whose tensors it is fed: any tensor of the same spec will do), and
    so is every module and optimizer found inside one (a list's element, an attribute of
    a trainer object: state.roots_of's links), so the modules and optimizers are the same
    objects, and every object on the way to a list or dict it is fed tensors from
    (deep_tensors.py: an optimizer's `param_momentum`), which holds as many entries;
  - nothing a module holds was rebound since (nn/structure.py's count: a new parameter,
    buffer or submodule, or a train()/eval() switch, is a miss), and the walk is the one
    the call read;
  - each optimizer's groups hold the same parameters with the same hyperparameters
    (step_repeat.same_groups), except those the artifact is fed (hyperparameters.py: a
    scheduler's new lr is read into its 0-d input), and its state has the same entries,
    all tensors;
  - the same parameters have a gradient (when the graph reads them), and no tensor is
    another's (the general call would list it once);
  - every tensor has the latest call's shape, dtype and requires_grad, as a CPU array.

Anything else is a miss (`MISS`: a step function may return None) and the general call
answers, as it always did. The recipe holds no gradient or state tensor: one kept alive
here would keep the backward from reusing its buffer.
"""
from operator import is_not

from numpy import ndarray

from .. import context, grad_mode
from ..amp.autocast_mode import compile_key
from ..debug_log import debug_level
from ..nn import structure
from ..tensor import Tensor
from ..tracing.gate import GATE
from . import bound_tensors, deep_tensors
from .bound_tensors import is_lifted
from .code_names import Bindings
from .hyperparameters import fed_sources, refill
from .number_args import fed_arguments
from .outside_numbers import is_outside
from .scheduler_steps import step_after
from .signature import alias_pattern, hooked
from .state import follow
from .step_repeat import groups_of, same_groups

_grad = grad_mode.state
MISS = object()


class StateCall:
    __slots__ = ("aliases", "art", "autocast", "bindings", "execute", "fn", "grad_enabled",
                 "groups", "has_grad", "held", "links", "modules", "n_args", "numbers",
                 "optimizers", "params", "recipe", "specs", "state_sizes", "walk", "walks")
    miss = MISS

    @staticmethod
    def of(fn, args, kwargs, art, roots, links, walks, state, execute, fed=None):
        """A StateCall repeating this call (before it runs: `state` is what it reads besides
        its arguments), or None when the next call needs the general one. fed: {position:
        type} of the number arguments fed as inputs (number_args.py), None: some are not
        positional."""
        modules, optimizers = roots
        code = getattr(fn, "__code__", None)
        walk = walks.get("walk")        # None: modules walked again each call (state.py)
        if (kwargs or code is None or not (modules or optimizers) or walk is None
                or art is None or art.eager or art.outside is not None or art.captured
                or not getattr(art.run_forward, "fast", False) or debug_level() >= 1
                or fed is None
                or not all(k in fed or type(a) is Tensor and a.grad is None
                           and type(a._data) is ndarray and not hooked(a)
                           for k, a in enumerate(args))):
            return None
        call = StateCall()
        call.art, call.execute, call.walks, call.walk = art, execute, walks, walk
        call.fn = fn
        call.modules, call.optimizers = modules, optimizers
        call.n_args = len(args)
        call.numbers = sorted(fed.items())      # [(position, type)]: fed after the tensors
        call.grad_enabled = _grad.enabled
        call.autocast = compile_key()       # traced under it (driver's flags)
        lifted = [(label, t) for label, t in state if is_lifted(label)]
        if any(t._requires_grad for _, t in lifted):
            return None     # its .grad (read or not) is not in the recipe: a general call
        call.bindings = Bindings(fn, {label[1:] for label, _ in lifted})
        # the way down to the places it lifts tensors from inside what it names, and the
        # lengths of the lists and dicts there (deep_tensors.py)
        chains, call.held = deep_tensors.links(fn, lifted)
        call.links = links + [c for c in chains if c[1] != "start"]    # (call.bindings)
        call.params = [_params(opt) for opt in optimizers]
        walked = [t for _, t in walk[2][0]]
        # where each tensor comes from: (0, itself) for the modules' tensors and the
        # optimizers' parameters (the same objects while the walk and groups hold),
        # (1, p) for p.grad, (2, (optimizer, p), key) for a state entry, (3, source) for a
        # hyperparameter fed as an input, (4, (holder, how, name)) for a tensor read from the
        # function's own global name or closure cell, (5, slot) for a number read from
        # outside, fed as an input (outside_numbers.py)
        where = {id(t): (0, t, None) for t in walked}
        for ps in call.params:
            for p in ps:
                where.setdefault(id(p), (0, p, None))
        # the parameters whose .grad the general call lists (when the graph reads them)
        anchors = list({id(p): p for p in [t for t in walked if t._requires_grad]
                        + [p for ps in call.params for p in ps]}.values())
        reads_grads = art.n_state is None
        call.has_grad = [(p, p.grad is not None) for p in anchors] if reads_grads else []
        for p, had in call.has_grad:
            if had:
                where.setdefault(id(p.grad), (1, p, None))
        sizes = []
        for opt, ps in zip(optimizers, call.params):
            for p in ps:
                entries = opt.state.get(p, {})
                if not all(type(v) is Tensor for v in entries.values()):
                    return None     # a number that may turn into a tensor, unseen here
                for key, v in entries.items():
                    where.setdefault(id(v), (2, (opt, p), key))
            sizes.append((len(opt.state), [len(opt.state.get(p, ())) for p in ps]))
        call.state_sizes = sizes
        held, numbers, fed = fed_sources(optimizers, state)
        for key, t in held.items():
            where.setdefault(key, (0, t, None))
        where.update((key, (3, source, None)) for key, source in numbers.items())
        where.update((id(t), (4, bound_tensors.source(fn, label), None)) for label, t in lifted)
        where.update((id(t), (5, label[1], None)) for label, t in state if is_outside(label))
        call.groups = [groups_of(opt, fed[o]) for o, opt in enumerate(optimizers)]
        every = [t for _, t in state[:art.n_state]]
        call.recipe = [where.get(id(t)) for t in every]
        if None in call.recipe or len({id(t) for t in every}) != len(every):
            return None     # a tensor the recipe cannot name, or one listed twice
        if sum(had for _, had in call.has_grad) != sum(r[0] == 1 for r in call.recipe):
            return None     # a gradient listed once for two parameters
        arguments = fed_arguments(args, call.numbers)
        call.aliases = alias_pattern(arguments)     # f(x, x) is another graph (signature.py)
        every = arguments + every
        if any(type(t._data) is not ndarray for t in every):
            return None
        call.specs = [(t._data.shape, t._data.dtype, t._requires_grad) for t in every]
        return call

    def __call__(self, args):
        """The call's result, or MISS when it is not the latest call's signature."""
        if (len(args) != self.n_args or _grad.enabled is not self.grad_enabled
                or context.current() is not None or compile_key() != self.autocast):
            return MISS
        if not self.bindings.hold():
            return MISS
        for holder, how, key, root in self.links:
            if follow(holder, how, key) is not root:
                return MISS
        for container, size in self.held:
            if len(container) != size:
                return MISS
        walk = self.walks.get("walk")
        if walk is not self.walk or walk[0] != structure.version():
            return MISS
        reads = self.art.reads      # Python values it read (value_reads.py)
        if reads is not None and not reads.hold():
            return MISS
        for opt, groups, params in zip(self.optimizers, self.groups, self.params):
            if not same_groups(opt, groups) or any(map(is_not, _params(opt), params)):
                return MISS
        with GATE.shared:       # no trace in another thread swaps these tensors' data
            every = self._every(args)
            if every is None:
                return MISS
            # `every` is the only list holding the gradients: the call lets go of those
            # it replaces there (run_artifact.execute_on)
            out = self.execute(self.art, every, self.n_args, self.modules, call_args=args)
        if self.art.deferred:       # a scheduler the step function steps (scheduler_steps.py)
            step_after(self.art.deferred, self.fn, args)
        return out

    def _every(self, args):
        """The arguments and the tensors the recipe names, or None where any differs from
        the latest call's."""
        for opt, params, (count, sizes) in zip(self.optimizers, self.params,
                                               self.state_sizes):
            state = opt.state
            if len(state) != count:
                return None
            get = state.get
            for p, size in zip(params, sizes):
                if len(get(p, ())) != size:
                    return None
        for p, had in self.has_grad:
            if (p.grad is not None) is not had:
                return None
        every = fed_arguments(args, self.numbers)
        if every is None:
            return None
        add = every.append
        for kind, obj, key in self.recipe:
            if kind == 0:
                add(obj)
            elif kind == 1:
                add(obj.grad)
            elif kind == 2:
                add(obj[0].state[obj[1]].get(key))
            elif kind == 3:
                add(refill(obj))
            elif kind == 4:
                add(follow(*obj))
            else:
                add(obj.input())    # None where it is not a number of its kind: a miss
        for t, (shape, dtype, requires_grad) in zip(every, self.specs):
            data = getattr(t, "_data", None)     # a state entry gone is None here
            if (type(data) is not ndarray or data.shape != shape
                    or data.dtype is not dtype and data.dtype != dtype
                    or t._requires_grad is not requires_grad):
                return None
        for a in every[:self.n_args]:
            if type(a) is not Tensor or a.grad is not None or a._hooks \
                    or a._post_accumulate_hooks:
                return None
        if self.n_args > 1 and alias_pattern(every[:self.n_args]) != self.aliases:
            return None
        if len(set(map(id, every))) != len(every):
            return None
        return every


def _params(opt):
    return [p for g in opt.param_groups for p in g["params"]]
