"""torch.jit for programs that script, trace, freeze or save TorchScript: the same calls,
backed by tracecomp.compile (TorchScript itself, a second language, is not made).

    scripted = tracecomp.jit.script(model)       # calls run model's forward compiled
    traced = tracecomp.jit.trace(model, example)  # the same, run once on `example` now
    @tracecomp.jit.script                         # a fused helper: compiled per signature
    def swish(x): return x * x.sigmoid()
    tracecomp.jit.save(scripted, "m.pt"); tracecomp.jit.load("m.pt")

A ScriptModule shares its model's parameters, buffers and submodules (torch's shares
their tensors), so its state_dict keys are the model's, as torch's are; train() and
eval() on it reach the model's submodules too. Where torch's compiler would refuse code
(data-dependent Python), tracecomp.compile makes it a graph break, so code torch scripts
runs here, and code it traces runs as it is written, not frozen at the example's branch.
jit.save writes tracecomp's whole-module file (serialization.py), which jit.load and
tracecomp.load read; it is not a TorchScript archive. is_scripting() and is_tracing() are
False: code here runs as Python, compiled or not.
"""
import inspect
import typing
import warnings
from collections import namedtuple

from .nn.module import Module
from .user_code import user_stacklevel

Final = typing.Final
Error = RuntimeError                # torch.jit.Error: what a failing script raises
Attribute = namedtuple("Attribute", ["value", "type"])


def _deprecated(name, instead="switch to `torch.compile` or `torch.export`"):
    """torch 2.13's DeprecationWarning for torch.jit.<name>, in its words."""
    warnings.warn(f"`torch.jit.{name}` is deprecated. Please {instead}.", DeprecationWarning,
                  stacklevel=user_stacklevel())


def _compile(obj):
    from .compiler.api import compile
    return compile(obj)


class ScriptModule(Module):
    """torch.jit.ScriptModule. Made by script(), trace() and load(): calls run the
    model's forward compiled. Subclassed directly (legacy `class M(jit.ScriptModule)`
    with @script_method), it is a plain Module."""

    # the model's flag: train() and eval() reach its submodules anyway (shared)
    @property
    def training(self):
        model = self.__dict__.get("_script_of")
        return self.__dict__.get("_training", True) if model is None else model.training

    @training.setter
    def training(self, mode):
        model = self.__dict__.get("_script_of")
        if model is None:
            self.__dict__["_training"] = mode
        else:
            model.training = mode

    def forward(self, *args, **kwargs):
        run = self.__dict__.get("_compiled_module")
        if run is None:
            return Module.forward(self, *args, **kwargs)
        return run(*args, **kwargs)

    def __getattr__(self, name):
        d = self.__dict__
        model = d.get("_script_of")
        try:
            return Module.__getattr__(self, name)
        except AttributeError:
            if model is None:
                raise
        return getattr(model, name)        # the model's methods and plain attributes

    @property
    def original_name(self):
        return type(self.__dict__.get("_script_of", self)).__name__

    @property
    def code(self):
        """The forward's source (torch shows the TorchScript it compiled)."""
        return inspect.getsource(type(self._script_of).forward)

    @property
    def graph(self):
        """The traced graph of the most recent compile (tracecomp's IR)."""
        return _traced_graph(self._compiled_module._compiled, "ScriptModule")

    def _get_name(self):
        return "RecursiveScriptModule" if "_script_of" in self.__dict__ else \
            Module._get_name(self)

    def extra_repr(self):
        return f"original_name={self.original_name}" if "_script_of" in self.__dict__ \
            else Module.extra_repr(self)

    def save(self, f, _extra_files=None):
        save(self, f)


class RecursiveScriptModule(ScriptModule):
    """What script() and load() make of a module (torch's class name)."""


class TopLevelTracedModule(ScriptModule):
    """What trace() makes of a module (torch's class name)."""


TracedModule = TopLevelTracedModule


def _script_module(model, cls=RecursiveScriptModule):
    """A cls over `model`, sharing its registries (the same keys and tensors)."""
    out = cls()
    for name in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"):
        object.__setattr__(out, name, model.__dict__[name])
    object.__setattr__(out, "_script_of", model)
    object.__setattr__(out, "_compiled_module", _compile(model))
    return out


class ScriptFunction:
    """A function made by script() or trace(): compiled per signature on its calls."""

    def __init__(self, fn):
        self._compiled = _compile(fn)
        self.__wrapped__ = fn
        self.name = self.__name__ = getattr(fn, "__name__", "function")
        self.__doc__ = fn.__doc__

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    @property
    def code(self):
        return inspect.getsource(self.__wrapped__)

    @property
    def graph(self):
        return _traced_graph(self._compiled, "ScriptFunction")


