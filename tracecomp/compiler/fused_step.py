"""optimizer.step() as one native call, for the parameters of compiled models.

Eagerly, an optimizer loops over its parameters and runs a few numpy ops on each (SGD with
momentum: three; Adam: about ten), every op one pass over memory and a few microseconds of
dispatch. Here the optimizer's own update, the `_update_group` code that runs eagerly, is
compiled as a function of the optimizer: the compiler traces it as it traces a whole
training step (parameters, gradients and state are inputs; the new values are written
back into the same arrays, passes/donation.py), so a step is one native call with one
fused kernel per parameter. The numbers are the loop's (tests/compiler/test_fused_step.py).

When (`use(opt)`):
- `fused=True`, as torch's CPU build runs SGD, Adam, AdamW and Adagrad as one kernel;
- `fused` left None, when every parameter that has a gradient belongs to a module that
  compiled code reads (`mark_compiled`: compile(model), or a compiled function calling it,
  each time it compiles): the user chose compiled code for that model, whose eager update
  can cost as much as its compiled backward (Adam on MLP 784-256-256-10, znver4: 1.26 ms a
  step looped, 0.81 ms compiled; SGD with momentum, memory-bound, gains little there, and
  1.56 -> 0.95 ms over 80 small parameters, where the loop's per-op cost dominates).
Never with `fused=False`, `differentiable=True`, a tensor hyperparameter the optimizer
cannot feed as an input (its value would be baked in: Optimizer.fed_settings), parameters
on different devices, or while a compiled function traces the step (it is then part of
that function's graph). On a GPU the update is one compiled call of the cuda backend, where
the loop runs a few device ops per parameter.

A changed hyperparameter (a scheduler's new lr) compiles the update again, as it does a
compiled whole step, once: from then on it is fed as an input where the optimizer allows
(compiler/hyperparameters.py), and compiled in again at each change elsewhere. An
optimizer whose update compiled more than MAX_COMPILES times in fewer than PAYBACK_STEPS
steps a compile goes back to the loop (compiling takes ~0.1 s and saves ~0.1 ms a step:
an lr that changes every step would make every step slower). A compile that fails warns
and leaves that optimizer on the loop.

Importing this module (the driver does) installs `run` as Optimizer.step's hook.
"""
import math
import warnings
import weakref

import numpy as np

from .. import context
from ..debug_log import emit
from ..device_array import DeviceArray
from ..errors import TraceError
from ..optim import optimizer as optimizer_module
from ..tensor import Tensor
from ..user_code import user_stacklevel
from . import stance
from .step_repeat import StepRepeat

_STORAGE = (np.ndarray, DeviceArray)   # a tensor's data on the CPU, and on a GPU
MAX_COMPILES = 4        # the first two steps compile twice (the state appears at step 1)
PAYBACK_STEPS = 200

# the parameters themselves, not their modules: an optimizer may outlive the module object
# (`SGD(compile(Net()).parameters())` keeps only the parameters alive). By id, weakly: a
# WeakSet would compare tensors with ==, which is elementwise
_COMPILED_PARAMS = weakref.WeakValueDictionary()
_STEPS = weakref.WeakKeyDictionary()    # optimizer -> FusedStep


def mark_compiled(modules):
    """Compiled code reads these modules: their parameters' optimizer steps may run
    compiled. Called again at each compile, for parameters added or replaced since."""
    for module in modules:
        _COMPILED_PARAMS.update((id(p), p) for p in module.parameters())


def forget():
    """Drop every optimizer's compiled update (api.reset): the next step compiles again."""
    _STEPS.clear()


def _update_all(opt):
    """What Optimizer.step runs for every group: the function compiled here."""
    for group in opt.param_groups:
        opt._update_group(group)


