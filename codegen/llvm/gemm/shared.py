"""The generated GEMMs, compiled once per process and called by address from every graph's
module, as the BLAS is.

Emitted into each graph's module, the GEMM's micro-kernels were compiled again for every
graph: the MLP training step's cold compile went from 0.4-0.6 s to 1.6-2.0 s (znver4,
TRACECOMP_CACHE=0). Here the four variants of a dtype (generated.emit_gemms: A and B each
as stored or transposed, one set of micro-kernels) are one library, compiled on first use
(~0.37 s for float32 on znver4, once per process, or linked from the disk cache like any
module), and a graph's module declares the ones it calls and imports their addresses
(engine's `imports`, as blas.load_for_llvm's symbol is).

    fn = declare(module, "float32", trans_a=True, trans_b=False)    # a declaration, called
    imports[symbol("float32", True, False)] = functions("float32")[True, False][1]

The first compile that needs a library waits for it (~0.37 s cold: a prefetch on another
thread while the caller traced was tried and measured no faster, as llvmlite runs every LLVM
call under one process-wide lock, runtime/engine.py, and tracing a step is short).
"""
import threading

from llvmlite import ir

from .. import target
from ..runtime import cache, engine
from . import generated

_libraries = {}     # (dtype, the host target's name) -> (Library, {transposes: (name, address)})
_lock = threading.Lock()      # held while a library is built: a second caller waits for it


def functions(dtype):
    """{(trans_a, trans_b): (symbol name, address)} of dtype's GEMMs for the host target
    (TRACECOMP_CPU_FEATURES included), compiled on the first call."""
    key = (dtype, target.host().name)
    with _lock:
        if key not in _libraries:
            prefix = symbol(dtype, False, False)
            module = engine.new_module(prefix)
            fns = generated.emit_gemms(module, dtype, prefix)
            library = cache.compile_module(module, [f.name for f in fns.values()])
            _libraries[key] = library, {t: (f.name, library.address(f.name))
                                        for t, f in fns.items()}
        return _libraries[key][1]


def declare(module, dtype, trans_a, trans_b):
    """The GEMM for op(A) @ op(B) declared in `module` (`functions` gives its address)."""
    name = symbol(dtype, trans_a, trans_b)
    return module.globals.get(name) or ir.Function(module, generated.FUNCTION_TYPE, name)


def symbol(dtype, trans_a, trans_b):
    """The name dtype's GEMM for these transposes has in its library (known before it is
    built)."""
    return f"tc_gemm_{dtype}" + generated.variant_suffix(trans_a, trans_b)

