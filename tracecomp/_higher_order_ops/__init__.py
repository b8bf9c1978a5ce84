"""torch._higher_order_ops: the control-flow operators programs import from their torch
paths (torch._higher_order_ops.cond.cond, ...). They are tracecomp/control_flow.py's.
Importing each submodule first keeps the package's names the functions, as torch's."""
from .cond import cond
from .while_loop import while_loop

__all__ = ["cond", "while_loop"]
