"""torch._higher_order_ops.while_loop: torch.while_loop at its module path."""
from ..control_flow import while_loop

__all__ = ["while_loop"]
