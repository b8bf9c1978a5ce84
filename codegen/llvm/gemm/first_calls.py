"""A graph's first call computes its products on the BLAS, so that its compile does not wait
for the generated GEMM and dots: a first tier, as a JIT's.

The generated GEMMs and dots are libraries compiled once per process and host (shared.py:
~0.5 s of LLVM for an MLP's, cached on disk after). A graph that calls them used to wait for
them at its link, so a first compile on a host paid for them on its critical path (the MLP
training step's cold first call: ~0.6 s, of which the graph's own module ~0.25 s). Here a
product that gemm/choice.py gives to the generated GEMM or dots, of a dtype a BLAS was found
for, is called through a slot of a table of the process's (`tc_gemm_slots`, linked by
address; one per host target, as the libraries are):

    fn = slots[i]
    if fn == null: the BLAS computes the product       (cblas_sgemm, on the calling thread)
    else:          fn(m, n, k, a, lda, b, ldb, c, ldc, acc)

The libraries are built meanwhile (shared.prefetch: by the compile worker). Each slot stays
null until some graph that calls that code comes to its *second* call (`fill`, from the
runner), which waits for the library if it is not built yet. So what computes a product
depends only on the program's order of calls, never on how fast the worker was: a first
call of a graph that no earlier graph's second call preceded takes the BLAS, from a cold
cache or a warm one alike, and every run of a program gives the same numbers. (BLAS and the
generated GEMM add a product's terms in different orders: results differ in the last bits.)

A slot costs a load and a branch per product call. Where no BLAS was found, or for a
dynamic graph (sized_segments.py), products call the libraries directly, as before.
"""
import ctypes
from typing import NamedTuple

from llvmlite import ir

from .. import target
from . import generated, shared

SYMBOL = "tc_gemm_slots"
DTYPES = ("float32", "float64")
# every shared code a product may call, in a fixed order: a slot's index is compiled into
# cached objects, so it must not change between processes
VARIANTS = tuple((dtype, *code) for dtype in DTYPES
                 for code in (("dots", False, True), ("generated", False, False),
                              ("generated", True, False), ("generated", False, True),
                              ("generated", True, True)))
_TABLES = {}        # the host target's name (TRACECOMP_CPU_FEATURES included) -> its slots
_FUNCTION = generated.FUNCTION_TYPE.as_pointer()    # llvmlite reads an indirect callee's type
_PTR = ir.PointerType()                             # from its pointer's pointee


class Tiered(NamedTuple):
    """What lower/entry.product_call is given for a product called through a slot."""
    table: ir.GlobalVariable    # the module's declaration of tc_gemm_slots
    index: int                  # this product's slot
    blas: object                # blas.load_for_llvm's symbol: the first tier


def declare(module, variant, blas_symbol):
    """A Tiered for `variant` ((dtype, code, trans_a, trans_b)) in `module`; the module then
    needs `imports()` at its link."""
    table = module.globals.get(SYMBOL)
    if table is None:
        table = ir.GlobalVariable(module, ir.ArrayType(_PTR, len(VARIANTS)), SYMBOL)
    return Tiered(table, VARIANTS.index(tuple(variant)), blas_symbol)


def _table():
    """The slots of the host target the process compiles for now: a library is built for
    one (shared.py), so code compiled for another never calls it."""
    name = target.host().name
    if name not in _TABLES:
        _TABLES[name] = (ctypes.c_void_p * len(VARIANTS))()
    return _TABLES[name]


def imports():
    """{symbol: address} that links a module's slot table to this process's."""
    return {SYMBOL: ctypes.addressof(_table())}


def load(builder, tiered):
    """The slot's function pointer (null until `fill`), loaded where the product is called."""
    at = builder.gep(tiered.table, [ir.Constant(ir.IntType(64), tiered.index)],
                     source_etype=_PTR)
    return builder.load(at, typ=_FUNCTION)


def fill(variants):
    """Point the slots of `variants` at their code, building (or waiting for) its library:
    before a graph's second call. Idempotent."""
    table = _table()
    for variant in variants:
        index = VARIANTS.index(tuple(variant))
        if not table[index]:
            table[index] = shared.address(*variant)


def filled(variant):
    """Whether products of `variant` now call its code (tests, dumps)."""
    return bool(_table()[VARIANTS.index(tuple(variant))])


def clear():
    """Empty every slot (tests: as in a new process; compiled graphs keep working, on the
    BLAS, until one of them fills the slots again)."""
    for table in _TABLES.values():
        for index in range(len(VARIANTS)):
            table[index] = None
