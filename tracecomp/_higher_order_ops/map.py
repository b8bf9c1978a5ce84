"""torch._higher_order_ops.map: map at its module path."""
from ..control_flow_scan import map  # noqa: A004 - torch's name

__all__ = ["map"]
