"""Where the user's code is, for error messages: the innermost stack frame outside
tracecomp (and outside the interpreter's own files), and the TraceErrors that name its
line. Low in the import order (errors only), so the IR, the tracer and the compiler
driver can all raise them without importing each other.
"""
import os
import sys

from .errors import TraceError

_PKG_DIRS = None


def _package_dirs():
    global _PKG_DIRS
    if _PKG_DIRS is None:
        import importlib.util
        dirs = [os.path.dirname(os.path.abspath(__file__))]
        for sub in ("tracecomp.passes", "tracecomp.codegen"):
            spec = importlib.util.find_spec(sub)
            dirs.extend(os.path.abspath(p) for p in spec.submodule_search_locations)
        _PKG_DIRS = tuple(d + os.sep for d in dirs)
    return _PKG_DIRS


def user_frame():
    """The innermost stack frame that is the user's code: not tracecomp's, and not the
    interpreter's own (stdlib, runpy, a console-script launcher); None when there is none
    (e.g. a bare nn.Linear traced from the `tracecomp dump` command)."""
    frame = sys._getframe(1)
    while frame is not None:
        if is_users(frame.f_code):
            return frame
        frame = frame.f_back
    return None


def user_stacklevel():
    """The `stacklevel` that makes a warning raised by our caller name the user's line (the
    call into tracecomp), however deep in tracecomp the caller is; 1 when none is the user's."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        if is_users(frame.f_code):
            return level
        frame, level = frame.f_back, level + 1
    return 1


def is_users(code):
    """Whether a code object is the user's: not tracecomp's, nor the interpreter's or an
    installed package's."""
    name = code.co_filename
    ours = _NOT_USERS.get(name)
    if ours is None:
        ours = _NOT_USERS[name] = _not_users(name)
    return not ours


_NOT_USERS = {}     # a code object's file name -> whether it is ours or the interpreter's:
# a trace asks for every op it records, ~8 frames deep (abspath each time: ~1 ms a LeNet)


def _not_users(name):
    system = tuple({os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix,
                                                           sys.exec_prefix)})
    if name.startswith("<frozen "):     # importlib's and other frozen modules (abspath
        return True                     # would put the working directory in front)
    return os.path.abspath(name).startswith(_package_dirs() + system)


def user_line():
    """' at file:line (`code`)' for the user's innermost frame, or ''."""
    frame = user_frame()
    if frame is None:
        return ""
    import linecache
    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f" at {frame.f_code.co_filename}:{frame.f_lineno} (`{code}`)"


def value_error(what):
    """A TraceError for code that needs a traced tensor's values, naming the user's line."""
    return TraceError(
        f"{what}{user_line()}: compiled code is traced once with shapes only, so tensor values "
        f"are not known while tracing. Fix: keep value-dependent Python (.item(), "
        f"`if tensor:`, .numpy(), .tolist()) outside the compiled function, or express it "
        f"with tensor ops (tracecomp.where, masks, clamp) so it becomes part of the graph.")


def stale_error():
    return TraceError(
        f"compiled code read a tensor that missed an in-place update made through a view of "
        f"it (or through its base){user_line()}: traced values do not share memory, so it "
        f"would keep its old value. A view's update reaches its base through slices, "
        f"indexing by ints, transposes and permutes, expands, and reshapes that add or drop "
        f"dims of size 1; not through a reshape that merges or splits dims (it shares "
        f"memory only for some strides), nor when autograd records the update of an "
        f"input's view. Fix: update the tensor itself (x[...] = v, or an out-of-place op) "
        f"instead of a view of it.")
