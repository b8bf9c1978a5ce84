"""torch.autograd.grad_mode: the grad-mode switches, re-exported from tracecomp.grad_mode."""
from ..grad_mode import (  # noqa: F401
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .engine_flags import set_multithreading_enabled  # noqa: E402, F401  (torch's home too)
