"""The generated GEMMs, compiled once per process and called by address from every graph's
module, as the BLAS is.

Emitted into each graph's module, the GEMM's micro-kernels were compiled again for every
graph: the MLP training step's cold compile went from 0.4-0.6 s to 1.6-2.0 s (znver4,
TRACECOMP_CACHE=0). Here the variants of a dtype (generated.emit_gemms: A and B each as
stored or transposed, one set of micro-kernels per library) are compiled on first use, once
per process (or linked from the disk cache like any module), and a graph's module declares
the ones it calls and imports their addresses (engine's `imports`, as
blas.load_for_llvm's symbol is).

    fn = declare(module, "float32", trans_a=True, trans_b=False)    # a declaration, called
    imports[symbol("float32", True, False)] = address("float32", True, False)

The first compile that needs a library waits for it (see `address`: a prefetch on another
thread while the caller traced was tried and measured no faster, as llvmlite runs every LLVM
call under one process-wide lock, runtime/engine.py, and tracing a step is short).
"""
import threading
from pathlib import Path

from llvmlite import ir

from .. import recipe, target
from ..runtime import cache, engine
from . import generated

_libraries = {}     # (dtype, trans_b, the host target's name) -> (Library, {transposes: address})
_lock = threading.Lock()      # held while a library is built: a second caller waits for it


def address(dtype, trans_a, trans_b):
    """The address of dtype's GEMM for these transposes, for the host target
    (TRACECOMP_CPU_FEATURES included). Its library is compiled on first use: one for the
    GEMMs that read B as stored and one for those that read B^T, as B^T's transposing pack
    costs most of a library's compile (znver4: ~0.13 s for A and A^T, ~0.3 s more with
    B^T), and the BLAS or dots.py computes most B^T products (choice.py)."""
    key = (dtype, trans_b, target.host().name)
    with _lock:
        if key not in _libraries:
            variants = [(False, trans_b), (True, trans_b)]
            names = [symbol(dtype, *t) for t in variants]

            def emit():
                module = engine.new_module(symbol(dtype, False, trans_b))
                generated.emit_gemms(module, dtype, symbol(dtype, False, False), variants)
                return module
            # keyed by what decides the IR, so a warm start links the object without
            # emitting it (~14 ms of Python); the cache adds the CPU and its features
            recipe_text = f"generated GEMMs {names} tile {generated.default_tile()} " \
                f"sources {recipe.files_fingerprint([Path(generated.__file__).parent])}"
            library = cache.compile_recipe(recipe_text, emit, names)
            _libraries[key] = library, {t: library.address(n) for t, n in zip(variants, names)}
        return _libraries[key][1][trans_a, trans_b]


def declare(module, dtype, trans_a, trans_b):
    """The GEMM for op(A) @ op(B) declared in `module` (`address` gives its address)."""
    name = symbol(dtype, trans_a, trans_b)
    return module.globals.get(name) or ir.Function(module, generated.FUNCTION_TYPE, name)


def symbol(dtype, trans_a, trans_b):
    """The name dtype's GEMM for these transposes has in its library (known before it is
    built)."""
    return f"tc_gemm_{dtype}" + generated.variant_suffix(trans_a, trans_b)

