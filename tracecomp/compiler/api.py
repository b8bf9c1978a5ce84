"""The user-facing entry points of the compiler: tracecomp.compile (a function, a module or
a module class), nn.Module.compile (in place), and torch._dynamo.reset (`reset`).

    compiled = tracecomp.compile(model)           # a module sharing model's parameters
    @tracecomp.compile                            # a function (or a forward method)
    def step(x): ...

A function compiles into a driver.CompiledFunction; a module into a CompiledModule, whose
calls run its forward's CompiledFunction and whose every other attribute is the module's.
"""
import weakref

from .. import context, dtypes, grad_mode
from ..artifact_cache import CACHE_SIZE, check_size
from ..autograd import profiler
from ..autograd.profiler import _active as PROFILES
from ..nn.module import Module
from . import driver, fused_step, stance
from .driver import CompiledFunction, initialize_lazy
from .module_call import ModuleCall
from .torch_api import TORCH_BACKENDS, list_backends


class CompiledModule:
    """tracecomp.compile(model): calls run compiled; everything else (parameters,
    state_dict, train/eval, to, ...) is the original module's, so both share weights."""

    def __init__(self, module, **options):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", CompiledFunction(type(module).forward, **options))
        object.__setattr__(self, "_maybe_lazy", True)
        object.__setattr__(self, "_fast", None)     # module_call.ModuleCall, when it holds
        fused_step.mark_compiled([module])
        _MODULES.add(self)

    def __call__(self, *args, **kwargs):
        if PROFILES:        # autograd.profiler: the call is one event
            with profiler.record_function(f"CompiledModule: {type(self._orig_mod).__name__}"):
                return self._call(args, kwargs)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        mod = self._orig_mod
        if stance.current == "force_eager":     # torch.compiler.set_stance
            return mod._call_forward(args, kwargs)
        if mod._forward_pre_hooks or mod._forward_hooks:
            # the model's own hooks run around its compiled forward, as module.__call__
            # runs them around forward (its submodules' hooks are traced into the graph)
            if context.current() is not None:   # inside another compiled call's trace
                return mod(*args, **kwargs)
            return mod._call_forward(args, kwargs, self._compiled_forward)
        return self._compiled_forward(*args, **kwargs)

    def _compiled_forward(self, *args, **kwargs):
        fast = self._fast
        if fast is not None and not kwargs:
            out = fast(args)
            if out is not None:
                return out
        mod = self._orig_mod
        if context.current() is not None:   # inside another compiled call's trace: inlined
            return mod(*args, **kwargs)
        if self._maybe_lazy:
            if initialize_lazy(mod):
                return mod(*args, **kwargs)
            object.__setattr__(self, "_maybe_lazy", False)
        compiled = self._compiled
        out = compiled._call(type(mod).forward, (mod,) + args, kwargs, [mod])
        # the positions of the number arguments fed as inputs, counted without `mod`
        last = compiled._last_call
        fed = None if last is None or last.positions is None else \
            {k - 1: kind for k, kind in last.positions.items()}
        object.__setattr__(self, "_fast", ModuleCall.of(args, kwargs, compiled.last,
                                                        compiled._walks,
                                                        grad_mode.state.enabled, fed))
        return out

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    @property
    def graphs(self):
        return self._compiled.graphs

    @property
    def pass_log(self):
        return self._compiled.pass_log

    llvm_ir = property(lambda self: self._compiled.llvm_ir)
    optimized_ir = property(lambda self: self._compiled.optimized_ir)
    asm = property(lambda self: self._compiled.asm)
    fusion_log = property(lambda self: self._compiled.fusion_log)
    kernel_profile = property(lambda self: self._compiled.kernel_profile)
    cuda_source = property(lambda self: self._compiled.cuda_source)
    cuda_ptx = property(lambda self: self._compiled.cuda_ptx)
    memory_log = property(lambda self: self._compiled.memory_log)

    def train(self, mode=True):
        self._orig_mod.train(mode)
        return self

    def load_state_dict(self, state_dict, *args, **kwargs):
        """The module's load_state_dict, taking torch's compiled-model keys too: a
        checkpoint torch.compile(model).state_dict() wrote names `_orig_mod.weight` (ours
        names `weight`, the module's own keys, as the uncompiled model loads them)."""
        prefix = "_orig_mod."
        if any(isinstance(k, str) and k.startswith(prefix) for k in state_dict):
            renamed = type(state_dict)((k[len(prefix):] if isinstance(k, str)
                                        and k.startswith(prefix) else k, v)
                                       for k, v in state_dict.items())
            metadata = getattr(state_dict, "_metadata", None)
            if metadata is not None:
                renamed._metadata = type(metadata)(
                    (k[len(prefix):] if k.startswith(prefix) else k, v)
                    for k, v in metadata.items() if k != "_orig_mod")
            state_dict = renamed
        return self._orig_mod.load_state_dict(state_dict, *args, **kwargs)

    def eval(self):
        return self.train(False)

    def _returning_self(name):
        """Module.name, returning this wrapper where the module returns itself: as torch's
        OptimizedModule, `compile(model).to(device).float()` stays compiled."""
        def method(self, *args, **kwargs):
            getattr(self._orig_mod, name)(*args, **kwargs)
            return self
        method.__name__ = name
        return method

    to, cpu, cuda = _returning_self("to"), _returning_self("cpu"), _returning_self("cuda")
    float, double, half = (_returning_self("float"), _returning_self("double"),
                           _returning_self("half"))
    type, apply = _returning_self("type"), _returning_self("apply")
    requires_grad_ = _returning_self("requires_grad_")
    del _returning_self

    def __repr__(self):
        return f"Compiled({self._orig_mod!r})"


