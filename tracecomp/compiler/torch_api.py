"""torch.compiler's functions, for code that calls them (tracecomp.compiler is that
namespace; set_stance is stance.py's). They load the compiler on first use, as
tracecomp.compile does.

tracecomp traces a compiled function's whole body into one graph; there are no graph
breaks. So a function marked `disable` runs eagerly when it is compiled itself, and is
traced like any other code when compiled code calls it (its numbers are the same; code
that cannot be traced says so by line, with `fallback='eager'` as the way out);
`allow_in_graph` and `assume_constant_result` leave a function as it is: tracing already
puts it in the graph, and computing its result every call keeps it right when it changes.
"""
import functools
import importlib

from .. import context
from .stance import set_stance  # noqa: F401  (torch.compiler.set_stance)

# torch.compile's backend names, as tracecomp runs them (api.compile translates them):
# the optimizing compiler is our native one for the tensors' device; the eager ones run
# the traced graph op by op
TORCH_BACKENDS = {"inductor": None, "eager": "interp", "aot_eager": "interp"}
# list_backends' debug-tagged names (torch leaves them out by default)
_DEBUG = ("aot_eager", "eager", "interp")


def compile(*args, **kwargs):
    """torch.compiler.compile: tracecomp.compile."""
    return importlib.import_module("tracecomp.compiler.api").compile(*args, **kwargs)


def reset():
    """torch.compiler.reset: every compiled function compiles again (_dynamo.reset)."""
    importlib.import_module("tracecomp._dynamo").reset()


def is_compiling():
    """Whether this code runs while compiled code is traced (True) or eagerly."""
    return context.current() is not None


is_dynamo_compiling = is_compiling


def disable(fn=None, recursive=True, *, reason=None):
    """fn, marked to run eagerly when compiled itself (tracecomp.compile(fn) returns it
    unchanged); called from compiled code, it is traced (see the module docstring). Used
    bare (@disable) or with options (@disable(reason=...))."""
    if fn is None:
        return functools.partial(disable, recursive=recursive, reason=reason)

    @functools.wraps(fn)
    def eager(*args, **kwargs):
        return fn(*args, **kwargs)
    eager._tracecomp_disabled = reason or True
    return eager


def allow_in_graph(fn):
    """fn unchanged: compiled code traces every call into its graph already."""
    return fn


def assume_constant_result(fn):
    """fn unchanged: its result is computed in the graph at every call, which is what a
    constant result would be, and stays right if it changes."""
    return fn


def list_backends(exclude_tags=("debug", "experimental")):
    """The backend names tracecomp.compile takes: its own (llvm, cuda; interp is a debug
    one) and torch's it runs (inductor; eager and aot_eager are debug ones)."""
    from ..codegen import registry
    names = set(registry.BACKENDS) | set(TORCH_BACKENDS)
    if any(type(tag) is str and tag == "debug" for tag in exclude_tags or ()):
        names -= set(_DEBUG)
    return sorted(names)
