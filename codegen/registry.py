"""The backend registry: compile() looks backends up here by name, so a new backend
plugs in with one `register` call and no change to the frontend.

A backend is a function `compile_graph(graph, updates=None) -> runner`, where
`runner(list of numpy arrays, one per graph input) -> list of numpy arrays, one per output`.
`updates` ({output position: input position}) names the outputs that the caller writes back
into an input's tensor (a parameter's update): a backend may compute such an output in the
input's array itself (the llvm one does where that is safe: passes/donation.py).
"""
from ..errors import LoweringError

BACKENDS = {}


def register(name, loader):
    """loader() -> compile_graph; called on first use, so importing tracecomp never pulls
    in a backend's heavy dependencies (llvmlite, numba)."""
    BACKENDS[name] = loader


def get(name):
    if name not in BACKENDS:
        raise LoweringError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name]()


def _interp():
    from .interp import compile_graph
    return compile_graph


def _llvm():
    from .llvm.runtime import engine
    engine.start_jit()      # meanwhile: the backend's ~40 modules import in ~12 ms
    from .llvm.backend import compile_graph
    return compile_graph


def _cuda():
    from .cuda.backend import compile_graph
    return compile_graph


register("interp", _interp)
register("llvm", _llvm)
register("cuda", _cuda)
