"""Split kernels on native worker threads (codegen/llvm/runtime/native_pool.py), and large
products split into blocks of C over them with the BLAS on one thread per piece
(parallel.gemm_split, serial_blas_begin/end; lower/entry.py's `_gemm_blocks`)."""
import ctypes
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from llvmlite import ir

import tracecomp as tc
from tracecomp.codegen.llvm import target
from tracecomp.codegen.llvm.gemm import blas
from tracecomp.codegen.llvm.runtime import cache, host_cpu, native_pool, parallel

needs_pool = pytest.mark.skipif(not native_pool.available(),
                                reason="no native pool on this platform")
needs_blas = pytest.mark.skipif(blas.find_gemm("float32") is None, reason="no BLAS found")
I64, PTR = ir.IntType(64), ir.PointerType()


def counting_kernel():
    """The address of `void k(ptr slots, i64 lo, i64 hi)`: out[i] += 1 over [lo, hi), out
    being slots[0] (int64), so an element counted twice or never shows."""
    module = ir.Module("count")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]), "count")
    slots, lo, hi = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    out = b.load(slots, typ=PTR)
    head, body, end = (fn.append_basic_block(n) for n in ("head", "body", "end"))
    start = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(lo, start)
    b.cbranch(b.icmp_unsigned("<", i, hi), body, end)
    b.position_at_end(body)
    at = b.gep(out, [i], source_etype=I64)
    b.store(b.add(b.load(at, typ=I64), ir.Constant(I64, 1)), at)
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), body)
    b.branch(head)
    b.position_at_end(end)
    b.ret_void()
    lib = cache.compile_module(module, ["count"])
    return lib, lib.address("count")


@needs_pool
def test_every_piece_runs_once_whoever_claims_it():
    lib, address = counting_kernel()
    pool = native_pool.NativePool()
    pool.grow(3)                        # more workers than CPUs: claims race harder
    try:
        for n, pieces in [(1, 1), (10, 3), (7, 7), (1000, 8), (100003, 13)]:
            out = np.zeros(n, np.int64)
            slots = (ctypes.c_void_p * 1)(out.ctypes.data)
            for _ in range(100):
                pool.run(address, ctypes.addressof(slots), n, pieces)
            np.testing.assert_array_equal(out, np.full(n, 100))
    finally:
        pool.close()
    assert not pool.threads


@needs_pool
def test_a_job_after_the_workers_went_to_sleep_is_still_taken():
    lib, address = counting_kernel()
    pool = native_pool.NativePool()
    pool.grow(1)
    try:
        out = np.zeros(64, np.int64)
        slots = (ctypes.c_void_p * 1)(out.ctypes.data)
        for _ in range(5):
            threading.Event().wait(0.02)      # far past the worker's poll: it sleeps
            pool.run(address, ctypes.addressof(slots), 64, 64)
        np.testing.assert_array_equal(out, np.full(64, 5))
    finally:
        pool.close()


def test_the_poll_lasts_poll_seconds_of_this_cpus_pause():
    """The worker's poll counts `pause`s, whose length differs by CPU (~25 ns on Zen 4, 9.5
    on an Intel Xeon): the pool times them once and polls for POLL_SECONDS."""
    assert native_pool.spins_for(25e-9) == 8000
    assert native_pool.spins_for(1e-8) == 20000
    assert native_pool.spins_for(0.0) == native_pool.SPIN_RANGE[1]
    assert native_pool.spins_for(1.0) == native_pool.SPIN_RANGE[0]


