"""The one error hierarchy of tracecomp.

Every error a user can see derives from TracecompError. Messages name the op, the
argument, the shapes and dtypes involved, what was expected and, where there is one, the
fix. Where torch raises a built-in type (RuntimeError, ValueError, IndexError) we derive
from it too, so `except RuntimeError` in code written for torch keeps working.
"""


class TracecompError(Exception):
    """Base class of every error tracecomp raises on purpose."""


class ShapeError(TracecompError, RuntimeError):
    """An op got operands whose shapes do not fit together."""


class DTypeError(TracecompError, RuntimeError):
    """An op got operands of a dtype it cannot take."""


class DTypeNotImplemented(TracecompError, NotImplementedError):
    """An op has no kernel for this dtype (torch: '"hypot_cpu" not implemented for 'Long'')."""


class AutogradError(TracecompError, RuntimeError):
    """backward() or grad() was asked for something the tape cannot give."""


class TraceError(TracecompError, RuntimeError):
    """Model code did something that cannot be recorded into a static graph."""


class IRError(TracecompError):
    """A graph broke one of the IR's invariants (raised by the verifier)."""


class LoweringError(TracecompError):
    """A backend cannot lower a node."""


class SerializationError(TracecompError, ValueError):
    """A saved file is corrupt, truncated or not a tracecomp file."""


class DataError(TracecompError, ValueError):
    """A dataset file (e.g. MNIST IDX) is malformed."""


def fmt_shape(shape) -> str:
    """Shapes in messages read like torch's: [4, 3]."""
    return "[" + ", ".join(str(d) for d in shape) + "]"
