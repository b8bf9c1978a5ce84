"""compile(model)'s fast path: the latest call of the model again, as fast_call.py is for
plain functions.

The general call (driver.CompiledFunction._call) of a compiled model walks the model's
parameters and buffers (or finds its latest walk still good), labels them, rechecks the
latest signature over arguments and state, then runs the artifact: ~21 us of Python for a
three-layer MLP under no_grad (znver4), where a plain function's FastCall takes ~4 us. A
call with one tensor out that writes nothing back (an inference call, or a training
forward without BatchNorm's statistics) leaves a ModuleCall, which the next call tries
first. It holds when

  - the positional arguments are as many tensors, each with the latest shape, dtype and
    requires_grad, CPU arrays without a .grad, and there are no keyword arguments;
  - grad mode is as it was;
  - nothing a module holds was rebound since (nn/structure.py's count of changes: a new
    parameter, buffer or submodule, or a train()/eval() switch, is a miss);
  - every parameter and buffer the graph reads has the latest shape, dtype and
    requires_grad (`p.data = ...` rebinds no attribute), as a CPU array;
  - no parameter has gained a .grad, where the graph was compiled without them;

and then runs the artifact's forward runner alone; with grad mode on, its output joins
the tape through the autograd bridge as the general call's does (bridge.py). Anything else
returns None, and the general call answers.
"""
from numpy import ndarray

from .. import grad_mode
from ..amp.autocast_mode import compile_key
from ..nn import structure
from ..tensor import Tensor
from .fast_call import output, plain
from .number_args import fed_arguments

_grad = grad_mode.state


class ModuleCall:
    __slots__ = ("autocast", "backward", "conditions", "cotangents", "fresh", "grad_enabled",
                 "grad_inputs", "grad_slots", "numbers", "params", "reads", "runner", "slots",
                 "specs", "state", "version")

    @staticmethod
    def of(args, kwargs, art, walks, grad_enabled, fed=None):
        """A ModuleCall repeating this call, or None when it needs the general one. walks:
        the compiled function's memo of its latest walk over the module
        (compile_state.collect). fed: {position: type} of the number arguments fed as
        inputs (number_args.py; a diffusion model's timestep), None: not all positional."""
        kept = walks.get("walk")
        if fed is None or kwargs or kept is None or art.bound or kept[0] != structure.version() \
                or not plain(art, [a for k, a in enumerate(args) if k not in fed],
                             grad_enabled, bridged=True):
            return None
        walk = kept[2]
        state = [t for _, t in walk[0]]
        if art.n_state is None:     # compiled with no .grad on its parameters: keep it so
            if any(p.grad is not None for p in walk[3]):
                return None
            params = tuple(walk[3])
        else:                       # the graph reads no .grad: whatever they hold
            state, params = state[:art.n_state], ()
        if not all(type(t._data) is ndarray for t in state):
            return None
        fast = ModuleCall()
        fast.version, fast.grad_enabled, fast.runner = kept[0], grad_enabled, art.run_forward
        fast.autocast = compile_key()       # traced under it (driver's flags)
        fast.state, fast.params = state, params
        fast.numbers = sorted(fed.items())     # [(position, type)]: fed after the tensors
        fast.specs = [(t._data.shape, t._data.dtype, bool(t._requires_grad))
                      for t in (*fed_arguments(args, fast.numbers), *state)]
        fast.fresh = bool(getattr(fast.runner, "owned", (False,))[0])
        fast.backward = art.run_backward if grad_enabled else None
        fast.cotangents, fast.slots = art.cotangent_specs, art.cotangent_slots
        fast.grad_inputs, fast.grad_slots = art.grad_inputs, art.grad_slots
        fast.reads = art.reads      # Python values it read (value_reads.py)
        fast.conditions = art.conditions    # what it needs of its fed numbers' values
        return fast

    def __call__(self, args):
        """The call's result, or None when it is not the latest call's signature."""
        if (structure.version() != self.version or _grad.enabled is not self.grad_enabled
                or len(args) + len(self.state) != len(self.specs)
                or compile_key() != self.autocast):
            return None
        for p in self.params:
            if p.grad is not None:
                return None
        if self.reads is not None and not self.reads.hold():
            return None
        if self.numbers:
            args = fed_arguments(args, self.numbers)
            if args is None:
                return None
        for a in args:
            if type(a) is not Tensor or a.grad is not None or a._hooks \
                    or a._post_accumulate_hooks:
                return None
        # each tensor's data is read once, here (fast_call.FastCall: a trace in another
        # thread would show graph values, a miss); parameters and buffers are the walk's
        # own objects (Parameter is a Tensor subclass)
        tensors = [*args, *self.state]
        arrays = [t._data for t in tensors]
        for t, data, (shape, dtype, requires_grad) in zip(tensors, arrays, self.specs):
            if (type(data) is not ndarray or data.shape != shape or data.dtype != dtype
                    or t._requires_grad is not requires_grad):
                return None
        if self.conditions is not None and not self.conditions.hold(arrays):
            return None     # the general call compiles the fed numbers in
        return output(self, self.runner.quick(arrays), arrays, tensors)
