"""Warnings about compiling again and again: a function's name as they show it, and the
recompile-limit warning with what to do about its reason."""
import warnings

from ..user_code import user_stacklevel
from .recompile_reasons import recompile_advice

REASON_SHOWN = 400      # characters of a recompile's reason in its warning


def function_name(fn):
    return getattr(fn, "__qualname__", repr(fn))


def recompiled(fn, compiles, limit, reason):
    """A compiled function compiled more often than its recompile_limit: say why this time.
    A reason may name whole modules and optimizers (a new model per call): its start says
    which, the debug log (TRACECOMP_DEBUG=1) has all of it."""
    short = reason if len(reason) <= REASON_SHOWN else \
        reason[:REASON_SHOWN] + " ... (TRACECOMP_DEBUG=1 logs all of it)"
    warnings.warn(f"tracecomp.compile: {function_name(fn)} recompiled {compiles} times "
                  f"(limit {limit}); this time because {short}. {recompile_advice(reason)}",
                  stacklevel=user_stacklevel())
