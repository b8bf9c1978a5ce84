"""torch.nn.modules.module's path to Module (tracecomp defines it in tracecomp.nn.module)."""
from ..module import Module

__all__ = ["Module"]
