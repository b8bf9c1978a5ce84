"""The generated GEMMs and dots.py's products, compiled once per process and called by
address from every graph's module, as the BLAS is.

Emitted into each graph's module, the GEMM's micro-kernels were compiled again for every
graph: the MLP training step's cold compile went from 0.4-0.6 s to 1.6-2.0 s (znver4,
TRACECOMP_CACHE=0). Here the variants of a dtype (generated.emit_gemms: A and B each as
stored or transposed, one set of micro-kernels per library) and dots are compiled on first
use, once per process (or linked from the disk cache like any module), and a graph's module
declares the ones it calls and imports their addresses (engine's `imports`, as
blas.load_for_llvm's symbol is).

    fn = declare(module, "float32", "generated", True, False)     # a declaration, called
    imports[symbol("float32", "generated", True, False)] = \
        address("float32", "generated", True, False)

The first compile that needs a library waits for it (see `address`: a prefetch on another
thread while the caller traced was tried and measured no faster, as llvmlite runs every LLVM
call under one process-wide lock, runtime/engine.py, and tracing a step is short).
"""
import threading
from pathlib import Path

from llvmlite import ir

from .. import recipe, target
from ..runtime import cache, engine
from . import dots, generated

_libraries = {}     # (family, dtype, host target's name) -> (Library, {variant: address})
_lock = threading.Lock()      # held while a library is built: a second caller waits for it


def address(dtype, code, trans_a, trans_b):
    """The address of dtype's `code` ("generated" or "dots") for these transposes, for the
    host target (TRACECOMP_CPU_FEATURES included). Its library is compiled on first use:
    one for the GEMMs that read B as stored, one for those that read B^T (whose transposing
    pack costs most of a library's compile: znver4, ~0.13 s for A and A^T, ~0.3 s more
    with B^T) and one for dots (~0.13 s; dots takes A @ B^T, so it has no transposes)."""
    family = _family(code, trans_b)
    key = (family, dtype, target.host().name)
    with _lock:
        if key not in _libraries:
            variants = [("dots", False, True)] if code == "dots" else \
                [("generated", False, trans_b), ("generated", True, trans_b)]
            names = [symbol(dtype, *v) for v in variants]

            def emit():
                module = engine.new_module(names[0])
                if code == "dots":
                    dots.emit_dots(module, dtype, names[0])
                else:
                    generated.emit_gemms(module, dtype, symbol(dtype, "generated", False, False),
                                         [v[1:] for v in variants])
                return module
            # keyed by what decides the IR, so a warm start links the object without
            # emitting it (~14 ms of Python); the cache adds the CPU and its features
            recipe_text = f"{family} {names} tiles {generated.default_tile()} " \
                f"{dots.tile_shape()} sources " \
                f"{recipe.files_fingerprint([Path(generated.__file__).parent])}"
            library = cache.compile_recipe(recipe_text, emit, names)
            # the Library is kept: its code lives as long as it does
            _libraries[key] = library, {v: library.address(n) for v, n in zip(variants, names)}
        return _libraries[key][1][code, trans_a, trans_b]


def declare(module, dtype, code, trans_a, trans_b):
    """dtype's `code` for op(A) @ op(B) declared in `module` (`address` gives its address)."""
    name = symbol(dtype, code, trans_a, trans_b)
    return module.globals.get(name) or ir.Function(module, generated.FUNCTION_TYPE, name)


def symbol(dtype, code, trans_a, trans_b):
    """The name dtype's `code` for these transposes has in its library (known before it is
    built)."""
    if code == "dots":
        if trans_a or not trans_b:
            raise ValueError(f"dots computes A @ B^T, not {'A^T' if trans_a else 'A'} @ "
                             f"{'B^T' if trans_b else 'B'}")
        return f"tc_dots_{dtype}"
    return f"tc_gemm_{dtype}" + generated.variant_suffix(trans_a, trans_b)


def _family(code, trans_b):
    """Which library holds a code's function: dots, or the generated GEMMs of B or B^T."""
    return "dots" if code == "dots" else f"gemm{generated.variant_suffix(False, trans_b)}"
