"""Kernels one graph compiled, called by the graphs compiled after it in the same process.

A training step compiles twice: its first call, and its second, where the optimizer now has
state (SGD's momentum buffers, Adam's moments: torch.compile recompiles there too). The two
graphs share nearly every kernel: of the MLP step's 21 kernels the second graph adds 5 (the
updates that read momentum), yet its module was optimized whole again (~290 ms of LLVM on
znver4, as long as the first). So is a model compiled a second time (eval after train, a
second instance, a new batch size for the parts whose shapes did not change).

Each kernel is exported from the library that compiled it, under its graph's name for it,
and kept here by its structure (codegen/group_keys.py: equal keys emit the same text but
for the name), the host target and the TRACECOMP_* settings (as the disk cache keys code).
A later graph whose group has a kept structure declares the kernel and links to that
address instead of emitting and optimizing it again:

    found = kernel_reuse.found(keys)         # {structure: (library, exported name)}
    ... the module declares those kernels; imports map its names to their addresses ...
    kernel_reuse.keep(library, {structure: name})      # what this module defines

The library that calls into another holds it (`Library.uses`), so code is never freed
while something calls it; the table holds libraries weakly, so a freed graph's kernels are
forgotten and compiled again where needed.

Which kernels a graph imports is part of its disk-cache key (the backend adds it to the
recipe): a process that compiles the same graphs in the same order, as a second run of a
program does, finds each module's entry, and a graph met in another order is an entry of its
own.
"""
import threading
import weakref

from . import recipe
from .runtime import host_cpu

_kept = {}      # (target, structure) -> (weakref to the Library, its name there)
_lock = threading.Lock()


def _target():
    """What besides its structure decides a kernel's code."""
    return host_cpu.name(), host_cpu.feature_string(), tuple(sorted(recipe.environment().items()))


def found(structures):
    """{structure: (library, name)} for the structures among `structures` whose kernel a
    live library exports, compiled for this host target and these settings."""
    target = _target()
    out = {}
    with _lock:
        for structure in structures:
            kept = _kept.get((target, structure))
            library = kept and kept[0]()
            if library is not None:
                out[structure] = library, kept[1]
            elif kept:      # its library was freed
                del _kept[target, structure]
    return out


def keep(library, names):
    """Remember the kernels `library` exports: {structure: its name there}."""
    target, ref = _target(), weakref.ref(library)
    with _lock:
        for structure, name in names.items():
            _kept[target, structure] = ref, name


def forget():
    """Forget every kept kernel: the next graph compiles all of its own (tests that play a
    new process in this one)."""
    with _lock:
        _kept.clear()
