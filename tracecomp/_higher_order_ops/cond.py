"""torch._higher_order_ops.cond: torch.cond at its module path."""
from ..control_flow import cond

__all__ = ["cond"]
