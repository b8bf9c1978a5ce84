"""torch._higher_order_ops.associative_scan: associative_scan at its module path."""
from ..control_flow_scan import associative_scan

__all__ = ["associative_scan"]