class FusedStep:
    """One optimizer's compiled update, and how much it has been used."""

    __slots__ = ("compiled", "execute", "off", "repeat", "steps")

    def __init__(self, opt):
        from .driver import CompiledFunction  # the driver imports this module
        from .run_artifact import execute_on

        def update(opt):
            _update_all(opt)
        # what debug output and dumps call it: "compiling Adam.step (fused): first call"
        update.__qualname__ = f"{type(opt).__name__}.step (fused)"
        # how often it may compile is this module's rule (MAX_COMPILES), not a recompile
        # the user should be warned about; the version of an old lr is not called again
        self.compiled = CompiledFunction(update, recompile_limit=math.inf, cache_size=2)
        self.execute = execute_on
        self.steps = 0
        self.off = False
        self.repeat = None      # step_repeat.StepRepeat: the latest step again, cheaply

    def __call__(self, opt):
        self.steps += 1
        self.repeat = None
        try:
            self.compiled(opt)
        except Exception as exc:
            self.off = True
            warnings.warn(f"{type(opt).__name__}.step(): the update could not be compiled "
                          f"({type(exc).__name__}: {exc}); this optimizer updates its "
                          f"parameters one by one from now on", stacklevel=user_stacklevel())
            return False
        compiles = self.compiled.compiles
        if compiles > MAX_COMPILES and self.steps < PAYBACK_STEPS * compiles:
            self.off = True
            emit(1, f"[tracecomp] {type(opt).__name__}.step(): {compiles} compiles in "
                    f"{self.steps} steps (a hyperparameter keeps changing); updating "
                    f"parameter by parameter from now on")
        else:
            self.repeat = StepRepeat.of(opt, self.compiled.last, self.execute,
                                        self.compiled.fed)
        return True


def run(opt):
    """Run opt's update as one compiled call and return True, or return False (the caller
    then loops over the parameters). Optimizer.step calls this under its grad mode."""
    trace = context.current()
    if trace is not None and trace.optimizers is not None \
            and all(opt is not known for known in trace.optimizers):
        raise TraceError(
            f"compiled code ran the step of an optimizer ({type(opt).__name__}) it was not "
            f"given: its state (momentum, moments) would hold values of the trace instead "
            f"of being updated. Keep the optimizer in a global, a closure, an argument, or "
            f"an attribute or list element of one (as trainer.opt or opts[0]), so its "
            f"state is an input.")
    if stance.current != "default":     # torch.compiler.set_stance: compile nothing
        return False
    fused = _STEPS.get(opt)
    # the latest step again implies every rule of use(): it rechecks what they read
    if fused is not None and fused.repeat is not None and fused.repeat(opt):
        fused.steps += 1
        return True
    if not use(opt):
        return False
    if fused is None:
        fused = _STEPS[opt] = FusedStep(opt)
    return not fused.off and fused(opt)


def use(opt):
    """Whether opt's update should run compiled now (the module docstring's rules)."""
    if context.current() is not None or type(opt)._update_group is \
            optimizer_module.Optimizer._update_group:
        return False
    groups = opt.param_groups
    if any(g.get("fused") is False or g.get("differentiable") for g in groups):
        return False
    fused = any(g.get("fused") for g in groups)
    if not fused and not _COMPILED_PARAMS:      # an eager model's step: the loop, at once
        return False
    fed = type(opt).fed_settings    # tensors anywhere else would be compiled in
    if any(isinstance(v, Tensor) for g in groups for k, v in g.items()
           if k != "params" and k not in fed):
        return False
    with_grad = [p for g in groups for p in g["params"] if p.grad is not None]
    if not with_grad:
        return False
    kind = type(with_grad[0]._data)     # all on the CPU, or all on the GPU (one graph's)
    if kind not in _STORAGE or not all(type(p._data) is kind and type(p.grad._data) is kind
                                       for p in with_grad):
        return False
    compiled = _COMPILED_PARAMS.get
    return fused or all(compiled(id(p)) is p for p in with_grad)


optimizer_module.fused_update = run
