"""TRACECOMP_DEBUG: the compiler's and the backends' debug output, at levels 1 (cache hits,
recompiles) to 6 (assembly), to the `tracecomp` logger. A module of its own so that backends
log without importing the compiler that drives them."""
import logging
import os

log = logging.getLogger("tracecomp")


def debug_level():
    try:
        return int(os.environ.get("TRACECOMP_DEBUG", "0"))
    except ValueError:
        return 0


def emit(level, message):
    """Debug output at TRACECOMP_DEBUG >= level: to the `tracecomp` logger, and to stderr
    when nobody configured logging. `message` may be a function making the text, for texts
    that cost time to make (a graph of an unrolled RNN prints in seconds)."""
    if debug_level() >= level:
        if not log.handlers and not logging.getLogger().handlers:
            log.addHandler(logging.StreamHandler())
            log.setLevel(logging.INFO)
        log.info(message() if callable(message) else message)