@needs_pool
def test_the_pool_keeps_the_timed_poll_in_its_state(monkeypatch):
    """poll_spins takes the fastest of its timed rounds (a clock reading 2000 pauses as
    40, 20 and 30 us: 10 ns each), and a new pool's state holds that count."""
    ticks = iter([0.0, 40e-6, 1.0, 1.0 + 20e-6, 2.0, 2.0 + 30e-6] * 2)
    monkeypatch.setattr(native_pool, "_SPINS", [])
    monkeypatch.setattr(native_pool, "PAUSES_TIMED", 2000)
    monkeypatch.setattr(native_pool.time, "perf_counter", lambda: next(ticks))
    assert native_pool.poll_spins() == native_pool.spins_for(1e-8) == 20000
    monkeypatch.undo()
    monkeypatch.setattr(native_pool, "_SPINS", [12345])
    pool = native_pool.NativePool()
    try:
        assert ctypes.c_int64.from_address(pool.state + native_pool.SPINS).value == 12345
        lib, address = counting_kernel()
        out = np.zeros(64, np.int64)
        slots = (ctypes.c_void_p * 1)(out.ctypes.data)
        pool.grow(1)
        for _ in range(3):
            pool.run(address, ctypes.addressof(slots), 64, 8)
        np.testing.assert_array_equal(out, np.full(64, 3))
    finally:
        pool.close()


@pytest.fixture
def split_products(monkeypatch):
    monkeypatch.setattr(parallel, "SPLIT_WORK", 1)
    monkeypatch.setenv("TRACECOMP_THREADS", "2")


PRODUCTS = {                            # (m, k, n), which side of C is cut
    "columns": (6, 25, 1000),
    "rows": (300, 40, 70),
    "one block left over": (5, 8, 130),
}


