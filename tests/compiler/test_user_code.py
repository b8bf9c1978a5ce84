"""Which code is the user's (tracecomp/user_code.py): the trace's profile hook scans each
function of the user's it sees start for streams and stored-to containers, and error
messages point at the user's innermost line, so the interpreter's own frozen modules
(importlib, run by an import inside a trace) must not count as the user's."""
import importlib._bootstrap
import importlib._bootstrap_external

import tracecomp
from tracecomp.user_code import is_users


def test_frozen_importlib_is_not_users():
    # their file names are "<frozen importlib._bootstrap>": abspath would prepend the
    # working directory and hide the prefix
    for code in (importlib._bootstrap._find_and_load.__code__,
                 importlib._bootstrap_external.SourceFileLoader.get_code.__code__):
        assert code.co_filename.startswith("<frozen ")
        assert not is_users(code)


def test_users_and_tracecomps_code():
    assert is_users(test_users_and_tracecomps_code.__code__)
    assert not is_users(tracecomp.compile.__code__)
    assert is_users(compile("x = 1", "<string>", "exec"))     # exec'd, notebook cells
