"""What a trace saw the code do that the compiled calls will not repeat, warned once, at
the compile: globals or closure variables it assigns objects no call can assign again
(kept_values.py replays appends, stores and removed keys, and refuses other changes).
"""
import warnings

from ..user_code import user_line
from .recompile_reasons import recompile_advice

REASON_SHOWN = 400      # characters of a recompile's reason in its warning


def function_name(fn):
    return getattr(fn, "__qualname__", repr(fn))


def rebound(fn, names):
    """The traced code assigned globals or closure variables objects no call can assign
    again (a new list, a model): Python the compiled calls do not run again, so say so
    once, at the compile. (Tensors, numbers and strings it assigns are assigned again
    after every call: kept_values.KeptWatch.rebound.)"""
    if names:
        warnings.warn(
            f"tracecomp.compile: {function_name(fn)} assigns {', '.join(names)} while it is "
            f"traced{user_line()}: compiled calls do not run that Python again, so later "
            f"calls leave {', '.join(names)} as now, where each eager call assigns again. "
            f"Keep such bookkeeping outside the compiled function, or return the value",
            stacklevel=2)


def recompiled(fn, compiles, limit, reason):
    """A compiled function compiled more often than its recompile_limit: say why this time.
    A reason may name whole modules and optimizers (a new model per call): its start says
    which, the debug log (TRACECOMP_DEBUG=1) has all of it."""
    short = reason if len(reason) <= REASON_SHOWN else \
        reason[:REASON_SHOWN] + " ... (TRACECOMP_DEBUG=1 logs all of it)"
    warnings.warn(f"tracecomp.compile: {function_name(fn)} recompiled {compiles} times "
                  f"(limit {limit}); this time because {short}. {recompile_advice(reason)}",
                  stacklevel=6)
