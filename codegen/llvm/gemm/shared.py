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

A compile that needs a library the process lacks asks for it with `prefetch` before it
compiles its own module, and the compile worker (a process: llvmlite runs every LLVM call
under one lock, so a thread of this process could not compile at the same time) builds it
meanwhile; `address` then waits for it, or builds here one the worker has not started.
Where a BLAS was found, a graph's products call the libraries through slots that its
second call fills (first_calls.py: the BLAS until then), so its link waits for none of
them; without a BLAS, the module needs their addresses when it is linked (`Imports`).
"""
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from llvmlite import ir

from .. import target
from ..runtime import cache, engine, split_compile
from . import dots, generated

_builds = {}        # (family, dtype, host target's name) -> its _Build
_lock = threading.Lock()        # guards _builds


def address(dtype, code, trans_a, trans_b):
    """The address of dtype's `code` ("generated" or "dots") for these transposes, for the
    host target (TRACECOMP_CPU_FEATURES included). Its library is compiled on first use
    (unless `prefetch` started it): one for the GEMMs that read B as stored, one for those
    that read B^T (whose transposing pack costs most of a library's compile: znver4, ~0.13 s
    for A and A^T, ~0.3 s more with B^T) and one for dots (~0.13 s; dots takes A @ B^T, so
    it has no transposes)."""
    with _lock:
        build = _build(dtype, code, trans_b)
    build.finish()
    return build.addresses[code, trans_a, trans_b]


def prefetch(variants):
    """Start building the libraries of `variants` ((dtype, code, trans_a, trans_b) each)
    that this process lacks, on a thread that hands them to the compile worker (runtime/
    split_compile.py) one at a time, while the caller compiles its graph; `address` then
    waits for one the worker has started and builds one it has not yet reached here. The
    MLP training step's first call (znver4, cache off): the GEMM library, dots and the
    graph's module took 0.18 + 0.14 + 0.19 s one after the other. Nothing is started
    where no worker may run (one CPU, TRACECOMP_COMPILE_WORKERS=0)."""
    if not split_compile.allowed():
        return
    waiting = []
    with _lock:
        for dtype, code, _, trans_b in variants:
            build = _build(dtype, code, trans_b)
            if build.state == "new" and build not in waiting:
                waiting.append(build)
    waiting.sort(key=lambda b: _COST_RANK.get(b.family, 0))   # the costliest to the worker
    if waiting:
        threading.Thread(target=_feed, args=(waiting,), daemon=True,
                         name="tracecomp-library-prefetch").start()


# which library the worker should take first (the others are left for the caller to build
# if it gets there before the worker does): the slowest to compile
_COST_RANK = {"gemm_tb": 0, "gemm": 1, "dots": 2}


def _feed(builds):
    for build in builds:
        if build.claim():
            build.run(elsewhere=True)


class _Build:
    """One library: built once, by whoever claims it first (a caller of `address`, or the
    prefetch thread for the worker); the others wait for it."""

    def __init__(self, family, dtype, code, trans_b):
        self.family, self.dtype, self.code, self.trans_b = family, dtype, code, trans_b
        self.state = "new"              # -> "running" -> "done" (or back to "new": failed)
        self.done = threading.Event()
        self.library = self.addresses = None
        self.by_worker = False

    def claim(self):
        with _lock:
            if self.state != "new":
                return False
            self.state = "running"
            self.done.clear()
            return True

    def finish(self):
        """Built here, or by whoever is building it; raises what a build here raises."""
        while True:
            if self.claim():
                self.run(elsewhere=False)
            self.done.wait()
            if self.state == "done":
                return

    def run(self, elsewhere):
        dtype, code, family = self.dtype, self.code, self.family
        variants = [("dots", False, True)] if code == "dots" else \
            [("generated", False, self.trans_b), ("generated", True, self.trans_b)]
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
            f"{cache.files_fingerprint([Path(generated.__file__).parent])}"
        try:
            # on a miss the worker is started before the IR is emitted (~65 ms of Python)
            library = cache.compile_recipe(
                recipe_text, emit, names, elsewhere=elsewhere,
                on_miss=split_compile.start_worker if elsewhere else None)
            # the Library is kept: its code lives as long as it does
            self.library = library
            self.addresses = {v: library.address(n) for v, n in zip(variants, names)}
            # compiled by the worker (not here, nor linked from the disk cache)
            self.by_worker = getattr(library, "compiled_elsewhere", False)
            self.state = "done"
        except BaseException:
            self.state = "new"          # a caller of `address` builds it again, and raises
            if not elsewhere:
                raise
        finally:
            self.done.set()


def _build(dtype, code, trans_b):
    """The library's _Build, made on first ask (the caller holds _lock)."""
    family = _family(code, trans_b)
    key = (family, dtype, target.host().name)
    if key not in _builds:
        _builds[key] = _Build(family, dtype, code, trans_b)
    return _builds[key]


def _after_fork():
    """A forked child has none of the parent's threads: a build one was running never ends
    there, so it starts again."""
    global _lock
    _lock = threading.Lock()
    for key, build in list(_builds.items()):
        if build.state != "done":
            del _builds[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class Imports(Mapping):
    """{symbol: address} for linking a graph's module: `fixed` ones (the BLAS's) and the
    shared `variants` ({symbol: (dtype, code, trans_a, trans_b)}), whose addresses are
    asked for (their libraries waited for) only when the link reads them, after the
    module's own LLVM work. `meanwhile`: other once-per-process code the graph needs next
    (the native pool's library), built here before waiting for the worker's libraries:
    the MLP training step's cold first call waited ~50 ms for the worker's GEMM library,
    then compiled the pool's 30 ms (znver3)."""

    def __init__(self, fixed, variants, meanwhile=()):
        self.fixed, self.variants = dict(fixed), dict(variants)
        self.meanwhile = meanwhile
        self.started = False

    def __getitem__(self, name):
        if name in self.fixed:
            return self.fixed[name]
        if not self.started:    # first the libraries the worker has not started, built here
            self.started = True
            with _lock:
                builds = [_build(dtype, code, trans_b)
                          for dtype, code, _, trans_b in self.variants.values()]
            for build in builds:
                if build.claim():
                    build.run(elsewhere=False)
            for make in self.meanwhile:
                make()
        return address(*self.variants[name])

    def __iter__(self):
        yield from self.fixed
        yield from (n for n in self.variants if n not in self.fixed)

    def __len__(self):
        return len(set(self.fixed) | set(self.variants))


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
