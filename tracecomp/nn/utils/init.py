"""skip_init (torch.nn.utils.init): a module made without initializing its parameters."""
import inspect

from ..module import Module


def skip_init(module_cls, *args, **kwargs):
    """module_cls(*args, **kwargs) whose parameters' values are not to be relied on (the
    caller initializes them). torch builds it on the meta device and leaves the memory
    uninitialized; tracecomp builds it as usual, which is one of the values that memory
    may hold, and takes the same arguments and raises the same errors."""
    if not (inspect.isclass(module_cls) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    return module_cls(*args, **kwargs)
