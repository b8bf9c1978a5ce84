"""TRACECOMP_DEBUG: the compiler's and the backends' debug output, at levels 1 (cache hits,
recompiles) to 6 (assembly), to the `tracecomp` logger; without it, the level that
_logging.set_logs chose. A module of its own so that backends log without importing the
compiler that drives them."""
import logging
import os

log = logging.getLogger("tracecomp")


_set = None     # the level _logging.set_logs chose, where TRACECOMP_DEBUG is not set


def debug_level():
    text = os.environ.get("TRACECOMP_DEBUG")
    if text is None:
        return _set or 0
    try:
        return int(text)
    except ValueError:
        return 0


def set_level(level):
    """The level to use while TRACECOMP_DEBUG is unset (None: 0), which takes precedence
    when set (as TORCH_LOGS does over torch._logging.set_logs)."""
    global _set
    _set = level


def emit(level, message):
    """Debug output at TRACECOMP_DEBUG >= level: to the `tracecomp` logger, and to stderr
    when nobody configured logging. `message` may be a function making the text, for texts
    that cost time to make (a graph of an unrolled RNN prints in seconds)."""
    if debug_level() >= level:
        if not log.handlers and not logging.getLogger().handlers:
            log.addHandler(logging.StreamHandler())
            log.setLevel(logging.INFO)
        log.info(message() if callable(message) else message)
