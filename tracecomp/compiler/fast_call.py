"""The compiled call's fast path: a plain function of tensors, called again as last time.

The general call (driver.CompiledFunction._call) finds the modules and optimizers the
function reads, walks them, rechecks the latest signature, then runs the artifact and
replays its effects: ~11 us of Python for `x + 1` on one float. Most functions that people
compile to see the overhead, and the elementwise helpers they call in a loop, have none
of that: tensors in, one tensor out, no module, no optimizer, no gradient to bridge. For
them the latest call leaves a FastCall, which the next call tries first. It holds when

  - the positional arguments are as many tensors, each with the latest shape, dtype,
    requires_grad and device, none with a .grad, and there are no keyword arguments;
  - grad mode is as it was;
  - every global name and closure cell the function reads is the very object it was (a
    module or optimizer bound there since would be read by the graph: the general call
    finds it), except those holding a tensor it is fed (bound_tensors.py): any tensor of
    the latest one's shape, dtype and requires_grad will do, read from the name;

and then runs the artifact's forward runner alone; with grad mode on and an argument that
requires grad, its output joins the tape through the autograd bridge (bridge.py), as the
general call's and module_call.py's do: `loss = f(x, w); loss.backward()` took ~61 us a
call through the general path for a 16x16 product (znver3). Anything else (a miss) returns
None, and the general call answers, as it always did.

    f = tracecomp.compile(lambda x: x + 1)
    f(x)    # compiles; leaves a FastCall
    f(x)    # FastCall: the argument checks, one native call, one new Tensor
"""
from numpy import ndarray

from .. import grad_mode
from ..amp.autocast_mode import compile_key
from ..debug_log import debug_level
from ..tensor import Tensor
from . import bound_tensors, bridge
from .code_names import Bindings
from .deep_tensors import is_deep
from .signature import hooked
from .state import follow

_grad = grad_mode.state


class FastCall:
    __slots__ = ("autocast", "backward", "bindings", "cotangents", "fresh", "grad_enabled",
                 "grad_inputs", "grad_slots", "reads", "runner", "slots", "sources", "specs")
    miss = None     # what a call that is not the latest one's returns

    @staticmethod
    def of(fn, args, kwargs, art, roots, grad_enabled):
        """A FastCall repeating this call of `fn`, or None when it needs the general one."""
        modules, optimizers = roots
        if kwargs or modules or optimizers or not plain(art, args, grad_enabled, bridged=True):
            return None
        code = getattr(fn, "__code__", None)
        # a tensor inside what it names (deep_tensors.py): the way there is not checked here
        if code is None or any(map(is_deep, art.bound)):
            return None
        fast = FastCall()
        # the tensors it names itself, read from those names on every call (bound_tensors.py)
        fast.sources = [bound_tensors.source(fn, label) for label in art.bound]
        every = [*args, *(follow(*where) for where in fast.sources)]
        if not all(type(t) is Tensor and type(t._data) is ndarray for t in every):
            return None
        if any(t._requires_grad for t in every[len(args):]):
            return None     # its .grad is in the signature too: the general call looks
        fast.specs = [(a._data.shape, a._data.dtype, bool(a._requires_grad)) for a in every]
        fast.grad_enabled = grad_enabled
        fast.autocast = compile_key()       # traced under it (driver's flags)
        fast.runner = art.run_forward
        # an output buffer of its own each call (neither an input nor a constant)
        fast.fresh = bool(getattr(fast.runner, "owned", (False,))[0])
        fast.bindings = Bindings(fn, {label[1:] for label in art.bound})
        # attributes it read, what a list or dict a name holds (value_reads.py): compared
        # as the general call compares them (the bindings see only what each name holds)
        fast.reads = art.reads
        # the backward to bridge to (the inputs that get gradients are arguments: a named
        # tensor that requires grad was refused above)
        fast.backward = art.run_backward if grad_enabled else None
        fast.cotangents, fast.slots = art.cotangent_specs, art.cotangent_slots
        fast.grad_inputs, fast.grad_slots = art.grad_inputs, art.grad_slots
        return fast

    def __call__(self, args):
        """The call's result, or None when it is not the latest call's signature."""
        if self.sources:    # a tensor named twice, or passed too, is one input (a miss)
            args = [*args, *(follow(*where) for where in self.sources)]
            if len(set(map(id, args))) != len(args):
                return None
        if len(args) != len(self.specs) or _grad.enabled is not self.grad_enabled \
                or compile_key() != self.autocast:
            return None
        # each tensor's data is read once, here: a trace in another thread swaps tensors'
        # data for graph values while it runs, which the ndarray check turns into a miss,
        # so unlike the general call this one needs no hold on the trace gate
        arrays = []
        for a, (shape, dtype, requires_grad) in zip(args, self.specs):
            if type(a) is not Tensor:
                return None
            data = a._data
            if (type(data) is not ndarray or a.grad is not None
                    or a._hooks or a._post_accumulate_hooks
                    or data.shape != shape or data.dtype != dtype
                    or a._requires_grad is not requires_grad):
                return None
            arrays.append(data)
        if not self.bindings.hold() or self.reads is not None and not self.reads.hold():
            return None
        return output(self, self.runner.quick(arrays), arrays, args)