def compile(model=None, *, backend=None, fallback=None,
            recompile_limit=None, cache_size=CACHE_SIZE, memory_budget=None,
            dynamic=None, **torch_options):
    """Compile a module, a module class or a function; usable bare (@compile) or with
    options. torch.compile's tuning options (mode, fullgraph, options) are accepted and
    have no effect here: tracecomp always compiles the whole graph; disable=True returns
    the model itself, as torch does, and so does a function marked
    torch.compiler.disable.

    backend: "llvm" (the CPU's), "cuda", "interp" (the traced graph run op by op), or
    None for the tensors' device; torch's names run as their tracecomp counterpart
    ("inductor": by device, "eager" and "aot_eager": interp). A backend function (torch's
    FX-graph interface) is refused: tracecomp's graphs are not FX graphs.

    dynamic: None (torch's default) compiles the first shape for its sizes; when a later
    call changes an input's dim and the graph is otherwise the same, the llvm backend
    compiles one graph for every size of that dim, and each further size runs it after a
    trace (compiler/dynamic.py). True: the same (a dynamic graph is made from two sizes).
    False: every shape compiles for its own sizes.

    fallback and recompile_limit left out take torch._dynamo.config's suppress_errors
    ('eager' when set) and recompile_limit (8 unless set).

    recompile_limit: compiles after which each further one warns. cache_size: compiled
    versions (one per signature) kept per function, least recently used evicted (None:
    no bound); an evicted signature compiles again when called. memory_budget: what the
    forward may keep for the backward, 0.0 (least, recomputing cheap values) to 1.0 (all
    it reads, recomputing nothing), as torch's activation_memory_budget, a budget below 1.0
    may recompute a convolution's im2col columns too; None: the fewest bytes that need no
    recomputation beyond what saves memory (passes/partition.py). A whole training step
    (its backward traced inside) has no forward to split: there a budget below 1.0
    recomputes long-lived cheap values before their late reads instead (passes/remat.py;
    LeNet's step at batch 64: 11.3 -> 7.1 MB)."""
    unknown = set(torch_options) - TORCH_OPTIONS
    if unknown:
        raise TypeError(f"compile() got an unexpected keyword argument "
                        f"{sorted(unknown)[0]!r}")
    if callable(backend):
        raise TypeError(f"tracecomp.compile: backend={getattr(backend, '__name__', backend)!r} "
                        f"is a function; a custom backend takes torch's FX graphs, which "
                        f"tracecomp does not make. Give a name: {', '.join(list_backends(None))}")
    backend = TORCH_BACKENDS.get(backend, backend)
    from .. import _dynamo
    if fallback is None and _dynamo.config.suppress_errors:
        fallback = "eager"
    if recompile_limit is None:
        recompile_limit = _dynamo.config.recompile_limit
    options = {"backend": backend, "fallback": fallback, "recompile_limit": recompile_limit,
               "cache_size": check_size(cache_size), "memory_budget": memory_budget,
               "dynamic": dynamic}
    if model is None:
        return lambda m: compile(m, **options, **torch_options)
    if torch_options.get("disable") or getattr(model, "_tracecomp_disabled", False):
        return model                    # torch.compile(..., disable=True): a no-op
    if isinstance(model, type) and issubclass(model, Module):
        return _compile_class(model, options)
    if isinstance(model, Module):
        return CompiledModule(model, **options)
    if callable(model):
        return CompiledFunction(model, **options)
    raise TypeError(f"tracecomp.compile expects an nn.Module or a function, got "
                    f"{type(model).__name__}")


