"""What `tracecomp.compile(model)` returns: an nn.Module, as torch's OptimizedModule, whose
calls run the model's forward compiled and whose every other attribute is the model's.

    compiled = tracecomp.compile(model)
    compiled(x)                          # runs model.forward's CompiledFunction
    compiled.fc1.weight is model.fc1.weight
    list(compiled.state_dict())          # ['_orig_mod.fc1.weight', ...], as torch names them

It holds the model as its one child, `_orig_mod`, so it can sit where a module goes
(`nn.Sequential(compiled, head)`, `isinstance(m, nn.Module)`), and train/eval, parameters,
state_dict and `to` reach the model through the tree, as in torch.
"""
import copy
import weakref

from .. import context, grad_mode, saved_hooks
from ..autograd import forward_ad, profiler
from ..autograd.profiler import _active as PROFILES
from ..errors import TraceError
from ..nn import global_hooks
from ..nn.module import Module
from ..nn.modules.lazy import initialize_lazy
from . import fused_step, stance
from .driver import CompiledFunction
from .module_call import ModuleCall

_MODULES = weakref.WeakSet()    # every compiled module, for reset


class OptimizedModule(Module):
    """tracecomp.compile(model): calls run compiled; everything else is the model's, so
    both share weights. Its own hooks (registered on it) run around the compiled call; the
    model's hooks too, outside the graph."""

    # set on the wrapper itself; any other attribute set on it is set on the model
    _OWN = frozenset(("_orig_mod", "_compiled", "_maybe_lazy", "_fast", "_own_call"))

    def __init__(self, module, **options):
        Module.__init__(self)
        self._modules["_orig_mod"] = module
        # also in __dict__: the call path reads it without Module.__getattr__'s lookup
        object.__setattr__(self, "_orig_mod", module)
        self._compile(module, options)

    def _compile(self, module, options):
        """A CompiledFunction of module's forward, nothing compiled yet (__init__, and a
        deep copy's own)."""
        # a model whose class defines __call__ itself (ema-pytorch's EMA, no forward) runs
        # that, as torch's OptimizedModule calls the model: no hooks, no forward
        own_call = type(module).__call__ is not Module.__call__
        object.__setattr__(self, "_own_call", own_call)
        object.__setattr__(self, "_compiled", CompiledFunction(
            type(module).__call__ if own_call else type(module).forward, **options))
        object.__setattr__(self, "_maybe_lazy", True)
        object.__setattr__(self, "_fast", None)     # module_call.ModuleCall, when it holds
        fused_step.mark_compiled([module])
        _MODULES.add(self)

    # `training` is the model's: Module.__init__'s default and train(mode) both write it
    @property
    def training(self):
        return self.__dict__["_orig_mod"].training if "_orig_mod" in self.__dict__ else True

    @training.setter
    def training(self, mode):
        if "_orig_mod" in self.__dict__:
            self._orig_mod.training = mode

    def __call__(self, *args, **kwargs):
        if PROFILES:        # autograd.profiler: the call is one event
            with profiler.record_function(f"CompiledModule: {type(self._orig_mod).__name__}"):
                return self._call(args, kwargs)
        return self._call(args, kwargs)

    def forward(self, *args, **kwargs):
        """The model's forward, compiled (torch's OptimizedModule.forward)."""
        return self._run(*args, **kwargs)

    def _call(self, args, kwargs):
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks \
                or self._backward_pre_hooks:
            return self._call_forward(args, kwargs, self._run)
        return self._run(*args, **kwargs)

    def _eager(self, args, kwargs):
        mod = self._orig_mod
        return mod(*args, **kwargs) if self._own_call else mod._call_forward(args, kwargs)

    def _run(self, *args, **kwargs):
        mod = self._orig_mod
        if stance.current == "force_eager":     # torch.compiler.set_stance
            return self._eager(args, kwargs)
        if forward_ad.active():     # dual tensors' tangents come from the eager tape
            return self._compiled.graph_break(TraceError(forward_ad.NOT_COMPILED),
                                              lambda: self._eager(args, kwargs))
        if saved_hooks.active[0] and saved_hooks.current() is not None:     # eager's packing
            return self._compiled.graph_break(TraceError(saved_hooks.NOT_COMPILED),
                                              lambda: self._eager(args, kwargs))
        if not self._own_call and (mod._forward_pre_hooks or mod._forward_hooks
                                   or mod._backward_hooks or mod._backward_pre_hooks
                                   or global_hooks.any_hooks()):
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
        out = compiled._call(type(mod).__call__ if self._own_call else type(mod).forward,
                             (mod,) + args, kwargs, [mod])
        # the positions of the number arguments fed as inputs, counted without `mod`
        last = compiled._last_call
        fed = None if last is None or last.positions is None else \
            {k - 1: kind for k, kind in last.positions.items()}
        object.__setattr__(self, "_fast", ModuleCall.of(args, kwargs, compiled.last,
                                                        compiled._walks,
                                                        grad_mode.state.enabled, fed))
        return out

    def __getattr__(self, name):
        d = self.__dict__
        if "_orig_mod" not in d:        # before __init__ finished (copy, unpickling)
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return getattr(d["_orig_mod"], name)

    def __setattr__(self, name, value):
        if name in self._OWN or hasattr(type(self), name):
            Module.__setattr__(self, name, value)
            if name == "_orig_mod":     # a new model: the compiled versions were the old one's
                object.__setattr__(self, "_orig_mod", value)
                self._compiled.forget()
                object.__setattr__(self, "_fast", None)
        else:
            setattr(self._orig_mod, name, value)

    def __delattr__(self, name):
        delattr(self._orig_mod, name)

    def _options(self):
        c = self._compiled
        return dict(backend=c.backend, fallback=c.fallback, recompile_limit=c.recompile_limit,
                    cache_size=c.cache.size, memory_budget=c.memory_budget, dynamic=c.dynamic,
                    fullgraph=c.fullgraph)

    def __deepcopy__(self, memo):
        """copy.deepcopy: a compiled copy of a copy of the model, with the hooks registered
        on this one (native code is not copied: the copy compiles on its first call)."""
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k not in ("_compiled", "_maybe_lazy", "_fast", "_own_call"):
                object.__setattr__(new, k, copy.deepcopy(v, memo))
        new._compile(new._orig_mod, self._options())
        return new

    def __reduce__(self):
        """pickle and copy.copy: the model, compiled again with the same options."""
        return (_rebuild, (self._orig_mod, self._options()))

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

    def load_state_dict(self, state_dict, *args, **kwargs):
        """Module.load_state_dict; a checkpoint of the plain model (keys without
        `_orig_mod.`) loads into the model too, as the keys say which one it is."""
        prefix = "_orig_mod."
        if any(isinstance(k, str) and k.startswith(prefix) for k in state_dict):
            return Module.load_state_dict(self, state_dict, *args, **kwargs)
        return self._orig_mod.load_state_dict(state_dict, *args, **kwargs)


def _rebuild(module, options):
    return OptimizedModule(module, **options)


def forget_fast_paths():
    """Drop every compiled module's ModuleCall (reset, or the default dtype changed: the
    full signature holds the default dtype, the fast path does not look)."""
    for module in list(_MODULES):
        object.__setattr__(module, "_fast", None)