def output(fast, results, arrays, tensors):
    """The Tensor a fast call (a FastCall or a module_call.ModuleCall) returns: its runner's
    first result, on the tape through the autograd bridge where it has a backward (the
    rest of `results` are the values that backward reads; `tensors`, the call's inputs)."""
    out = results[0] if fast.fresh else own(results[:1], arrays)[0]
    if fast.backward is None:
        return Tensor._make(out)
    call = bridge.BackwardState(fast.backward, results[1:], fast.cotangents, fast.grad_slots)
    return bridge.attach([out], fast.slots, [tensors[k] for k in fast.grad_inputs], call)[0]


def plain(art, args, grad_enabled, bridged=False):
    """Whether a call of `art` on `args` is plain enough to repeat without the general
    call: tensors in (CPU arrays, no .grad), one tensor out, nothing written back, nothing
    read from outside, no scheduler to step after it, no backward to bridge (or grad mode
    off; `bridged`: the caller bridges one), the native runner."""
    return not (art is None or art.eager or art.effects or art.outside is not None
                or art.fed_outside
                or art.deferred or art.attribute_writes or art.kept or art.captured
                or art.output_calls or art.signals is not None
                or art.n_outputs != 1
                or art.n_effect_values or art.out_structure[0] != "T"
                or not getattr(art.run_forward, "fast", False)
                or art.run_backward is not None and grad_enabled and not bridged
                or debug_level() >= 1
                or not all(type(a) is Tensor and a.grad is None
                           and type(a._data) is ndarray and not hooked(a) for a in args))


def own(outputs, inputs, donated=None, fresh=()):
    """Outputs as fresh arrays, as eager ops return them: simplification may turn an
    output into an input (x * 1 -> x), two outputs into one (CSE) or a constant, and a
    user's in-place update of one must not reach the others. An update the runner wrote
    over its input's array (`donated`: output position -> input position) is that
    tensor's new value already. fresh[k]: output k is a writable buffer of its own
    (the runner's `owned`), nobody's input or other output: no check (a whole training
    step's gradients; ~4.6 us of its Python with every output checked)."""
    taken = None
    owned = list(outputs)
    for k, a in enumerate(owned):
        if k < len(fresh) and fresh[k] or donated and k in donated and a is inputs[donated[k]]:
            if taken is not None:
                taken.add(id(a))
            continue
        if taken is None:
            taken = {id(a) for a in inputs}
            taken.update(id(b) for b in owned[:k])
        if id(a) in taken or not a.flags.writeable:
            owned[k] = a = a.copy()
        taken.add(id(a))
    return owned
