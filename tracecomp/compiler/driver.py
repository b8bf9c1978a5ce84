"""The compiled call: the one place that wires tracer, passes and a backend together
(api.py's tracecomp.compile makes a CompiledFunction, or an OptimizedModule around one).

On each call the arguments, parameters and buffers are flattened and a signature is built
(signature.py). On a cache miss the code is traced once (trace_call.py), simplified, split by
autodiff into forward and backward graphs when anything needs a gradient, simplified
again, and handed to the backend; the reason for every recompile is logged at
TRACECOMP_DEBUG>=1. Parameters and buffers are graph *inputs*, so optimizer steps never
recompile; buffers the code updates in place (BatchNorm's running statistics) come back
as extra outputs and are written into the real buffers.

Threads: calls may come from several threads at once; compiles take turns, and a call never
reads tensors whose data another thread's trace swapped for graph values (trace_gate)."""
import functools
import weakref

from .. import _dynamo, context, dtypes, grad_mode, saved_hooks, torch_function
from ..amp import autocast_mode
from ..artifact_cache import CACHE_SIZE, LATEST, ArtifactCache
from ..autograd import forward_ad, profiler
from ..autograd.profiler import _active as PROFILES
from ..codegen import registry as backends
from ..debug_log import debug_level, emit
from ..errors import TraceError
from ..nn.modules.lazy import initialize_lazy
from ..tracing.gate import GATE
from . import (
    fused_step,
    gc_pause,
    grad_inputs,
    graph_break,
    lowering,
    progress,
    stance,
    state_walk,
    trace_warnings,
)
from . import state as compile_state
from .array_args import FED, ArrayArguments, ArrayRead
from .array_args import inputs as array_inputs
from .artifact import Artifact
from .bound_tensors import BoundRead, lift_into
from .deep_tensors import DeepRead, Places
from .dynamic import Templates, sizes_vary
from .fast_call import FastCall
from .frozen_values import refuse_large_array
from .hyperparameters import FedSettings, NumberRead
from .number_args import (
    ArgumentRead,
    FedArgument,
    NumberArguments,
    fed_positions,
    inputs,
)
from .outside_numbers import CallChanges, OutsideNumbers
from .placement import backend_for
from .recompile_reasons import explain_miss, only_sizes_changed
from .run_artifact import execute, execute_on
from .scheduler_steps import step_after
from .signature import (
    LastCall,
    flatten,
    param_names,
    readable_label,
    signature_of,
    unflatten,
)
from .state_call import StateCall
from .trace_call import build
from .trace_warnings import function_name as _name

RECOMPILE_LIMIT = _dynamo.RECOMPILE_LIMIT     # (torch._dynamo.config's default)
# lookups in one call: a cached version found stale, a second one (compiled without
# .grad inputs), then a new compile; past that each new version is stale at once
STALE_ROUNDS = 4
COMPILED = weakref.WeakSet()    # every CompiledFunction, for api.reset (torch._dynamo.reset)


