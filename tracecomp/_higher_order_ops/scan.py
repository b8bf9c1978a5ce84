"""torch._higher_order_ops.scan: scan at its module path."""
from ..control_flow_scan import scan

__all__ = ["scan"]
