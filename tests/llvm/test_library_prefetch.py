"""The shared GEMM and dots libraries built by the compile worker while the caller compiles
its graph (gemm/shared.py `prefetch`), and the worker that runs objects.py without tracecomp
(runtime/split_compile.py): the same object code as this process makes, a failed background
build redone here, nothing started where no worker may run."""
import os
import subprocess
import sys
import textwrap

import pytest

from tracecomp.codegen.llvm.gemm import shared
from tracecomp.codegen.llvm.runtime import engine, split_compile

needs_two_cpus = pytest.mark.skipif((os.cpu_count() or 1) < 2,
                                    reason="one CPU: no compile worker")

_MODULE = """define void @"double_it"(ptr %".1", i64 %".2")
{
entry:
  %"p" = getelementptr float, ptr %".1", i64 %".2"
  %"x" = load float, ptr %"p"
  %"y" = fmul float %"x", 2.0
  store float %"y", ptr %"p"
  ret void
}
"""


@needs_two_cpus
def test_the_worker_makes_the_object_this_process_makes(monkeypatch):
    monkeypatch.delenv("TRACECOMP_COMPILE_WORKERS", raising=False)
    done = split_compile.compile_elsewhere(_MODULE, ["double_it"], "_s1", 2)
    assert done is not None, "the worker did not answer"
    obj, optimized = done
    ref = engine.prepare(_MODULE, ["double_it"], "_s1", 2)
    assert obj == engine.emit_object(ref, 2)
    assert optimized == str(ref) and "double_it_s1" in optimized


_COLD = """
import os, numpy as np, tracecomp as tc
from tracecomp.codegen.llvm.gemm import shared
from tracecomp.codegen.llvm.runtime import split_compile
rng = np.random.default_rng(0)
x, w = rng.standard_normal((64, 300)).astype(np.float32), \\
    rng.standard_normal((100, 300)).astype(np.float32)
f = tc.compile(lambda x, w: ((x @ w.t()).relu().t() @ x, x @ w.t()))
for _ in range(2):      # the BLAS, then the libraries (the second call waits for them)
    g, h = f(tc.tensor(x), tc.tensor(w))
    np.testing.assert_allclose(h.numpy(), x @ w.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(g.numpy(), np.maximum(x @ w.T, 0).T @ x, rtol=1e-4, atol=1e-2)
builds = sorted(shared._builds.values(), key=lambda b: b.family)
print(" ".join(f"{b.family}:{b.state}:{int(b.by_worker)}" for b in builds),
      split_compile._Worker._one is not None)
"""


def _cold_process(**env):
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_COLD)], capture_output=True,
                         text=True, timeout=300,
                         env={**os.environ, "TRACECOMP_CACHE": "0", "TRACECOMP_GEMM": "",
                              **env})
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.split()


@needs_two_cpus
def test_a_cold_compile_has_the_worker_build_a_library_and_the_products_are_right():
    """A fresh process, cache off: x @ W^T (dots) and a transposed product (the generated
    GEMM, or the BLAS where the host's vectors are narrower) each need a library; the worker
    takes one while this process compiles the graph."""
    *builds, worker = _cold_process(TRACECOMP_COMPILE_WORKERS="")
    assert builds and all(":done:" in b for b in builds), builds
    assert worker == "True"
    assert any(b.endswith(":1") for b in builds), builds


def test_no_worker_no_prefetch_and_the_same_answers():
    *builds, worker = _cold_process(TRACECOMP_COMPILE_WORKERS="0")
    assert builds and all(b.endswith(":done:0") for b in builds), builds
    assert worker == "False"


def test_a_background_build_that_fails_is_built_again_by_the_caller(monkeypatch):
    """The worker's build raised: `address` builds the library here and returns its
    address (no error reaches the user from the background)."""
    build = shared._Build("dots", "float64", "dots", True)
    real = shared.cache.compile_recipe

    def failing_elsewhere(*args, elsewhere=False, **kwargs):
        if elsewhere:
            raise RuntimeError("the worker broke")
        return real(*args, **kwargs)
    monkeypatch.setattr(shared.cache, "compile_recipe", failing_elsewhere)
    assert build.claim()
    build.run(elsewhere=True)
    assert build.state == "new" and build.done.is_set()
    build.finish()
    assert build.state == "done" and not build.by_worker
    assert build.addresses[("dots", False, True)]


def test_a_forked_child_forgets_builds_its_parent_was_running(monkeypatch):
    running = shared._Build("dots", "float32", "dots", True)
    assert running.claim()
    monkeypatch.setitem(shared._builds, ("dots", "test", "host"), running)
    shared._after_fork()
    assert ("dots", "test", "host") not in shared._builds
    assert all(b.state == "done" for b in shared._builds.values())


def test_imports_read_fixed_symbols_and_resolve_shared_ones_when_read():
    variant = ("float32", "dots", False, True)
    name = shared.symbol(*variant)
    imports = shared.Imports({"sgemm_": 1234}, {name: variant})
    assert list(imports) == ["sgemm_", name] and len(imports) == 2
    assert imports["sgemm_"] == 1234
    assert dict(imports.items())[name] == shared.address(*variant) != 0
    with pytest.raises(KeyError):
        imports["nothing"]