def _traced_graph(compiled, what):
    graph = compiled.graphs.get("traced")
    if graph is None:
        raise RuntimeError(f"{what}.graph: tracecomp traces on the first call; call it once "
                           f"(its graph is then the traced graph of that call)")
    return graph


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    """torch.jit.script: a module's ScriptModule, a function's ScriptFunction; a class
    (a TorchScript class) is returned as it is."""
    _deprecated("script")
    if isinstance(obj, ScriptModule | ScriptFunction):
        return obj
    if isinstance(obj, Module):
        return _script_module(obj)
    if inspect.isclass(obj):
        if obj.__module__ == "builtins":
            raise TypeError(f"{obj} is a built-in class")
        return obj
    if callable(obj):
        return ScriptFunction(obj)
    raise TypeError(f"torch.jit.script expects an nn.Module, a function or a class, got "
                    f"{type(obj).__name__}")


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None,
          check_tolerance=1e-5, strict=True, _force_outplace=False,
          _module_class=None, _compilation_unit=None, example_kwarg_inputs=None,
          _store_inputs=True):
    """torch.jit.trace: compiled as script() is, then run once on the example inputs (a
    tensor, a tuple of them, or example_kwarg_inputs), as torch runs them to trace."""
    _deprecated("trace")
    if example_inputs is None and example_kwarg_inputs is None:
        raise RuntimeError("example_kwarg_inputs should be a dict")     # torch's words
    if isinstance(func, ScriptModule | ScriptFunction):
        return func
    if isinstance(func, Module):
        out = _script_module(func, TopLevelTracedModule)
    elif callable(func):
        out = ScriptFunction(func)
    else:
        raise TypeError(f"torch.jit.trace expects an nn.Module or a function, got "
                        f"{type(func).__name__}")
    args = () if example_inputs is None else \
        example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    out(*args, **(example_kwarg_inputs or {}))
    return out


def freeze(mod, preserved_attrs=None, optimize_numerics=True):
    """torch.jit.freeze: checks what torch checks and gives the module back (its weights
    are already read as inputs of the compiled code)."""
    _deprecated("freeze", "use `torch.compile` instead")
    if not isinstance(mod, ScriptModule):
        raise RuntimeError("Freezing expects a ScriptModule as input. Please use "
                           "torch.jit.script or torch.jit.trace to script your 'nn.Module'.")
    if mod.training:
        raise RuntimeError("Freezing is currently only implemented for modules in eval mode. "
                           "Please call .eval() on your module before freezing.")
    return mod


def optimize_for_inference(mod, other_methods=None):
    """torch.jit.optimize_for_inference: freeze() (the compiled code is what runs)."""
    return freeze(mod)


def save(m, f, _extra_files=None):
    """torch.jit.save: the scripted model, as tracecomp.save writes a whole module."""
    from .serialization import save as save_file
    if not isinstance(m, ScriptModule):
        raise AttributeError(f"'{type(m).__name__}' object has no attribute 'save'")
    save_file(m.__dict__.get("_script_of", m), f)


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    """torch.jit.load: what jit.save wrote, as a ScriptModule."""
    from .serialization import load as load_file
    model = load_file(f, map_location=map_location, weights_only=False)
    if not isinstance(model, Module):
        raise RuntimeError(f"torch.jit.load: the file holds a {type(model).__name__}, not a "
                           f"module saved by torch.jit.save")
    return _script_module(model)


class Future:
    """torch.jit.fork's result: here the call has run already."""

    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    def done(self):
        return True

    def value(self):
        return self._value


def fork(func, *args, **kwargs):
    """torch.jit.fork: runs func now (torch too, outside TorchScript)."""
    _deprecated("fork", "use `torch.compile` instead")
    return Future(func(*args, **kwargs))


def wait(future):
    _deprecated("wait", "use `torch.compile` instead")
    return future.wait()


def is_scripting():
    return False


def is_tracing():
    return False


def annotate(the_type, the_value):
    return the_value


def _marker(fn=None, **kwargs):
    """ignore, unused, export, script_method, interface, script_if_tracing: torch's
    markers for its compiler; here the function itself (bare or with options)."""
    return fn if fn is not None else (lambda f: f)


ignore = unused = export = script_method = interface = script_if_tracing = _marker