@needs_blas
@pytest.mark.parametrize("code", ["blas", "generated"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposes", ["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("shape", list(PRODUCTS), ids=list(PRODUCTS))
def test_split_products_match_the_float64_product(split_products, monkeypatch, shape,
                                                  transposes, dtype, code):
    monkeypatch.setenv("TRACECOMP_GEMM", code)      # each block by the BLAS, or generated
    m, k, n = PRODUCTS[shape]
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m) if transposes[0] == "t" else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transposes[1] == "t" else (k, n)).astype(dtype)

    def product(a, b):
        return (a.T if transposes[0] == "t" else a) @ (b.T if transposes[1] == "t" else b)
    f = tc.compile(product)
    got = f(tc.tensor(a), tc.tensor(b)).numpy()
    want = product(a.astype(np.float64), b.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    axis = "columns" if n >= m else "rows"
    assert "split over threads in" in f.fusion_log["forward"]
    assert f" {axis}" in f.fusion_log["forward"].split("split over threads in")[1]


def test_what_products_are_split():
    graph_groups = {}
    for (m, k, n) in [(64, 784, 256), (64, 10, 10), (4, 4096, 4096), (2048, 64, 32)]:
        x, w = tc.randn(m, k), tc.randn(k, n)
        f = tc.compile(lambda x, w: x @ w)
        f(x, w)
        graph_groups[(m, k, n)] = f.fusion_log["forward"]
    assert "split over threads" in graph_groups[(64, 784, 256)]        # 12.8M multiply-adds
    assert "split over threads" not in graph_groups[(64, 10, 10)]      # far below the threshold
    # the longer side of C is cut, in blocks of at least GEMM_BLOCK
    assert "columns" in graph_groups[(4, 4096, 4096)].split("split over threads")[1]
    assert "rows" in graph_groups[(2048, 64, 32)].split("split over threads")[1]


def _split_of(m, k, n, a_transposed=False):
    from tracecomp.passes import fusion
    from tracecomp.tracing.tracer import trace
    a = tc.randn(k, m) if a_transposed else tc.randn(m, k)
    g = trace((lambda a, b: a.t() @ b) if a_transposed else (lambda a, b: a @ b), a,
              tc.randn(k, n))
    product = next(grp for grp in fusion.run(g, target.host()).groups if grp.kind == "matmul")
    return parallel.gemm_split(product)


def test_a_weight_gradient_is_split_by_rows_as_its_update_is(monkeypatch):
    """dW = dY^T @ x (256 x 784 over a batch of 64): by rows, as the elementwise update
    that reads it next, while x fits in half an L2; by the longer side once it does not."""
    monkeypatch.setattr(host_cpu, "l2_bytes", lambda: 1 << 20)
    assert _split_of(256, 64, 784, a_transposed=True)[0] == 0
    assert _split_of(256, 64, 256, a_transposed=True)[0] == 0
    assert _split_of(64, 784, 256)[0] == 1         # too few rows for two blocks
    monkeypatch.setattr(host_cpu, "l2_bytes", lambda: 256 << 10)    # x: 196 KB > 128 KB
    assert _split_of(256, 64, 784, a_transposed=True)[0] == 1


def test_the_l2_size_is_the_one_the_c_library_reports():
    try:
        told = int(subprocess.run(["getconf", "LEVEL2_CACHE_SIZE"], capture_output=True,
                                  text=True, timeout=10).stdout.strip() or 0)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        told = 0
    if told <= 0 or not os.path.isdir(host_cpu.CACHES):
        pytest.skip("no L2 size from getconf or sysfs here")
    assert host_cpu.l2_bytes() == told


@needs_blas
def test_the_blas_runs_on_one_thread_inside_a_compiled_call_only():
    get = parallel._blas_threads()[0]
    before = get()
    outer = parallel.threads()
    parallel.serial_blas_begin()
    try:
        assert get() == 1
        assert parallel.threads() == outer      # the knob still reads the user's count
        parallel.serial_blas_begin()            # nested (or another thread's) call
        parallel.serial_blas_end()
        assert get() == 1
    finally:
        parallel.serial_blas_end()
    assert get() == before
    f = tc.compile(lambda x, w: tc.relu(x @ w))
    f(tc.randn(64, 300), tc.randn(300, 200))
    assert get() == before


def _child_product(queue):
    x, w = np.ones((64, 512), np.float32), np.ones((512, 256), np.float32)
    f = tc.compile(lambda x, w: x @ w)
    queue.put(float(f(tc.tensor(x), tc.tensor(w)).numpy().max()))


@needs_pool
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_splits_on_workers_of_its_own(split_products):
    x, w = np.ones((64, 512), np.float32), np.ones((512, 256), np.float32)
    tc.compile(lambda x, w: x @ w)(tc.tensor(x), tc.tensor(w))       # the parent's workers
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_product, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == 512.0


@needs_pool
def test_a_process_with_native_workers_exits_cleanly():
    code = textwrap.dedent("""
        import numpy as np, tracecomp as tc
        from tracecomp.codegen.llvm.runtime import parallel
        parallel.KERNEL_SPLIT_WORK = 1
        f = tc.compile(lambda x: (x * 2.0).exp())
        print(float(f(tc.tensor(np.zeros(4096, np.float32))).numpy().sum()))
        print(len(parallel.pool.native.threads) if parallel.pool.native else "none")
    """)
    env = {**os.environ, "TRACECOMP_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    workers = min(2, parallel._cpus()) - 1      # the caller is the other thread
    assert done.stdout.split() == ["4096.0", str(workers)]
    assert done.stderr == ""


def test_the_kernel_profile_times_every_kernel_and_product(monkeypatch, split_products):
    monkeypatch.setenv("TRACECOMP_PROFILE", "1")
    x, w = tc.randn(64, 300), tc.randn(300, 200)

    def layer(x, w):
        return tc.tanh(x @ w).sum(1)
    f = tc.compile(layer)
    for _ in range(5):
        got = f(x, w)
    # a float32 sum of 200 values in [-1, 1], each summed in another order than eager's
    np.testing.assert_allclose(got.numpy(), layer(x, w).numpy(), rtol=1e-5, atol=1e-4)
    lines = f.kernel_profile["forward"].splitlines()
    assert lines[-1].startswith("(per call of the graph, over 5 calls")
    sites = lines[:-1]
    assert any("gemm(" in s and "(split)" in s for s in sites)     # a product, in blocks
    assert any("tanh" in s for s in sites)
    for line in sites:
        us, calls = float(line.split()[0]), float(line.split()[4])
        assert us >= 0 and calls >= 1
        assert ("(split)" in line) == (calls > 1)       # split: one count per piece
    monkeypatch.delenv("TRACECOMP_PROFILE")
    assert tc.compile(layer).kernel_profile == {}       # not asked for: no counters


def test_without_profiling_the_entry_has_no_clock_calls():
    f = tc.compile(lambda x: tc.tanh(x) * 2.0)
    f(tc.randn(100))
    assert "clock_gettime" not in f.llvm_ir["forward"]
