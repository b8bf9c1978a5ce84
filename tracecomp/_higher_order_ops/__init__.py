"""torch._higher_order_ops: the control-flow operators programs import from their torch
paths (torch._higher_order_ops.cond.cond, ...). They are tracecomp/control_flow.py's.
Importing each submodule first keeps the package's names the functions, as torch's."""
from .associative_scan import associative_scan
from .cond import cond
from .map import map  # noqa: A004 - torch's name
from .scan import scan
from .while_loop import while_loop

__all__ = ["associative_scan", "cond", "map", "scan", "while_loop"]