def compile_in_place(module, *args, **kwargs):
    """Module.compile, torch's in-place compile: from now on this module's calls run
    compiled, with the options of tracecomp.compile. Parameters, state_dict keys and every
    other attribute stay as they were (unlike `model = tracecomp.compile(model)`, which
    wraps it); a call made while an enclosing compile traces is traced into that graph as
    usual."""
    compiled = compile(module, *args, **kwargs)
    if compiled is not module:            # disable=True compiles nothing
        object.__setattr__(module, "_compiled_call", compiled)
        object.__setattr__(module, "_compile_args", (args, kwargs))


# torch.compile's keyword arguments that only tune its own compiler
TORCH_OPTIONS = frozenset(("mode", "fullgraph", "options", "disable"))


def _compile_class(cls, options):
    """@compile on an nn.Module class (as torch.compile does): every instance's calls run
    its forward compiled, each instance with its own cache. The class itself is returned,
    so `Net(...)` builds instances as before. Inside another compiled call the instance
    is traced into the caller's graph like any module."""
    compiled = weakref.WeakKeyDictionary()      # instance -> its CompiledFunction

    def __call__(self, *args, **kwargs):
        if context.current() is not None or stance.current == "force_eager":
            return Module.__call__(self, *args, **kwargs)
        fn = compiled.get(self)
        if fn is None:
            if initialize_lazy(self):
                return Module.__call__(self, *args, **kwargs)
            fn = compiled[self] = CompiledFunction(type(self).forward, **options)
        return fn._call(type(self).forward, (self,) + args, kwargs, [self])

    cls.__call__ = __call__
    return cls


_MODULES = weakref.WeakSet()    # every CompiledModule, for reset


def reset():
    """torch._dynamo.reset: every compiled function and module forgets its compiled versions
    and fast paths, and compiles again on its next call, its recompile count from zero; the
    optimizers' fused steps too. (The disk cache of native code stays, as torch's inductor
    cache does: compiling again may be quick.)"""
    for fn in list(driver.COMPILED):
        fn.forget()
    for module in list(_MODULES):
        object.__setattr__(module, "_fast", None)
    fused_step.forget()



def _forget_module_calls():
    """The default dtype changed: drop every compiled module's ModuleCall (the full
    signature holds the default dtype; the fast path does not look)."""
    for module in list(_MODULES):
        object.__setattr__(module, "_fast", None)


dtypes.DEFAULT_DTYPE_WATCHERS.append(_forget_module_calls)
