"""torch.fx._symbolic_trace: where torch defines Tracer, symbolic_trace and wrap, and the
path generated code calls wrap by (`torch.fx._symbolic_trace.wrap("math_sqrt")`)."""
from .tracer import Tracer, symbolic_trace, wrap

__all__ = ["Tracer", "symbolic_trace", "wrap"]
