"""The environment variables the traced code reads (`os.environ["SCALE"]`, `os.getenv`,
`os.environ.get`, `"DEBUG" in os.environ`): guarded as the attributes a trace reads are
(value_reads.Guards), so a call after one changed, appeared or went away compiles again,
where it would have run the graph built with the old value.

While a trace runs, os.environ's item lookup (which get, getenv and `in` go through) is
watched (`watched`); a lookup from the user's code (not tracecomp's own TRACECOMP_DEBUG,
nor an installed library's) is recorded with its value (None when unset) as an entry of
ENVIRONMENT, whose `__dict__` is os.environ, so Guards compares it as it compares an
object's attribute.
"""
import _collections_abc
import os
import sys
import threading
from contextlib import contextmanager

from ..user_code import is_users

_ENVIRON_CLASS = type(os.environ)
_getitem = _ENVIRON_CLASS.__getitem__
# the interpreter's files a lookup passes through on its way from the user's code, by
# the names their frames give (frozen modules': "<frozen os>", not os.__file__)
_LOOKUP_FILES = frozenset((os.__file__, _collections_abc.__file__,
                           os.getenv.__code__.co_filename,
                           _collections_abc.Mapping.get.__code__.co_filename))


class _Environment:
    """os.environ as Guards reads an object's attributes: `__dict__` is the environment."""

    __slots__ = ()
    __dict__ = property(lambda self: os.environ)


_Environment.__name__ = "os.environ"     # as a recompile reason names it
ENVIRONMENT = _Environment()


def _users_lookup():
    """Whether the lookup running now (two frames up: the watched __getitem__'s caller)
    comes from the user's code."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename in _LOOKUP_FILES:
        frame = frame.f_back
    return frame is not None and is_users(frame.f_code)


@contextmanager
def watched(record):
    """Inside, each lookup of os.environ by the user's code in this thread calls
    record(key, value or None)."""
    thread = threading.get_ident()

    def lookup(self, key):
        value = None        # an unset one stays None: its KeyError goes on to the caller
        try:
            value = _getitem(self, key)
            return value
        finally:
            if threading.get_ident() == thread and _users_lookup():
                record(key, value)

    _ENVIRON_CLASS.__getitem__ = lookup
    try:
        yield
    finally:
        _ENVIRON_CLASS.__getitem__ = _getitem
