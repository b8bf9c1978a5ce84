"""Which of torch's public names the support table lists, namespace by namespace.

Used by `tracecomp support` (support_table.py) when it regenerates SUPPORT.md and
torch_names.py from an installed torch; it imports torch, so nothing at run time uses it.
"""
import importlib
import inspect
import types

# torch namespace -> the tracecomp namespace that mirrors it
NAMESPACES = {
    "torch": "tracecomp",
    "torch.Tensor": "tracecomp.Tensor",
    "torch.nn": "tracecomp.nn",
    "torch.nn.functional": "tracecomp.nn.functional",
    "torch.nn.init": "tracecomp.nn.init",
    "torch.nn.utils": "tracecomp.nn.utils",
    "torch.nn.utils.rnn": "tracecomp.nn.utils.rnn",
    "torch.optim": "tracecomp.optim",
    "torch.optim.lr_scheduler": "tracecomp.optim.lr_scheduler",
    "torch.optim.swa_utils": "tracecomp.optim.swa_utils",
    "torch.autograd": "tracecomp.autograd",
    "torch.autograd.functional": "tracecomp.autograd.functional",
    "torch.func": "tracecomp.func",
    "torch.utils.data": "tracecomp.utils.data",
    "torch.utils.benchmark": "tracecomp.utils.benchmark",
    "torch.compiler": "tracecomp.compiler",
    "torch.linalg": "tracecomp.linalg",
    "torch.fft": "tracecomp.fft",
    "torch.cuda": "tracecomp.cuda",
    "torch.backends": "tracecomp.backends",
    "torch.accelerator": "tracecomp.accelerator",
    "torch.amp": "tracecomp.amp",
    "torch.random": "tracecomp.random",
    "torch.distributions": "tracecomp.distributions",
    "torch.testing": "tracecomp.testing",
}

# torch's top-level classes that programs use (the rest are TorchScript/C++ internals)
TORCH_CLASSES = {"Tensor", "Size", "dtype", "device", "Generator", "finfo", "iinfo",
                 "no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "autocast",
                 "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
                 "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"}
# top-level names that are Python's or other libraries' modules re-exported by accident
NOT_TORCH = {"builtins", "ctypes", "functools", "glob", "importlib", "inspect", "math", "os",
             "platform", "sys", "textwrap", "threading", "types", "warnings", "torch",
             "typename", "obj", "annotations"}


def _resolve(namespace, module_prefix="torch"):
    parts = namespace.split(".")
    if parts[-1] == "Tensor":
        return importlib.import_module(".".join(parts[:-1])).Tensor
    return importlib.import_module(namespace)


def _from_torch(value, prefix):
    """Is this attribute torch's own (not typing's or Python's re-exported)?"""
    if isinstance(value, types.ModuleType):
        return value.__name__.startswith(prefix)
    module = getattr(value, "__module__", None) or ""
    return module.startswith(prefix) or inspect.isbuiltin(value) or \
        type(value).__module__.startswith(prefix) or \
        (isinstance(value, (int, float)) and not isinstance(value, bool))


def public_names(namespace):
    """torch's public names in `namespace`: everything a program could reach. Subpackages
    are the package's public submodules on disk, whether imported yet or not (dir() lists a
    submodule only once something imported it, which would make the names depend on what
    ran before)."""
    obj = _resolve(namespace)
    names = _public_submodules(obj)
    for name in dir(obj):
        if name.startswith("_") or name in NOT_TORCH:
            continue
        try:
            value = getattr(obj, name)
        except Exception:       # noqa: BLE001 - a lazy attribute that fails to load
            continue
        if isinstance(value, types.ModuleType) and hasattr(obj, "__path__"):
            continue            # a submodule: listed from disk above
        if namespace == "torch.Tensor" or _from_torch(value, "torch"):
            names.add(name)
    return names


def _public_submodules(obj):
    import pkgutil
    path = getattr(obj, "__path__", None)
    return {m.name for m in pkgutil.iter_modules(path)
            if not m.name.startswith("_")} if path else set()


def listed_names(namespace):
    """The names the support table lists: public names minus TorchScript/C++ internals."""
    obj = _resolve(namespace)
    names = public_names(namespace)
    if namespace != "torch":
        return {n for n in names if not _internal(getattr(obj, n, None))}
    out = set()
    modules = _public_submodules(obj)
    for name in names:
        value = getattr(obj, name, None)
        if name in modules:
            if "torch." + name in NAMESPACES:
                out.add(name)
        elif isinstance(value, type):
            if name in TORCH_CLASSES:
                out.add(name)
        elif isinstance(value, types.ModuleType):
            if "torch." + name in NAMESPACES:
                out.add(name)
        elif not _internal(value):
            out.add(name)
    return out


def _internal(value):
    module = getattr(value, "__module__", None) or ""
    return module.startswith(("torch._C", "torch.jit", "torch._")) and not callable(value) \
        or isinstance(value, type) and module.startswith("torch._C")


def submodules():
    """Every torch subpackage name (`torch.fft`, ..., and torch.utils' and torch.nn's:
    `torch.utils.model_zoo`), for the import-time message."""
    import torch
    import torch.nn
    import torch.utils
    return {f"{package.__name__}.{name}" for package in (torch, torch.utils, torch.nn)
            for name in _public_submodules(package)}
