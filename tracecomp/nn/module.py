"""Module: the base class of every layer and model, with torch.nn.Module's behaviour.

A Module keeps its state in three ordered registries, filled by plain attribute
assignment: `_parameters` (Parameters), `_buffers` (non-learnable tensors such as
BatchNorm's running stats) and `_modules` (children). Everything else (parameters(),
state_dict() (module_state.py), train(), to(), repr) is a walk over those registries, in
registration order, so names and orders match torch's exactly.
"""
import copy
import warnings
from collections import OrderedDict

import numpy as np

from .. import context, dtypes
from ..device_methods import check_cuda, move, moved_data, parse_to
from ..devices import CPU, check_placement, placed
from ..dtypes import np_kind
from ..errors import ForeignTensorError, foreign_operand
from ..grad_mode import no_grad
from ..sparse_data import SparseData
from ..tensor import Tensor
from ..user_code import user_stacklevel
from . import as_built, backward_hooks, global_hooks, registration_hooks, structure
from .module_hooks import ModuleHooks
from .module_state import ModuleState
from .parameter import Buffer, Parameter

# attribute values whose binding changes the tensors a compiled call reads (structure.py);
# modules and parameters go into the counted registries
_HELD = (Tensor, tuple, list)
_SCALARS = frozenset((int, float, bool, str, type(None)))
_UNSET = object()
HOOK_TABLES = ("_forward_pre_hooks_with_kwargs", "_forward_hooks_with_kwargs",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


def _typename(x) -> str:
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _addindent(s, spaces):
    """Indent every line but the first (how torch nests a child's repr)."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module(ModuleHooks, ModuleState):
    _version = 1
    training: bool

    def __new__(cls, *args, **kwargs):
        # The constructor's arguments, so that tracecomp.save(model) can rebuild the model
        # by calling its class again instead of pickling it (saved_module.py).
        self = super().__new__(cls)
        object.__setattr__(self, "_init_args", (args, kwargs))
        if kwargs.get("device") is not None and cls.__module__.startswith("tracecomp."):
            # torch's layers take device= (factory kwargs): ours build their tensors on the
            # CPU and register them here, where they move (or the device refuses, as torch's
            # CPU build does: devices.py)
            check_placement(kwargs["device"])
            where = placed(kwargs["device"])
            if where.type != "cpu":
                object.__setattr__(self, "_factory_device", where)
        return self

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        as_built.count_constructions(cls)   # which children the constructor made

    def __init__(self):
        # object.__setattr__: our own __setattr__ reads these registries
        # their changes are counted (structure.py): a compiled call finds what it reads,
        # and the hooks it traced, unchanged without walking the modules again
        for name in ("_parameters", "_buffers", "_modules"):
            object.__setattr__(self, name, structure.plain_registry())
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks"):
            object.__setattr__(self, name, structure.Registry())
        # which forward hooks take kwargs, and the state_dict hooks (module_hooks.py): plain
        # dicts, since compiled calls never read them
        for name in HOOK_TABLES:
            object.__setattr__(self, name, OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  f'"forward" function')

    # --- calling --------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        trace = context.current()
        if trace is None:
            compiled = self.__dict__.get("_compiled_call")
            if compiled is not None:
                return compiled(*args, **kwargs)    # model.compile() was called
            route = context.router()
            if route is not None:   # in a compiled call's eager run around a graph break
                return route(self, args, kwargs)
            return self._call_forward(args, kwargs)
        trace.enter_module(self)        # the trace names the nodes it makes by module path
        try:
            return self._call_forward(args, kwargs)
        finally:
            trace.exit_module()

    def _call_forward(self, args, kwargs, forward=None):
        """forward (or `forward`, a compiled model's) with the forward pre-hooks before it
        and the forward hooks after it."""
        with_kwargs = self._forward_pre_hooks_with_kwargs
        pre = list(self._forward_pre_hooks.items())
        if global_hooks.forward_pre_hooks:      # everyone's first (global_hooks.py)
            pre[:0] = global_hooks.forward_pre_hooks.items()
        for hook_id, hook in pre:
            if hook_id in with_kwargs:
                out = hook(self, args, kwargs)
                if out is not None:
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {out}.")
                    args, kwargs = out
            else:
                out = hook(self, args)
                if out is not None:
                    args = out if isinstance(out, tuple) else (out,)
        forward = forward or self.forward
        try:
            if self.__dict__.get("_backward_hooks") or self.__dict__.get("_backward_pre_hooks") \
                    or global_hooks.any_backward_hooks():
                result = backward_hooks.call(self, args, kwargs, forward)
            else:
                result = forward(*args, **kwargs)
        except (AttributeError, TypeError) as exc:   # a torch tensor given (from torchvision)?
            foreign = None if isinstance(exc, ForeignTensorError) else \
                foreign_operand(f"{type(self).__name__}.forward", args)
            if foreign is None:
                raise
            raise foreign from exc
        if not (self._forward_hooks or global_hooks.forward_hooks):
            return result
        own = self._forward_hooks_with_kwargs
        hooks = [(own, h) for h in self._forward_hooks.items()]
        if global_hooks.forward_hooks:      # everyone's first (global_hooks.py)
            hooks[:0] = [(global_hooks.forward_hooks_with_kwargs, h)
                         for h in global_hooks.forward_hooks.items()]
        for with_kwargs, (hook_id, hook) in hooks:
            out = hook(self, args, kwargs, result) if hook_id in with_kwargs else \
                hook(self, args, result)
            if out is not None:
                result = out
        return result

    # Module.compile (torch's in-place compile, compiler/api.py) is attached by tracecomp's
    # __init__, which loads the compiler on first use: nn sits below the compiler; the
    # register_*_hook methods are ModuleHooks' (module_hooks.py)

    # --- registration -----------------------------------------------------------------------
    def _check_name(self, kind, name, registry):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."' +
                           (f", got: {name}" if kind == "module" else ""))
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(tracecomp.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
                             f"parameters must be created explicitly. To express '{name}' as a "
                             "function of another Tensor, compute the value in the forward() "
                             "method.")
        if param is not None and self.__dict__.get("_factory_device") is not None and \
                isinstance(param._data, np.ndarray):        # made on the CPU: moved
            param._data = moved_data(param._data, self._factory_device)
        if param is not None:
            param = registration_hooks.parameter(self, name, param)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(tracecomp Tensor or None required)")
        if tensor is not None and self.__dict__.get("_factory_device") is not None and \
                isinstance(tensor._data, np.ndarray):
            tensor = move(tensor, self._factory_device)
        self._buffers[name] = registration_hooks.buffer(self, name, tensor)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        self._check_name("module", name, self._modules)
        module = registration_hooks.submodule(self, name, module)
        self._modules[name] = self._on_factory_device(module)

    register_module = add_module

    def _on_factory_device(self, module):
        """A child module of a layer made with device= (MultiheadAttention's out_proj, a
        transformer layer's parts) goes to that device with the layer's own tensors."""
        where = self.__dict__.get("_factory_device")
        return module if where is None or module is None else module.to(where)

    def __setattr__(self, name, value):
        d = self.__dict__
        old = d.get(name, _UNSET)
        if isinstance(value, _HELD) or isinstance(old, _HELD) or name == "training" or \
                type(value) in _SCALARS and (type(old) is not type(value) or old != value):
            # what a compiled call reads may differ (structure.py), or a number, string
            # or None it read as a constant (compiler/value_reads.py)
            structure.changed()

        def remove_from(*registries):
            for r in registries:
                if name in r:
                    r.discard(name) if isinstance(r, set) else r.__delitem__(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(tracecomp.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if d.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
            value = registration_hooks.submodule(self, name, value)
            self._modules[name] = self._on_factory_device(value)
        elif d.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(tracecomp.nn.Module or None expected)")
            self._modules[name] = registration_hooks.submodule(self, name, value)
        elif isinstance(value, Buffer):
            if d.get("_buffers") is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            remove_from(d, self._modules)
            self.register_buffer(name, value, value.persistent)
        elif d.get("_buffers") is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(tracecomp Tensor or None expected)")
            self._buffers[name] = registration_hooks.buffer(self, name, value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        structure.changed()
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = list(object.__dir__(self)) + list(self._parameters) + list(self._buffers) + \
            list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    # --- walking the tree ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, get_members, prefix, recurse, remove_duplicate):
        memo = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or v in memo:
                    continue
                if remove_duplicate:
                    memo.add(v)
                yield module_prefix + ("." if module_prefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                   remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                   remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + " has no attribute `" + item + "`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def set_submodule(self, target, module, strict=False):
        """Put `module` at the dotted path `target` (its parent must exist)."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(parent._get_name() + " has no attribute `" + name + "`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError("`" + name + "` is not an nn.Module")
        setattr(parent, name, module)

    def _get_member(self, target, registry, kind):
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `" + name + "`")
        if name not in getattr(mod, registry):
            raise AttributeError("`" + name + "` is not " + kind)
        return getattr(mod, name)

    def get_parameter(self, target):
        return self._get_member(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target):
        return self._get_member(target, "_buffers", "a buffer")

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and conversions --------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.zero_()

    def _apply(self, fn, recurse=True):
        """Convert every parameter and buffer with fn (the submodules' too, with recurse).
        Parameters keep their identity (their data is swapped), so optimizers already
        holding them see the conversion."""
        for module in self.children() if recurse else ():
            module._apply(fn)
        with no_grad():
            for p in self._parameters.values():
                if p is None:
                    continue
                p._data = fn(p)._data
                if p.grad is not None:
                    p.grad = fn(p.grad)
            for name, b in self._buffers.items():
                if b is not None:
                    self._buffers[name] = fn(b)
        return self

    def share_memory(self):
        """Every parameter, gradient and buffer in shared memory (Tensor.share_memory_):
        processes forked after this train one set of weights (Hogwild)."""
        return self._apply(lambda t: t.share_memory_())

    def to(self, *args, **kwargs):
        """to(dtype), to(device), to(tensor), to(device, dtype), as Tensor.to: every parameter
        and buffer moves; floating-point ones are cast, integer ones (num_batches_tracked)
        keep their dtype. A device tensors cannot live on raises (devices.py) before
        anything changes. `memory_format=` lays out the 4-D and 5-D ones (as torch: a
        format of another rank raises)."""
        memory_format = kwargs.pop("memory_format", None)
        device, dtype, _, _ = parse_to(args, kwargs)
        if memory_format is not None:
            self._apply(lambda t: t.to(memory_format=memory_format) if t.dim() in (4, 5)
                        else t)
        if device is not None:
            check_placement(device, moving=True)
            self._apply(lambda t: move(t, device))
        if dtype is None:
            return self
        kind = np_kind(dtypes.to_np(dtype))
        if kind not in "fc":
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype={dtype}")
        if kind == "c":
            warnings.warn("Complex modules are a new feature under active development whose "
                          "design may change, and some modules might not work as expected "
                          "when using complex tensors as parameters or buffers.", UserWarning,
                          stacklevel=user_stacklevel())
        # as torch: complex tensors are cast too (to a real dtype, with its warning)
        return self._apply(lambda t: t.to(dtype) if t.is_floating_point() or t.is_complex()
                           else t)

    def to_empty(self, *, device, recurse=True):
        """Every parameter and buffer moved to `device` as uninitialized storage of its
        shape and dtype (a 'meta' module made real; then reset_parameters() or
        load_state_dict fills it)."""
        from ..creation import empty_like
        return self._apply(lambda t: empty_like(t, device=device), recurse=recurse)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def cpu(self):
        return self._apply(lambda t: move(t, CPU))

    def cuda(self, device=None):
        """Move to a CUDA device (where there is none: what torch's CPU build raises)."""
        where = check_cuda(device)
        return self._apply(lambda t: move(t, where))

    def type(self, dst_type):
        """Cast every parameter and buffer (integer ones too, as torch) to dst_type: a dtype,
        a legacy type (torch.DoubleTensor) or its name."""
        return self._apply(lambda t: t.type(dst_type))

    def __deepcopy__(self, memo):
        """copy.deepcopy(model): tensors get fresh copies of their data (buffers are plain
        Tensors, which do not pickle, so they are copied here before the generic walk)."""
        for _, b in self.named_buffers(remove_duplicate=False):
            if id(b) in memo:
                continue
            if type(b._data) is SparseData:     # a sparse buffer copies its own parts
                b.__deepcopy__(memo)
            else:
                memo[id(b)] = Tensor._make(b._data.copy(), b._requires_grad)
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k not in ("_compiled_call", "_as_built"):  # native code: compiled afresh
                object.__setattr__(new, k, copy.deepcopy(v, memo))
        as_built.copy_record(self, new, memo)
        if "_compiled_call" in self.__dict__:
            args, kwargs = self._compile_args
            new.compile(*args, **kwargs)
        return new

    def __getstate__(self):
        """pickle (a spawned process's arguments, a multiprocessing Queue): the instance
        dict, with the record of built children by name (as_built.record_state)."""
        state = dict(self.__dict__)
        if "_as_built" in state:
            state["_as_built"] = as_built.record_state(self)
        return state

    def __setstate__(self, state):
        record = state.pop("_as_built", None)
        self.__dict__.update(state)
        as_built.restore_record(self, record)

    # --- printing ---------------------------------------------------------------------------
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = ["(" + key + "): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
