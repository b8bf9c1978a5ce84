"""Optimizer hooks, as torch.optim has them: step pre/post hooks (per optimizer and global),
state_dict pre/post hooks and load_state_dict pre/post hooks.

`with_step_hooks` wraps every optimizer class's `step` (Optimizer.__init_subclass__ applies
it), so an optimizer that defines its own step (LBFGS, SparseAdam) runs the hooks too.
"""
import functools
from collections import OrderedDict
from itertools import chain

from ..utils.hooks import RemovableHandle

_global_pre_hooks = OrderedDict()
_global_post_hooks = OrderedDict()
HOOK_TABLES = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
               "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
               "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks")


def _register(table, hook, prepend=False):
    handle = RemovableHandle(table)
    table[handle.id] = hook
    if prepend:
        table.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook):
    """hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs), before every step."""
    return _register(_global_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """hook(optimizer, args, kwargs) -> None, after every optimizer's step."""
    return _register(_global_post_hooks, hook)


# the optimizers whose hooked step runs now, by id (a subclass's step that calls its base
# class's runs the hooks once). Not a flag on the optimizer: a step compiled with the code
# around it would store that attribute on a user's optimizer class, which compiled calls
# refuse to store once per trace (compiler/object_stores.py)
_IN_STEP = set()


def with_step_hooks(step):
    """step wrapped to run the pre hooks (which may replace its arguments) and post hooks.
    A step that calls its base class's step runs the hooks once, not twice."""
    if getattr(step, "hooked", False):
        return step

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        own_pre = self.__dict__.get("_optimizer_step_pre_hooks")
        # own_pre None: Optimizer.__init__ never ran (alphadl's Lookahead sets its fields
        # itself), and torch wraps a class's step in that __init__: no hooks run there
        if id(self) in _IN_STEP or own_pre is None:
            return step(self, *args, **kwargs)
        args = (self, *args)
        for pre_hook in chain(_global_pre_hooks.values(), own_pre.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{step} must return None or a tuple of (new_args, "
                                       f"new_kwargs), but got {result}.")
                args, kwargs = result
        _IN_STEP.add(id(self))
        try:
            out = step(*args, **kwargs)
        finally:
            _IN_STEP.discard(id(self))
        for post_hook in chain(self._optimizer_step_post_hooks.values(),
                               _global_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


class HookMixin:
    """The register_* methods of torch.optim.Optimizer."""

    def _init_hooks(self):
        for name in HOOK_TABLES:
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())

    def register_step_pre_hook(self, hook):
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        return _register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        """hook(optimizer) -> None, before state_dict() packs the state."""
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        """hook(optimizer, state_dict) -> state_dict or None, on the packed state."""
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        """hook(optimizer, state_dict) -> state_dict or None, before loading."""
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        """hook(optimizer) -> None, after loading."""
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)