class CompiledFunction:
    """A function (or forward method) compiled per signature; `.graphs` and `.pass_log`
    show the most recent compile. `.cache` keeps at most `cache_size` compiled versions,
    least recently used evicted (artifact_cache.py)."""

    def __init__(self, fn, backend=None, fallback=None, recompile_limit=RECOMPILE_LIMIT,
                 cache_size=CACHE_SIZE, memory_budget=None, dynamic=None, fullgraph=False):
        if fallback not in (None, "eager"):
            raise ValueError(f"compile: fallback must be None or 'eager', got {fallback!r}")
        if backend is not None:
            backends.get(backend)       # an unknown backend fails now, not at first call
        if memory_budget is not None and not 0.0 <= memory_budget <= 1.0:
            raise ValueError(f"compile: memory_budget must be between 0.0 and 1.0 (or None), "
                             f"got {memory_budget!r}")
        if dynamic not in (None, True, False):
            raise ValueError(f"compile: dynamic must be None, True or False, got {dynamic!r}")
        self.fn, self.backend, self.fallback = fn, backend, fallback
        self.memory_budget, self.dynamic = memory_budget, dynamic
        self.recompile_limit, self.fullgraph = recompile_limit, fullgraph
        self.said = set()   # the graph breaks said, shared with the modules splits compiles
        self.splits = graph_break.SplitCalls(     # runs a graph break's modules compiled
            dict(backend=backend, fallback=fallback, recompile_limit=recompile_limit,
                 cache_size=cache_size, memory_budget=memory_budget, dynamic=dynamic), self.said)
        self._profiled = False      # inside its own profiler event (_profiled)
        self.cache = ArtifactCache(cache_size, _name(fn))
        self._params = {}       # function -> its parameter names (inspect is slow)
        self.forget()
        functools.update_wrapper(self, fn)
        COMPILED.add(self)

    def forget(self):
        """Drop every compiled version and what calls left behind (torch._dynamo.reset): the
        next call compiles, and the compiles count from zero."""
        self.cache = ArtifactCache(self.cache.size, self.cache.name)
        # what it lowered, for new sizes of the same graph (compiler/dynamic.py)
        self.templates = None if self.dynamic is False else Templates()
        self.last = None
        self._last_call = None      # signature.LastCall: the latest call, rechecked cheaply
        self._walks = {}    # the latest walk over the modules it reads (state_walk.collect)
        self.fed = FedSettings()    # the hyperparameters it feeds as inputs
        self.numbers = NumberArguments(self.dynamic)    # the number arguments it feeds
        self.arrays = ArrayArguments()      # and the numpy array arguments it compiles in
        self.outside = OutsideNumbers(self.dynamic)     # and numbers read from outside
        self.fed.state_numbers = self.outside.slots     # (optimizer state's among them)
        self.lift_bound = True      # tensors fn names itself are inputs (bound_tensors.py)
        self.deep = Places()        # and those it reaches inside them (deep_tensors.py)
        self._fast = None   # fast_call.FastCall: the latest call again, when it is that plain
        self._stale = None  # why the next compile replaces an artifact that went stale
        self._ran = False   # called before (stance.py's eager_then_compile)
        self.said.clear()
        self.compiles = 0

    def __get__(self, instance, owner):
        """@tracecomp.compile on a method: bind it like a function would be bound."""
        return self if instance is None else functools.partial(self.__call__, instance)

    @property
    def graphs(self):
        return {} if self.last is None else self.last.graphs

    @property
    def pass_log(self):
        return [] if self.last is None else self.last.pass_log

    # what the backend made of the most recent compile (llvm: IR and assembly; cuda: source, PTX)
    llvm_ir = property(lambda self: lowering.backend_text(self.last, "llvm_ir"))
    optimized_ir = property(lambda self: lowering.backend_text(self.last, "optimized_ir"))
    asm = property(lambda self: lowering.backend_text(self.last, "asm"))
    fusion_log = property(lambda self: lowering.backend_text(self.last, "fusion_log"))
    kernel_profile = property(lambda self: lowering.backend_text(self.last, "kernel_profile"))
    cuda_source = property(lambda self: lowering.backend_text(self.last, "cuda_source"))
    cuda_ptx = property(lambda self: lowering.backend_text(self.last, "cuda_ptx"))
    memory_log = property(lambda self: lowering.memory_text(self.last))

    def __call__(self, *args, **kwargs):
        if PROFILES and not self._profiled:     # autograd.profiler: the call is one event
            return _profiled(self, args, kwargs)
        if stance.current == "force_eager":     # torch.compiler.set_stance (stance.py)
            return self.fn(*args, **kwargs)
        if forward_ad.LEVELS:   # dual tensors' tangents come from the eager tape
            return self.graph_break(TraceError(forward_ad.NOT_COMPILED),
                                    lambda: self.fn(*args, **kwargs))
        if saved_hooks.active[0] and saved_hooks.current() is not None:     # eager's packing
            return self.graph_break(TraceError(saved_hooks.NOT_COMPILED),
                                    lambda: self.fn(*args, **kwargs))
        if torch_function.armed[0] and torch_function.in_use(args, kwargs):
            return self.graph_break(TraceError(torch_function.NOT_COMPILED),
                                    lambda: self.fn(*args, **kwargs))
        fast = self._fast
        if fast is not None and not kwargs:
            try:
                out = fast(args)
            except ArgumentRead as exc:     # a condition on fed numbers failed: compile
                self.numbers.pin(exc.labels)    # them in (the general call below)
                self.outside.pin(exc.labels, _name(self.fn))
                out = fast.miss
            if out is not fast.miss:
                return out
        if context.current() is not None:   # inside another compiled call's trace: inlined
            return self.fn(*args, **kwargs)
        modules, optimizers, links = compile_state.roots_of(self.fn, args)
        loose = compile_state.loose_state(optimizers)
        if loose is not None:
            return self.graph_break(loose, lambda: self.fn(*args, **kwargs))
        self._fast = None
        out = self._call(self.fn, args, kwargs, modules, optimizers, links=links)
        if self._fast is None:
            self._fast = FastCall.of(self.fn, args, kwargs, self.last, (modules, optimizers),
                                     grad_mode.state.enabled)
        return out

    def graph_break(self, exc, run):
        """run(), the whole call eagerly, for a reason found before tracing (with fullgraph:
        the TraceError exc)."""
        if self.fullgraph and self.fallback != "eager":
            raise exc
        graph_break.say(self.said, _name(self.fn), exc, self.fallback)
        return run()

    def _call(self, fn, args, kwargs, roots, optimizers=(), links=None):
        """Run fn's artifact for this call, compiling on a miss. links (state.roots_of's),
        when given: leave a StateCall (state_call.py) in self._fast if it can."""
        while True:
            try:
                return self._call_once(fn, args, kwargs, roots, optimizers, links)
            except NumberRead as exc:   # fn computes with a fed hyperparameter: compile it in
                self.fed.pin(exc.keys)
            except ArgumentRead as exc:     # fn reads a fed number argument: compile it in
                self.numbers.pin(exc.labels)
                self.outside.pin(exc.labels, _name(fn))
                self._last_call = None      # (a failed condition: it still feeds them)
            except ArrayRead as exc:    # fn reads a fed numpy array's numbers: compile it in
                self.arrays.pin(exc.labels)
            except DeepRead as exc:     # it read tensors it can lift: trace again so
                self.deep.learn(fn, exc.places)
            except CallChanges as exc:  # it moves numbers it read: trace them fed
                self.outside.adopt(exc.found, None, _name(fn), "changed by the call itself")
            except BoundRead:   # fn reads a lifted tensor's values: hold them as constants
                emit(1, f"[tracecomp] {_name(fn)} reads the values of tensors it names "
                        f"itself: they are compiled in as constants")
                self.lift_bound = False

    def _call_once(self, fn, args, kwargs, roots, optimizers, links):
        # shared: no other thread's trace swaps these tensors' data meanwhile (trace_gate)
        with GATE.shared:
            state, module_names, flags = state_walk.collect(roots, optimizers, self._walks,
                                                               self.fed)
            # traced under autocast, its casts are in the graph: another state, another one
            flags = (*flags, ("autocast", autocast_mode.compile_key()))
            if self.lift_bound:
                lift_into(fn, (*args, *kwargs.values()), state, self.deep)
            self.outside.into(state)
            grad_enabled = grad_mode.state.enabled
            last = self._last_call          # the same signature as last time: ~10 us less
            tensors = last and last.tensors(fn, args, kwargs, state, flags, grad_enabled)
            art = None
            if tensors is not None:
                art, positions = last.art, last.positions
                if last.debug and debug_level() >= 1:     # reading the environment: ~1 us
                    emit(1, f"[tracecomp] cache hit: {_name(fn)}")
            # a second round when the artifact found holds a constant that has changed
            why = None if art is None else art.stale()
            rounds = 0
            while art is None or why is not None:
                rounds += 1
                if rounds > STALE_ROUNDS:       # every new compile stale at once: no end
                    raise TraceError(
                        f"tracecomp.compile: {_name(fn)} was compiled {STALE_ROUNDS} "
                        f"times in one call, each version out of date at once ({why}): "
                        f"what it reads from outside changes while it is traced. Pass that "
                        f"value as an argument")
                if art is not None:
                    self._stale = why
                    self.cache.discard(art)
                    self.outside.learn(art.reads, state, _name(fn), optimizers)
                art, tensors, fed = self._lookup(fn, args, kwargs, state, module_names, flags,
                                            optimizers, roots)
                # the fed number arguments' positions (None: not all are positional)
                positions = fed_positions(args, fed, lambda k: readable_label(
                    f".0.{k}", self._params[fn]))
                self._last_call = None if art is _LAZY or art is _EAGER_RUN else \
                    LastCall.of(fn, args, kwargs, tensors, state, flags, grad_enabled, art,
                                positions)
                why = art.stale()
            self._ran = True
            self.last = art
            if not art.eager:
                again = links is not None and StateCall.of(
                    fn, args, kwargs, art, (roots, optimizers), links, self._walks, state,
                    execute_on, positions)
                out = execute(art, tensors, state, roots, (*args, *kwargs.values()))
                self._fast = again or None
                if art.deferred:
                    step_after(art.deferred, fn, args)
                return out
        if art.split:       # a graph break: eagerly, with its modules compiled
            return self.splits.run(fn, args, kwargs)
        return fn(*args, **kwargs)      # fallback='eager' took this signature

    def _lookup(self, fn, args, kwargs, state, module_names, flags, optimizers, roots):
        """(artifact, labelled tensor arguments, [(label, value)] of the number arguments
        fed as inputs, whose tensors end the arguments') through the full signature,
        compiling on a miss; adds the arguments' .grad tensors to `state`."""
        params = self._params.get(fn)
        if params is None:
            params = self._params[fn] = param_names(fn)
        tensors, statics, structure = flatten((args, kwargs))
        tensors = [(readable_label(label, params), t) for label, t in tensors]
        if any(initialize_lazy(m) for m in roots):
            # lazy parameters not made yet: this call runs eagerly and makes them (as
            # compile(model)'s first call does); the next one, with their shapes, compiles
            return _LAZY, tensors, ()
        statics = [(readable_label(label, params), v) for label, v in statics]
        statics, fed = self.numbers.split(statics)     # numbers fed as inputs
        statics, fed_arrays = self.arrays.split(statics)    # and numpy arrays
        if fed_arrays:
            tensors += array_inputs(fed_arrays)
        if fed:
            tensors += inputs(fed)
        held = {id(t) for _, t in state}     # the arguments' own .grad: read when accumulating
        state += [(("grad", label), t.grad) for label, t in tensors
                  if t.grad is not None and id(t.grad) not in held]
        try:
            backend = backend_for(self.backend, tensors, state)
        except TraceError as exc:       # meta tensors: no values to compile for
            if self.fullgraph and self.fallback != "eager":
                raise
            graph_break.say(self.said, _name(fn), exc, self.fallback)
            return _EAGER_RUN, tensors, fed
        sig = signature_of(tensors, statics, structure, state, flags, backend)
        art = self.cache.get(sig)
        if art is None:     # code that never looked at .grad serves with or without them
            plain = signature_of(tensors, statics, structure,
                               state[:grad_inputs.grad_tail(state)], flags, backend)
            art = self.cache.get_grad_free(plain)
            if art is None and self.outside.learn_from(self.cache.artifacts(served=LATEST),
                                                       state, _name(fn), optimizers):
                # a number another version holds changed: it is fed now (in `state`), so
                # the signature is another, which this compile serves later values with
                return self._lookup(fn, args, kwargs, state, module_names, flags,
                                    optimizers, roots)
            if art is None:
                if stance.current != "default" and stance.miss(
                        _name(fn),
                        lambda: explain_miss(sig, self.cache.signatures(latest=LATEST)),
                        not self._ran) == "eager":
                    return _EAGER_RUN, tensors, fed
                # out of the call's shared hold (a trace needs the gate to itself), and
                # compiles take turns: a signature two threads missed compiles once
                with GATE.shared_paused, GATE.compile_turn():
                    art = self.cache.get(sig)
                    if art is None:
                        art = self.cache.get_grad_free(plain)
                    if art is None:     # a break at other sizes breaks at these
                        art = graph_break.resized_split(plain, self.cache)
                    if art is None:
                        art = self._compile(fn, sig, structure, statics, tensors, state,
                                            module_names, optimizers, roots, backend,
                                            fed, fed_arrays)
                    self.cache.put(sig, art, art.grad_free(plain))
                return art, tensors, fed
            self.cache.put(sig, art, art.grad_free(plain))
        else:
            emit(1, f"[tracecomp] cache hit: {_name(fn)}")
        return art, tensors, fed

    def _compile(self, fn, sig, structure, statics, tensors, state, module_names, optimizers,
                 roots, backend, fed, fed_arrays):
        reason = self._stale or explain_miss(sig, self.cache.signatures(latest=LATEST))
        self._stale = None
        emit(1, f"[tracecomp] compiling {_name(fn)} ({backend}): {reason}")
        fused_step.mark_compiled(roots)

        def call_args(stand_ins, numbers=(), arrays=()):    # stand-ins of the fed ones
            numbers, arrays = iter(numbers), iter(arrays)
            return unflatten(structure, stand_ins, [
                next(numbers) if type(v) is FedArgument else next(arrays) if v is FED else v
                for _, v in statics])

        deep = self.deep if self.lift_bound else None   # where it lifts tensors from
        resized = only_sizes_changed(sig, self.cache.signatures(latest=LATEST))
        vary = self.templates is not None and sizes_vary(self.dynamic, tensors, resized)
        if self.templates is not None:
            self.templates.compiled = False
            with context.varying_sizes(vary):
                self.templates.record_marked(tensors, lambda other: build(
                    fn, call_args, other, state, module_names, backend, optimizers, roots,
                    self.memory_budget, self.templates, fed, deep, self.outside,
                    fed_arrays),
                    every=self.dynamic is True, fresh=not resized)
        reused = False      # a new size that a dynamic graph runs: traced, not compiled
        try:
            for label, v in statics:    # keyed by identity, a change in place unseen
                refuse_large_array(v, f"argument {label}")
            with progress.compiling(f"{_name(fn)} ({backend})"), gc_pause.paused(), \
                    context.varying_sizes(vary):
                art = build(fn, call_args, tensors, state, module_names, backend, optimizers,
                            roots, self.memory_budget, self.templates, fed, deep,
                            self.outside, fed_arrays)
            art.served = reused = self.templates is not None and not self.templates.compiled
            state_walk.note_unread(self._walks, art, roots)
        except TraceError as exc:
            if self.fullgraph and self.fallback != "eager":
                raise
            art = Artifact({}, [], None, eager=True, split=self.fallback != "eager")
            if not graph_break.say(self.said, _name(fn), exc, self.fallback):
                return art      # said before: each new shape, each instance fails alike
        if not reused:      # a trace that failed counts, as before dynamic shapes
            self._count_compile(fn, reason)
        return art

    def _count_compile(self, fn, reason):
        self.compiles += 1
        if self.compiles > self.recompile_limit:
            trace_warnings.recompiled(fn, self.compiles, self.recompile_limit, reason)


def _profiled(compiled, args, kwargs):
    """A compiled call while a profile records: one event, its kernels inside it."""
    with profiler.record_function(f"CompiledFunction: {_name(compiled.fn)}"):
        compiled._profiled = True
        try:
            return compiled(*args, **kwargs)
        finally:
            compiled._profiled = False


def _forget_fast_paths():
    """The default dtype changed: each compiled function's next call takes the full
    signature (which holds the default dtype): its fast paths are dropped."""
    for fn in list(COMPILED):
        fn._fast = fn._last_call = None


dtypes.DEFAULT_DTYPE_WATCHERS.append(_forget_fast_paths)
_LAZY = Artifact({}, [], None, eager=True)     # a call that initializes lazy modules
_EAGER_RUN = Artifact({}, [], None, eager=True)     # a call the stance runs eagerly

