"""Module's hook registration (a base class of Module): forward pre-hooks and hooks, full
backward pre-hooks and hooks, torch's deprecated non-full backward hook, and the
state_dict / load_state_dict hooks (which module_state.py runs).

Each register_* call puts the hook into one of the module's ordered registries under a
RemovableHandle's id, laid out as torch's: `_forward_pre_hooks[id]` is the hook itself (torch's
own nn.utils and programs look for theirs there: `isinstance(hook, WeightNorm)`), and the ids
of those that take kwargs are in `_forward_pre_hooks_with_kwargs`. Module._call_forward runs
the forward ones, backward_hooks.py the backward ones. As in torch, the full and the non-full
backward hooks share `_backward_hooks`, and `_is_full_backward_hook` says which kind a module
holds: None until the first one, and one module cannot take both.
"""
import functools
import weakref

from ..utils.hooks import RemovableHandle

_BOTH = ("Cannot use both regular backward hooks and full backward hooks on a single Module. "
         "Please use only one of them.")    # torch's words


def add_hook(hooks, entry, prepend, kwargs_table=None, with_kwargs=False):
    """Put `entry` into `hooks`; kwargs_table: the module's ids of the hooks that take kwargs,
    which gets this one's id when with_kwargs (and loses it when the handle removes it)."""
    handle = RemovableHandle(hooks, extra_dict=kwargs_table)
    hooks[handle.id] = entry
    if with_kwargs:
        kwargs_table[handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class _WrappedHook:
    """A load_state_dict pre-hook, given the module first when registered with_module
    (torch.nn.modules.module._WrappedHook; the module is held weakly)."""

    def __init__(self, hook, module=None):
        self.hook = hook
        functools.update_wrapper(self, hook)
        self.with_module = module is not None
        if module is not None:
            self.module = weakref.ref(module)

    def __call__(self, *args, **kwargs):
        if self.with_module:
            module = self.module()
            if module is None:
                raise RuntimeError("You are trying to call the hook of a dead Module!")
            return self.hook(module, *args, **kwargs)
        return self.hook(*args, **kwargs)


class ModuleHooks:
    # which kind `_backward_hooks` holds: None (none yet), True (full), False (non-full)
    _is_full_backward_hook = None

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args, run before forward."""
        return add_hook(self._forward_pre_hooks, hook, prepend,
                        self._forward_pre_hooks_with_kwargs, with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """hook(module, args, output) -> None or a new output, run after forward."""
        return add_hook(self._forward_hooks, hook, prepend,
                        self._forward_hooks_with_kwargs, with_kwargs)

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

    # --- state_dict and load_state_dict hooks (run by module_state.py) ------------------------
    def _register_state_dict_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) -> None or a new state_dict (taken
        only from the module state_dict() was called on), after the module's entries."""
        if getattr(hook, "_from_public_api", False):
            raise RuntimeError("Cannot register the same function as the state dict post hook "
                               "that was previously registered via "
                               "register_state_dict_post_hook")
        return add_hook(self._state_dict_hooks, hook, False)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) -> None, which may change the
        state_dict in place."""
        hook._from_public_api = True
        return add_hook(self._state_dict_hooks, hook, False)

    def register_state_dict_pre_hook(self, hook):
        """hook(module, prefix, keep_vars) -> None, before state_dict() collects."""
        return add_hook(self._state_dict_pre_hooks, hook, False)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        """hook([module,] state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) before the module loads its entries: it may rename or
        compute entries (legacy weight_norm's `weight_g` becomes `original0`)."""
        return add_hook(self._load_state_dict_pre_hooks,
                        _WrappedHook(hook, self if with_module else None), False)

    def register_load_state_dict_pre_hook(self, hook):
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys) -> None, after the module and its children load;
        it may change the missing and unexpected keys in place."""
        return add_hook(self._load_state_dict_post_hooks, hook, False)

