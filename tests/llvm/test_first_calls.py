"""A graph's first call computes its products on the BLAS while the generated GEMM and dots
are built (codegen/llvm/gemm/first_calls.py): each product calls through a slot, filled
before a graph's second call, so what computes a product depends on the order of calls
only, never on how soon a library was ready; the slot table survives a split compile, and
a program that ends while a library is still being built ends cleanly."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm.gemm import blas, first_calls, shared
from tracecomp.codegen.llvm.runtime import host_cpu, objects, split_compile

needs_blas = pytest.mark.skipif(blas.find_gemm("float32") is None, reason="no BLAS found")
DOTS = ("float32", "dots", False, True)     # x @ W^T
_RNG = np.random.default_rng(0)
X = _RNG.standard_normal((64, 784)).astype(np.float32)
W = _RNG.standard_normal((128, 784)).astype(np.float32)
WANT = X.astype(np.float64) @ W.T.astype(np.float64)


@pytest.fixture
def empty_slots(monkeypatch):
    """Slots as in a new process; dots chosen for x @ W^T on every host."""
    monkeypatch.setenv("TRACECOMP_GEMM", "dots")
    first_calls.clear()
    yield
    first_calls.clear()


def _product():
    return tc.compile(lambda x, w: x @ w.t())


@needs_blas
def test_the_first_call_takes_the_blas_and_the_second_the_library(empty_slots):
    f = _product()
    first = f(tc.tensor(X), tc.tensor(W)).numpy()
    assert not first_calls.filled(DOTS)
    second = f(tc.tensor(X), tc.tensor(W)).numpy()
    assert first_calls.filled(DOTS)
    assert first_calls._table()[first_calls.VARIANTS.index(DOTS)] == shared.address(*DOTS)
    for got in (first, second):
        np.testing.assert_allclose(got, WANT, rtol=1e-4, atol=1e-3)
    assert "dots (dot products along K), reading B^T in place (the BLAS on first calls" \
        in f.fusion_log["forward"]


@needs_blas
def test_the_numbers_follow_the_order_of_calls_not_the_librarys_readiness(empty_slots):
    """Built and linked in this process by the first graph's second call, the library is
    ready when a second graph starts: its first call still takes the BLAS (a cold and a
    warm run of a program give the same numbers)."""
    f = _product()
    cold = [f(tc.tensor(X), tc.tensor(W)).numpy() for _ in range(2)]
    assert not np.array_equal(cold[0], cold[1])     # the BLAS and dots add in other orders
    first_calls.clear()
    g = tc.compile(lambda x, w: x.matmul(w.t()))    # another graph, the same product
    warm = [g(tc.tensor(X), tc.tensor(W)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(warm[0], cold[0])
    np.testing.assert_array_equal(warm[1], cold[1])


def test_without_a_blas_the_products_call_the_library_directly(monkeypatch, empty_slots):
    monkeypatch.setenv("TRACECOMP_BLAS", "none")
    blas.reset()
    try:
        f = _product()
        np.testing.assert_allclose(f(tc.tensor(X), tc.tensor(W)).numpy(), WANT, rtol=1e-4,
                                   atol=1e-3)
        text = "\n".join(f.llvm_ir.values())
        assert first_calls.SYMBOL not in text and shared.symbol(*DOTS) in text
        assert "first calls" not in f.fusion_log["forward"]
    finally:
        monkeypatch.delenv("TRACECOMP_BLAS", raising=False)
        blas.reset()


_SPLIT = """@"tc_gemm_slots" = external global [10 x ptr]

define internal void @"k1"(ptr %".1")
{
entry:
  %"f" = load ptr, ptr @"tc_gemm_slots"
  store ptr %"f", ptr %".1"
  ret void
}

define internal void @"k2"(ptr %".1")
{
entry:
  %"p" = getelementptr ptr, ptr @"tc_gemm_slots", i64 1
  %"f" = load ptr, ptr %"p"
  store ptr %"f", ptr %".1"
  ret void
}

define void @"entry"(ptr %".1")
{
entry:
  call void @"k1"(ptr %".1")
  call void @"k2"(ptr %".1")
  ret void
}
"""


def test_a_split_module_declares_the_slot_table_in_every_part():
    parts = split_compile.split(_SPLIT, ["entry"])
    assert parts is not None and len(parts) == 3
    for part in parts:
        assert '@"tc_gemm_slots" = external global [10 x ptr]' in part
        objects.parse(part, host_cpu.name(), host_cpu.feature_string())    # it stands alone


def test_a_worker_whose_parent_is_gone_ends_quietly(capfd):
    """The parent ends while the worker compiles a library it no longer needs: no
    BrokenPipeError traceback on the program's terminal (the worker's stderr is ours)."""
    worker = split_compile._Worker()
    worker.process.stdout.close()           # gone before the answer comes
    defined = _SPLIT.replace("external global [10 x ptr]", "global [10 x ptr] zeroinitializer")
    assert worker.send(defined, ["entry"], "", 2)
    worker.process.stdin.close()
    assert worker.process.wait(timeout=120) == 0
    assert capfd.readouterr().err == ""


_ENDS_EARLY = """
import time
import numpy as np, tracecomp as tc
x, w = np.ones((64, 300), np.float32), np.ones((100, 300), np.float32)
f = tc.compile(lambda x, w: ((x @ w.t()).t() @ x, x @ w.t()))    # two libraries, one by one
print(f(tc.tensor(x), tc.tensor(w))[1].numpy()[0, 0])
from tracecomp.codegen.llvm.runtime.split_compile import _Worker
while _Worker._one is None or not _Worker._one.busy:     # until the worker has a library
    time.sleep(0.001)
"""


@needs_blas
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: no compile worker")
def test_a_program_that_ends_after_one_call_ends_cleanly():
    """It ends when the worker has taken a library to build (a thread of its own waits
    to link it): no error, nothing on stderr. (A worker whose answer finds its parent gone:
    the test above.)"""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_ENDS_EARLY)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TRACECOMP_CACHE": "0", "TRACECOMP_GEMM": "dots",
                              "TRACECOMP_COMPILE_WORKERS": ""})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["300.0"] and run.stderr == ""
