"""The user-facing entry points of the compiler: tracecomp.compile (a function, a module or
a module class), nn.Module.compile (in place), and torch._dynamo.reset (`reset`).

    compiled = tracecomp.compile(model)           # a module sharing model's parameters
    @tracecomp.compile                            # a function (or a forward method)
    def step(x): ...

A function compiles into a driver.CompiledFunction; a module into an OptimizedModule
(compiled_module.py), whose calls run its forward's CompiledFunction and whose every other
attribute is the module's.
"""
import weakref
from types import FunctionType

from .. import context, dtypes, saved_hooks
from ..artifact_cache import CACHE_SIZE, check_size
from ..errors import TraceError
from ..nn.module import Module
from ..nn.modules.lazy import initialize_lazy
from . import driver, fused_step, stance
from .compiled_module import OptimizedModule, forget_fast_paths
from .driver import CompiledFunction
from .torch_api import TORCH_BACKENDS, list_backends


def compile(model=None, *, backend=None, fallback=None,
            recompile_limit=None, cache_size=CACHE_SIZE, memory_budget=None,
            dynamic=None, fullgraph=False, **torch_options):
    """Compile a module, a module class or a function; usable bare (@compile) or with
    options. torch.compile's tuning options (mode, options) are accepted and have no
    effect here; disable=True returns the model itself, as torch does, and so does a
    function marked torch.compiler.disable.

    fullgraph: False (torch's default): code that cannot be traced into one graph (a
    graph break: `.tolist()`, `if tensor:`, Python's random...) runs eagerly, with a
    warning naming the line, and the modules it calls run compiled, each on its own
    (graph_break.py). True: a graph break is a TraceError.

    backend: "llvm" (the CPU's), "cuda", "interp" (the traced graph run op by op), or
    None for the tensors' device; torch's names run as their tracecomp counterpart
    ("inductor": by device, "eager" and "aot_eager": interp). A backend function (torch's
    FX-graph interface) is refused: tracecomp's graphs are not FX graphs.

    dynamic: None (torch's default) compiles the first shape for its sizes; when a later
    call changes an input's dim and the graph is otherwise the same, the llvm backend
    compiles one graph for every size of that dim, and each further size runs it after a
    trace (compiler/dynamic.py). True, as torch's "as dynamic as possible up front": the
    first call already compiles one graph in which every dim of the arguments' tensors is
    a symbol (those of one size one symbol, at most four), except sizes 0 and 1 and the
    dims the code fixes (traced one larger, they fail; they stay static); parameters are
    static. False: every shape compiles for its own sizes.

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
               "dynamic": dynamic, "fullgraph": bool(fullgraph)}
    if model is None:
        return lambda m: compile(m, **options, **torch_options)
    if torch_options.get("disable") or getattr(model, "_tracecomp_disabled", False):
        return model                    # torch.compile(..., disable=True): a no-op
    if isinstance(model, type) and issubclass(model, Module):
        return _compile_class(model, options)
    if isinstance(model, Module):
        return OptimizedModule(model, **options)
    if callable(model):
        if isinstance(_class_call(model), FunctionType):
            # an object of the user's class with a __call__ (a hand-written layer): its
            # bound method, whose `self` the trace reaches like any method's (the
            # attributes it reads are guarded, those it assigns replayed each call)
            model = model.__call__
        return CompiledFunction(model, **options)
    raise TypeError(f"tracecomp.compile expects an nn.Module or a function, got "
                    f"{type(model).__name__}")


def _class_call(obj):
    """The __call__ obj's class defines or inherits (a function of the user's class; a
    slot wrapper for functions, methods and builtins)."""
    return next((k.__dict__["__call__"] for k in type(obj).__mro__ if "__call__" in k.__dict__),
                None)


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
TORCH_OPTIONS = frozenset(("mode", "options", "disable"))


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
        if saved_hooks.active[0] and saved_hooks.current() is not None:     # eager's packing
            return fn.graph_break(TraceError(saved_hooks.NOT_COMPILED),
                                  lambda: Module.__call__(self, *args, **kwargs))
        return fn._call(type(self).forward, (self,) + args, kwargs, [self])

    cls.__call__ = __call__
    return cls


def reset():
    """torch._dynamo.reset: every compiled function and module forgets its compiled versions
    and fast paths, and compiles again on its next call, its recompile count from zero; the
    optimizers' fused steps too. (The disk cache of native code stays, as torch's inductor
    cache does: compiling again may be quick.)"""
    for fn in list(driver.COMPILED):
        fn.forget()
    forget_fast_paths()
    fused_step.forget()


dtypes.DEFAULT_DTYPE_WATCHERS.append(forget_fast_paths)
