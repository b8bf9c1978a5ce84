"""Module's hook registration (a base class of Module): forward pre-hooks and hooks, full
backward pre-hooks and hooks, and torch's deprecated non-full backward hook.

Each register_* call puts the hook into one of the module's ordered registries under a
RemovableHandle's id; Module._call_forward runs the forward ones, backward_hooks.py the
backward ones. As in torch, the full and the non-full backward hooks share `_backward_hooks`,
and `_is_full_backward_hook` says which kind a module holds: None until the first one,
and one module cannot take both.
"""
from ..utils.hooks import RemovableHandle

_BOTH = ("Cannot use both regular backward hooks and full backward hooks on a single Module. "
         "Please use only one of them.")    # torch's words


def add_hook(hooks, entry, prepend):
    handle = RemovableHandle(hooks)
    hooks[handle.id] = entry
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class ModuleHooks:
    # which kind `_backward_hooks` holds: None (none yet), True (full), False (non-full)
    _is_full_backward_hook = None

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args, run before forward."""
        return add_hook(self._forward_pre_hooks, (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """hook(module, args, output) -> None or a new output, run after forward."""
        return add_hook(self._forward_hooks, (hook, with_kwargs), prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) -> None or a new grad_output, when the gradients of
        the module's outputs are known (backward_hooks.py)."""
        return add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or a new grad_input, when the
        gradients of the module's positional inputs are known (backward_hooks.py)."""
        if self._is_full_backward_hook is False:
            raise RuntimeError(_BOTH)
        object.__setattr__(self, "_is_full_backward_hook", True)
        return add_hook(self._backward_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        """torch's deprecated non-full hook: hook(module, grad_input, grad_output) on the
        grad_fn of the module's first output, so grad_input holds the gradients of that
        node's inputs (a Conv2d's: input, weight, bias; a ReLU's: its input), whatever the
        module's own inputs are (backward_hooks.legacy)."""
        if self._is_full_backward_hook is True:
            raise RuntimeError(_BOTH)
        object.__setattr__(self, "_is_full_backward_hook", False)
        return add_hook(self._backward_hooks, hook, False)
