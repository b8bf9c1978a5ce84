"""torch.nn.modules.module's path to Module (tracecomp defines it in tracecomp.nn.module)
and to the hooks every module runs (nn/global_hooks.py, nn/registration_hooks.py)."""
from ..global_hooks import (
                            register_module_backward_hook,
                            register_module_forward_hook,
                            register_module_forward_pre_hook,
                            register_module_full_backward_hook,
                            register_module_full_backward_pre_hook,
)
from ..module import Module
from ..registration_hooks import (
                            register_module_buffer_registration_hook,
                            register_module_module_registration_hook,
                            register_module_parameter_registration_hook,
)

__all__ = ["Module", "register_module_backward_hook", "register_module_buffer_registration_hook",
           "register_module_forward_hook", "register_module_forward_pre_hook",
           "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
           "register_module_module_registration_hook",
           "register_module_parameter_registration_hook"]
