"""Test-wide setup: every eager op checks its shape rule against its impl, and the graph
verifier runs after every compiler pass; compiled code is cached in a temporary directory
removed at exit, never in the user's ~/.cache; each test compiles its graphs as a new process
would, reusing no kernel an earlier test compiled. The `backend` fixture is every backend in
the registry."""
import os
import sys
import tempfile

os.environ.setdefault("TRACECOMP_CHECK_SHAPES", "1")
os.environ.setdefault("TRACECOMP_VERIFY", "1")
_cache = tempfile.TemporaryDirectory(prefix="tracecomp-test-cache-")  # removed at exit
os.environ.setdefault("TRACECOMP_CACHE_DIR", _cache.name)

import pytest  # noqa: E402  (after the environment above: tracecomp reads it on import)

from tracecomp import devices  # noqa: E402
from tracecomp.codegen import registry  # noqa: E402


@pytest.fixture(autouse=True)
def _cpu_build_outside_tests_cuda(request, monkeypatch):
    """Outside tests/cuda the machine looks like torch's CPU-only build: no CUDA backend is
    found or registered (tests/cuda runs the whole process on numba's CUDA simulator,
    which would otherwise answer tracecomp.cuda.is_available() everywhere)."""
    if "cuda" not in request.node.path.parent.parts[-1:]:
        monkeypatch.setattr(devices, "_BACKENDS", {})
        monkeypatch.setattr(devices, "DISCOVER", {})


@pytest.fixture(autouse=True)
def _no_kernels_from_earlier_tests():
    """Kernels compiled by an earlier test are not linked into this one's graphs
    (codegen/llvm/kernel_reuse.py): a test that plays a second process in this one (a warm
    start from the disk cache, a split module) meets the graphs that process would."""
    reuse = sys.modules.get("tracecomp.codegen.llvm.kernel_reuse")
    if reuse is not None:
        reuse.forget()


# cuda runs its own suite (tests/cuda), on numba's simulator where there is no GPU: there a
# Python thread per GPU thread makes the whole compiled suite too slow for CI
@pytest.fixture(params=sorted(set(registry.BACKENDS) - {"cuda"}))
def backend(request):
    """Each registered CPU backend by name: a test that takes `backend` runs on every one,
    so a new backend meets the whole compiled suite by registering."""
    return request.param
