"""Graph breaks: what a compiled call does when its code cannot be traced into one graph
(torch.compile's default, fullgraph=False).

A trace stops at the first line it cannot record: Python reading a tensor's values
(`lengths.tolist()` to pack sequences, `if loss < best:`), Python's own random numbers
(teacher forcing), a boolean mask, a backward hook. torch.compile splits the function's
bytecode there and compiles the pieces on either side. tracecomp splits at module
boundaries instead:

    @tracecomp.compile                  # or tracecomp.compile(seq2seq)
    def forward(src, trg):
        hidden = encoder(src)                           # compiled on its own
        for t in range(1, len(trg)):
            out, hidden = decoder(inp, hidden)          # compiled on its own (once)
            inp = trg[t] if random.random() < 0.5 else out.argmax(1)    # the break: eager

The function's own code runs eagerly for that signature (the trace's answer would be wrong
there), and every module it calls runs as compile(module) runs it, splitting again further
down if its own code breaks. Modules hold most of a program's work (the encoder and
decoder around the loop, the layers around a packing step), so most of the speed stays,
and the numbers are eager's. Each break is said once, in a warning that names the line
and why; fullgraph=True makes it the TraceError it is.

A module called there that compiling would not help runs eagerly, as torch runs it
(`RUN_EAGERLY`).
"""
import threading
import warnings
import weakref

from .. import context
from ..artifact_cache import LATEST
from ..debug_log import emit, log
from ..nn.module import Module
from ..nn.modules.rnn import RNNBase
from ..nn.utils.rnn import PackedSequence
from ..user_code import user_stacklevel
from .recompile_reasons import nearest_resized


def _stateless(module, args):
    # no parameters, buffers or submodules: one op (ReLU, Dropout, a loss), whose compiled
    # call would cost more than the op. An optional one left None (CrossEntropyLoss's
    # weight, a Linear's bias=False) holds nothing
    return not (module._modules or any(v is not None for v in module._parameters.values())
                or any(v is not None for v in module._buffers.values()))


def _packed_recurrent(module, args):
    # a packed batch compiles once per pattern of lengths; eagerly each direction is one
    # rnn_scan primitive (torch.compile leaves RNN modules to their eager kernels)
    return isinstance(module, RNNBase) and bool(args) and isinstance(args[0], PackedSequence)


def _disabled(module, args):
    # torch.compiler.disable on its forward: eager, with everything it calls
    return bool(getattr(type(module).forward, "_tracecomp_disabled", False))


RUN_EAGERLY = (_stateless, _packed_recurrent, _disabled)


class SplitCalls:
    """The module calls of one compiled function's eager runs: each module compiled on its
    own with the function's options (an OptimizedModule kept per module), or run eagerly
    where RUN_EAGERLY says so."""

    def __init__(self, options, said):
        self.options = dict(options, fullgraph=False)
        # the breaks said (by the compiled function that owns these calls): each module it
        # compiles says a break once for all, not once per instance (a model's 12 blocks)
        self.said = said
        self.compiled = weakref.WeakKeyDictionary()     # module -> its OptimizedModule
        self._lock = threading.Lock()

    def run(self, fn, args, kwargs):
        """fn(*args, **kwargs) eagerly, its module calls routed here."""
        own = args[0] if args and isinstance(args[0], Module) and \
            fn is type(args[0]).__call__ else None
        with context.routing(self if own is None else _OwnCall(self, own)):
            return fn(*args, **kwargs)

    def __call__(self, module, args, kwargs):
        with context.routing(None):     # the module's own calls: its compiled call decides
            if any(rule(module, args) for rule in RUN_EAGERLY):
                return module._call_forward(args, kwargs)
            return self._compiled(module)._run(*args, **kwargs)

    def _compiled(self, module):
        wrapper = self.compiled.get(module)
        if wrapper is None:
            from .compiled_module import OptimizedModule  # it imports the driver
            with self._lock:
                wrapper = self.compiled.get(module)
                if wrapper is None:
                    wrapper = self.compiled[module] = OptimizedModule(module, **self.options)
                    wrapper._compiled.said = wrapper._compiled.splits.said = self.said
        return wrapper


class _OwnCall:
    """The router of the eager run of a module's own __call__ (a class that defines
    __call__ and calls super().__call__, as rtdl's NODE ModuleWithInit does for its
    data-aware init): that module's Module.__call__ runs its forward here, eagerly, as the
    break says; routed to the split, it would compile the module again and break again,
    for ever. Every other module call goes to the split."""

    def __init__(self, splits, module):
        self.splits, self.module = splits, module

    def __call__(self, module, args, kwargs):
        if module is not self.module:
            return self.splits(module, args, kwargs)
        with context.routing(self.splits):      # its submodules: compiled on their own
            return module._call_forward(args, kwargs)


def resized_split(plain, cache):
    """The graph-break artifact cached for a signature that `plain` (a call's signature
    without .grad entries, which an eager run never minds) differs from only in tensor
    sizes, or None. A break is at a line of code, not at a size: a padded batch of new
    lengths runs split at once, without tracing the function again up to its break (as
    torch's automatic dynamic shapes keep a break across sizes). An eager run is right at
    any size, so the worst this costs is a graph a new size could have had."""
    near = nearest_resized(plain, cache.signatures(grad_free=True, latest=LATEST))
    art = None if near is None else cache.get_grad_free(near, used=False)
    return art if art is not None and art.split else None     # (put() marks it used)


def say(said, name, exc, fallback):
    """Warn once what the failed trace of `name` makes its calls do; False where `said`
    (the messages said in this compiled program) holds it already. Warned at the user's
    line, and logged only where logging has a handler: logging's last resort would print
    it a second time."""
    text = message(name, exc, fallback)
    if text in said:
        emit(1, text)
        return False
    said.add(text)
    if log.hasHandlers():
        log.warning(text)
    warnings.warn(text, stacklevel=user_stacklevel())
    return True


def message(name, exc, fallback):
    """What a failed trace makes the call do, said once per reason."""
    if fallback == "eager":
        return (f"tracecomp.compile: running {name} eagerly for this signature "
                f"(fallback='eager') because tracing failed: {exc}")
    return (f"tracecomp.compile: graph break in {name}: {exc}\nSo {name}'s own code runs "
            f"eagerly for this signature, and each module it calls runs compiled on its "
            f"own; fullgraph=True makes a graph break an error.")
