"""Hooks every module runs when a parameter, buffer or submodule is registered on it
(torch.nn.modules.module's register_module_parameter_registration_hook, ..._buffer_... and
..._module_...), which libraries use to wrap or move tensors as models are built.

hook(module, name, value) -> None or a replacement, which is what gets registered; they run
in registration order, each on the previous one's answer, as in torch: parameters through
register_parameter (not for None), buffers through register_buffer and assignment to a
buffer's name, submodules through add_module and every assignment of a module or None to a
submodule's name.
"""
from collections import OrderedDict

from .module_hooks import add_hook

_PARAMETER, _BUFFER, _MODULE = OrderedDict(), OrderedDict(), OrderedDict()


def register_module_parameter_registration_hook(hook):
    """hook(module, name, param) -> None or the Parameter to register instead."""
    return add_hook(_PARAMETER, hook, False)


def register_module_buffer_registration_hook(hook):
    """hook(module, name, buffer) -> None or the tensor to register instead."""
    return add_hook(_BUFFER, hook, False)


def register_module_module_registration_hook(hook):
    """hook(module, name, submodule) -> None or the module to register instead."""
    return add_hook(_MODULE, hook, False)


def _run(table, module, name, value):
    for hook in tuple(table.values()):
        output = hook(module, name, value)
        if output is not None:
            value = output
    return value


def parameter(module, name, value):
    return _run(_PARAMETER, module, name, value) if _PARAMETER else value


def buffer(module, name, value):
    return _run(_BUFFER, module, name, value) if _BUFFER else value


def submodule(module, name, value):
    return _run(_MODULE, module, name, value) if _MODULE else value
