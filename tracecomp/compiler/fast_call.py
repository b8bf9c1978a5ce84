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
    finds it);

and then runs the artifact's forward runner alone. Anything else (a miss) returns None, and
the general call answers, as it always did.

    f = tracecomp.compile(lambda x: x + 1)
    f(x)    # compiles; leaves a FastCall
    f(x)    # FastCall: the argument checks, one native call, one new Tensor
"""
import dis
import functools
import types

from numpy import ndarray

from .. import grad_mode
from ..debug_log import debug_level
from ..tensor import Tensor

_grad = grad_mode.state


class FastCall:
    __slots__ = ("bindings", "fresh", "grad_enabled", "runner", "specs")
    miss = None     # what a call that is not the latest one's returns

    @staticmethod
    def of(fn, args, kwargs, art, roots, grad_enabled):
        """A FastCall repeating this call of `fn`, or None when it needs the general one."""
        modules, optimizers = roots
        if kwargs or modules or optimizers or not plain(art, args, grad_enabled):
            return None
        if art.reads is not None and (art.reads.counted or art.reads.always):
            return None     # attributes it read (value_reads.py): only its bindings are seen
        code = getattr(fn, "__code__", None)
        if code is None:
            return None
        fast = FastCall()
        fast.specs = [(a._data.shape, a._data.dtype, bool(a._requires_grad)) for a in args]
        fast.grad_enabled = grad_enabled
        fast.runner = art.run_forward
        # an output buffer of its own each call (neither an input nor a constant)
        fast.fresh = bool(getattr(fast.runner, "owned", (False,))[0])
        fast.bindings = Bindings(fn)
        return fast

    def __call__(self, args):
        """The call's result, or None when it is not the latest call's signature."""
        if len(args) != len(self.specs) or _grad.enabled is not self.grad_enabled:
            return None
        # each tensor's data is read once, here: a trace in another thread swaps tensors'
        # data for graph values while it runs, which the ndarray check turns into a miss,
        # so unlike the general call this one needs no hold on the trace gate
        arrays = [a._data for a in args]
        for a, data, (shape, dtype, requires_grad) in zip(args, arrays, self.specs):
            if (type(data) is not ndarray or type(a) is not Tensor or a.grad is not None
                    or data.shape != shape or data.dtype != dtype
                    or a._requires_grad is not requires_grad):
                return None
        if not self.bindings.hold():
            return None
        out = self.runner(arrays)[0]
        return Tensor._make(out if self.fresh else own([out], arrays)[0])


class Bindings:
    """What a function's global names, closure cells and parameter defaults hold now, to
    tell later whether each still holds the very same object (a module or optimizer bound
    there since would be read by a new graph)."""

    __slots__ = ("cells", "defaults", "fn", "globals", "names", "values")

    def __init__(self, fn, fed=()):
        """fed: (kind, name) of the global names ("global") and closure variables
        ("closure") whose tensors the call reads afresh (bound_tensors.py): not compared."""
        self.names = tuple(n for n in global_names(fn.__code__) if ("global", n) not in fed)
        self.globals = fn.__globals__
        self.values = [self.globals.get(n) for n in self.names]
        self.cells = [(c, c.cell_contents) for n, c in zip(fn.__code__.co_freevars,
                                                           fn.__closure__ or ())
                      if filled(c) and ("closure", n) not in fed]
        self.fn, self.defaults = fn, (fn.__defaults__, fn.__kwdefaults__)

    def hold(self):
        fn = self.fn
        if fn.__defaults__ is not self.defaults[0] or fn.__kwdefaults__ is not self.defaults[1]:
            return False
        if self.names:
            look = self.globals.get
            for name, value in zip(self.names, self.values):
                if look(name) is not value:
                    return False
        for cell, value in self.cells:
            if cell.cell_contents is not value:
                return False
        return True


@functools.lru_cache(maxsize=1024)
def global_names(code):
    """The global names `code` loads, and the functions, lambdas and comprehensions
    defined in it load (not co_names, which holds attribute names too: a script's loop
    variable `step` is not what `opt.step()` reads)."""
    names = dict.fromkeys(i.argval for i in dis.get_instructions(code)
                          if i.opname == "LOAD_GLOBAL")
    for inner in code.co_consts:
        if isinstance(inner, types.CodeType):
            names.update(dict.fromkeys(global_names(inner)))
    return tuple(names)


def plain(art, args, grad_enabled, bridged=False):
    """Whether a call of `art` on `args` is plain enough to repeat without the general
    call: tensors in (CPU arrays, no .grad), one tensor out, nothing written back, nothing
    read from outside, no scheduler to step after it, no backward to bridge (or grad mode
    off; `bridged`: the caller bridges one), the native runner."""
    return not (art is None or art.eager or art.effects or art.outside is not None
                or art.deferred or art.attribute_writes or art.captured or art.bound
                or art.n_outputs != 1
                or art.n_effect_values or art.out_structure[0] != "T"
                or not getattr(art.run_forward, "fast", False)
                or art.run_backward is not None and grad_enabled and not bridged
                or debug_level() >= 1
                or not all(type(a) is Tensor and a.grad is None
                           and type(a._data) is ndarray for a in args))


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


def filled(cell):
    """Whether a closure cell holds a value (one read before assignment does not)."""
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
        return True
    except ValueError:
        return False
