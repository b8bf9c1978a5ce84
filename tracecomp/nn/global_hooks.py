"""Hooks for every module (torch.nn.modules.module's register_module_forward_pre_hook,
register_module_forward_hook and the backward ones, register_module_full_backward_hook,
_full_backward_pre_hook and the deprecated register_module_backward_hook), which debugging
and profiling code registers once instead of on each layer.

As in torch, they run before each module's own hooks of the same kind, and a forward
hook registered with_kwargs gets the call's kwargs. The tables are counted Registries
(structure.py): a compiled call, which traces the hooks into its graph, walks the modules
again after one is added or removed and compiles again (compiler/state_walk.py). Backward
hooks are refused while tracing (backward_hooks.py), so with one registered a compiled
model's submodules run as a graph break, with the hooks.
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
    return bool(forward_pre_hooks or forward_hooks or backward_pre_hooks or backward_hooks)


def signature():
    """What a compiled call keys on: the hooks it traced in, or the backward ones that made
    it a graph break (a new one compiles again)."""
    return (tuple(forward_pre_hooks), tuple(forward_hooks), tuple(backward_pre_hooks),
            tuple(backward_hooks))


# backward hooks for every module: torch keeps whether they are full ones once the first is
# registered (mixing kinds is an error, even after every handle is removed)
backward_pre_hooks = Registry()
backward_hooks = Registry()
_full_backward = [None]


def _add_backward_hook(hook, full):
    if _full_backward[0] is (not full):
        raise RuntimeError("Cannot use both regular backward hooks and full backward hooks as "
                           "a global Module hook. Please use only one of them.")
    _full_backward[0] = full
    return add_hook(backward_hooks, hook, False)


def register_module_full_backward_hook(hook):
    """hook(module, grad_input, grad_output) -> None or a new grad_input, for every module,
    before its own hooks (backward_hooks.py)."""
    return _add_backward_hook(hook, True)


def register_module_backward_hook(hook):
    """The deprecated non-full kind, for every module (backward_hooks.legacy)."""
    return _add_backward_hook(hook, False)


def register_module_full_backward_pre_hook(hook):
    """hook(module, grad_output) -> None or a new grad_output, for every module, before its
    own pre-hooks."""
    return add_hook(backward_pre_hooks, hook, False)


def any_backward_hooks():
    return bool(backward_hooks or backward_pre_hooks)


def backward_hooks_of(module):
    """(full hooks, non-full hooks, pre-hooks) a call of module runs: everyone's first, as
    torch's Module._get_backward_hooks and _get_backward_pre_hooks."""
    full, non_full = [], []
    (full if _full_backward[0] else non_full).extend(backward_hooks.values())
    if module._is_full_backward_hook is True:
        full.extend(module._backward_hooks.values())
    elif module._is_full_backward_hook is False:
        non_full.extend(module._backward_hooks.values())
    return full, non_full, [*backward_pre_hooks.values(), *module._backward_pre_hooks.values()]
