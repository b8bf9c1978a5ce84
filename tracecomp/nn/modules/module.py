"""torch.nn.modules.module's path to Module (tracecomp defines it in tracecomp.nn.module)
and to the hooks every module runs (nn/global_hooks.py)."""
from ..global_hooks import register_module_forward_hook, register_module_forward_pre_hook
from ..module import Module

__all__ = ["Module", "register_module_forward_hook", "register_module_forward_pre_hook"]
