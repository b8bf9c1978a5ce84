"""Forward pre-hooks and forward hooks for every module (torch.nn.modules.module's
register_module_forward_pre_hook and register_module_forward_hook), which debugging and
profiling code registers once instead of on each layer.

As in torch, they run before each module's own hooks of the same kind, and a forward
hook registered with_kwargs gets the call's kwargs. The tables are counted Registries
(structure.py): a compiled call, which traces the hooks into its graph, walks the modules
again after one is added or removed and compiles again (compiler/state_walk.py).
"""
from collections import OrderedDict

from .module_hooks import add_hook
from .structure import Registry

forward_pre_hooks = Registry()
forward_hooks = Registry()
forward_hooks_with_kwargs = OrderedDict()     # RemovableHandle holds it weakly


def register_module_forward_pre_hook(hook):
    """hook(module, args) -> None or new args, before every module's forward and its own
    pre-hooks; remove it with the returned handle."""
    return add_hook(forward_pre_hooks, hook, False)


def register_module_forward_hook(hook, *, with_kwargs=False):
    """hook(module, args, output) (with_kwargs: hook(module, args, kwargs, output)) -> None
    or a new output, after every module's forward and before its own hooks."""
    return add_hook(forward_hooks, hook, False, forward_hooks_with_kwargs, with_kwargs)


def any_hooks():
    return bool(forward_pre_hooks or forward_hooks)


def signature():
    """What a compiled call keys on: the hooks it traced in (a new one compiles again)."""
    return tuple(forward_pre_hooks), tuple(forward_hooks)
