"""One native entry point per graph (codegen/llvm/lower/entry.py, runner.py): a fully native graph
is one native call, a primitive without a lowering splits the graph into segments with a
Python step between them, outputs are fresh arrays that no later call overwrites, and the
entry runner computes what the per-kernel runner computes."""
import re
import threading

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.codegen.interp import compile_graph as reference
from tracecomp.codegen.llvm.backend import compile_graph
from tracecomp.codegen.llvm.gemm import blas, calibrate
from tracecomp.codegen.llvm.runtime import native_pool, parallel
from tracecomp.codegen.llvm.target import host
from tracecomp.ops.indexing import check_range
from tracecomp.passes import decompose, fusion
from tracecomp.tracing.tracer import trace

rng = np.random.default_rng(0)
needs_blas = pytest.mark.skipif(blas.find_gemm("float32") is None, reason="no BLAS found")


def arr(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def mlp(x, w1, b1, w2, b2):
    return tc.relu(x @ w1.T + b1) @ w2.T + b2


def mlp_arrays(batch=8):
    return [arr(batch, 20), arr(16, 20), arr(16), arr(4, 16), arr(4)]


def graph_of(fn, arrays):
    """fn's graph as compiled code hands it to a backend (softmax in its parts)."""
    return decompose.run(trace(fn, *[tc.tensor(a) for a in arrays]))


def kinds(runner):
    return [step.kind for step in runner.layout.program]


def check(runner, graph, arrays, rtol=1e-5):
    want = reference(graph)(arrays)
    got = runner(arrays)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"output {k}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-5, err_msg=f"output {k}")
    return got


@needs_blas
def test_a_fully_native_graph_is_one_call(monkeypatch):
    # a host where dots won gemm/calibrate.py's contest: x @ W^T of a short K to the BLAS
    monkeypatch.setattr(calibrate, "dots_win", lambda dtype: True)
    arrays = mlp_arrays()
    graph = graph_of(mlp, arrays)
    runner = compile_graph(graph)
    check(runner, graph, arrays)
    assert kinds(runner) == ["native"]
    assert [s.name for s in runner.layout.program] == ["entry0"]
    log = "\n".join(runner.fusion_log)
    assert re.search(r"^entry0: one native call runs gemm\(%\d+\), kernel\d+_relu, "
                     r"gemm\(%\d+\), kernel\d+_add$", log, re.MULTILINE), log
    assert re.search(r"^arena: \d+ buffers in \d+ bytes \(vs \d+ without reuse\)", log,
                     re.MULTILINE)
    assert 'define void @"entry0"(ptr' in runner.llvm_ir
    assert "sgemm" in runner.llvm_ir        # the BLAS is called from the entry


def middle_gather(x, w, idx):
    h = tc.relu(x @ w) * 2.0
    g = tc.gather(h, 1, idx)                    # no native lowering: a Python step
    return tc.tanh(g + 1.0) @ w[:3, :3], h.sum()


def test_a_gather_in_the_middle_splits_the_graph_into_segments():
    arrays = [arr(5, 7), arr(7, 7), rng.integers(0, 7, (5, 3))]
    graph = graph_of(middle_gather, arrays)
    runner = compile_graph(graph)
    check(runner, graph, arrays)
    program = runner.layout.program
    assert [r.op for r in runner.layout.python_results()] == ["gather"]
    assert kinds(runner)[0] == "native" and kinds(runner)[-1] == "native"
    names = [s.name for s in program if s.kind == "native"]
    assert names == [f"entry{k}" for k in range(len(names))] and len(names) >= 2
    log = "\n".join(runner.fusion_log)
    assert re.search(r"^python: %\d+ gather \(numpy, between native calls\)$", log, re.MULTILINE)
    # the gather read an intermediate through a view of the arena; call again: same result
    again = runner([a.copy() for a in arrays])
    for g, w in zip(again, reference(graph)(arrays)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_a_python_step_that_returns_its_arena_input_gets_a_copy():
    # check_range returns its input, here an intermediate in the arena: the result (an
    # output) must not be the arena's memory, which the next call overwrites
    def fn(y):
        t = tc.where(y > 4, y - 5, y + 5)
        return check_range(t, 0, 10, "out of range: {value}")
    arrays = [rng.integers(0, 10, 6)]
    graph = graph_of(fn, arrays)
    runner = compile_graph(graph)
    assert [r.op for r in runner.layout.python_results()] == ["check_range"]
    assert runner.memory_plan.offsets, "t should be an arena intermediate"
    first = check(runner, graph, arrays)[0]
    kept = first.copy()
    runner([(arrays[0] + 3) % 10])
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("fn", [mlp, lambda *a: (mlp(*a), tc.relu(a[0] @ a[1].T)),
                                lambda *a: mlp(*a).reshape(-1)], ids=["one", "two", "view"])
def test_outputs_are_not_overwritten_by_a_later_call(fn):
    arrays = mlp_arrays()
    graph = graph_of(fn, arrays)
    runner = compile_graph(graph)
    first = runner(arrays)
    kept = [a.copy() for a in first]
    second = runner([a * 3.0 + 1.0 for a in arrays])
    for a, b, c in zip(first, kept, second):
        np.testing.assert_array_equal(a, b)      # the first result is unchanged
        assert not np.shares_memory(a, c)
        assert not any(np.shares_memory(a, x) for x in arrays)


def test_outputs_that_are_inputs_constants_or_views_of_them():
    def fn(x, y):
        return x, y.reshape(-1), tc.tensor(np.arange(3.0, dtype=np.float32)), x * 2.0
    arrays = [arr(2, 3), arr(3, 2)]
    graph = graph_of(fn, arrays)
    check(compile_graph(graph), graph, arrays)


@needs_blas
@pytest.mark.parametrize("m,k,n", [(5, 0, 3), (0, 4, 3), (3, 4, 0), (1, 1, 1), (7, 9, 5)])
def test_matmul_edges_and_transposes(m, k, n):
    def fn(a, b, at, bt):
        return a @ b, at.T @ b, a @ bt.T, at.T @ bt.T
    arrays = [arr(m, k), arr(k, n), arr(k, m), arr(n, k)]
    graph = graph_of(fn, arrays)
    runner = compile_graph(graph)
    assert kinds(runner) == ["native"]          # empty products emit nothing, or zeros
    got = check(runner, graph, arrays)
    assert all(g.flags.c_contiguous for g in got)


def test_non_contiguous_and_read_only_inputs():
    x = arr(20, 8)[:, ::2]           # not contiguous: copied once, as eager numpy would
    w = arr(16, 4)
    w.flags.writeable = False        # read-only: its pointer still reaches native code
    graph = graph_of(lambda x, w: tc.relu(x @ w.T) + 1.0, [x, w])
    check(compile_graph(graph), graph, [x, w])


def test_float64_and_int_graphs():
    arrays = [arr(6, 5, dtype=np.float64), arr(5, 4, dtype=np.float64),
              rng.integers(-5, 5, (6, 4))]
    graph = graph_of(lambda a, b, i: ((a @ b) * i, (i * 3).sum(1)), arrays)
    check(compile_graph(graph), graph, arrays)


def test_the_entry_and_per_kernel_runners_agree():
    arrays = mlp_arrays(batch=32)
    graph = graph_of(lambda *a: (mlp(*a), F.softmax(mlp(*a), dim=1)), arrays)
    steps = compile_graph(graph, runner="steps")
    assert not hasattr(steps, "layout") and len(steps.steps) == len(steps.plan.groups)
    # same kernels, same BLAS; without one (TRACECOMP_BLAS=none) the entry runs the
    # generated GEMM and the per-kernel runner numpy's matmul: other rounding
    rtol = 1e-6 if blas.find_gemm("float32") else 1e-5
    for a, b in zip(compile_graph(graph)(arrays), steps(arrays)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol / 10)


def test_the_runner_is_chosen_by_argument_or_environment(monkeypatch):
    graph = graph_of(mlp, mlp_arrays())
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", "steps")
    assert not hasattr(compile_graph(graph), "layout")
    assert hasattr(compile_graph(graph, runner="entry"), "layout")
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", "fast")
    with pytest.raises(ValueError, match="TRACECOMP_LLVM_RUNNER"):
        compile_graph(graph)


def test_concurrent_calls_from_threads():
    arrays = mlp_arrays(batch=64)
    graph = graph_of(lambda *a: F.softmax(mlp(*a), dim=1), arrays)
    runner = compile_graph(graph)
    inputs = [[a * (t + 1) for a in arrays] for t in range(4)]
    want = [reference(graph)(xs)[0] for xs in inputs]
    errors = []

    def work(t):
        try:
            for _ in range(50):
                got = runner(inputs[t])[0]
                np.testing.assert_allclose(got, want[t], rtol=1e-5, atol=1e-6)
        except AssertionError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


def test_a_compiled_training_step_runs_its_segments():
    tc.manual_seed(0)
    model = tc.nn.Sequential(tc.nn.Linear(12, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3))
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @tc.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    x, y = tc.tensor(arr(5, 12)), tc.tensor(rng.integers(0, 3, 5))
    losses = [step(x, y).item() for _ in range(4)]
    assert losses[-1] < losses[0]
    log = step.fusion_log["forward"]
    assert re.search(r"^entry\d+: one native call runs", log, re.MULTILINE)


# --- large kernels over threads (parallel.py) ---------------------------------------------
def big_kernels(x, m, v):
    y = F.gelu(x * 1.5 + 0.25, approximate="tanh")      # elementwise, 1-D, odd extent
    s = F.softmax(m.T * 2.0, dim=1)                      # reductions keeping dim 0
    c = tc.exp(m).sum(0)                                 # reduces dim 0: never split
    return y, s, c, tc.tanh(v + m.sum(1, keepdim=True))  # broadcasting inside a kernel


def big_arrays():
    return [arr(1001), arr(40, 33), arr(1, 33)]


@pytest.fixture
def split_everything(monkeypatch):
    monkeypatch.setattr(parallel, "SPLIT_WORK", 1)
    monkeypatch.setattr(parallel, "KERNEL_SPLIT_WORK", 1)
    monkeypatch.setenv("TRACECOMP_THREADS", "2")


def test_large_kernels_split_over_threads(split_everything):
    arrays = big_arrays()
    graph = graph_of(big_kernels, arrays)
    runner = compile_graph(graph)
    split = [s for s in runner.layout.program if s.kind == "split"]
    ops = sorted(s.groups[0].root.op for s in split)
    assert "reduce_sum" in ops and "reduce_max" in ops and len(split) >= 4, ops
    for s in split:
        assert s.extent == s.groups[0].root.shape[0]
        root = s.groups[0].root
        assert not (root.op.startswith("reduce") and 0 in root.params["dims"])
    assert re.search(r"^entry\d+: kernel\d+_\w+ split over threads along dim 0 \(extent 1001",
                     "\n".join(runner.fusion_log), re.MULTILINE)
    got = check(runner, graph, arrays)
    for g, w in zip(got, compile_graph(graph, runner="steps")(arrays)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_split_kernels_with_threads_off_and_from_threads(split_everything, monkeypatch):
    arrays = big_arrays()
    graph = graph_of(big_kernels, arrays)
    runner = compile_graph(graph)
    want = reference(graph)(arrays)
    monkeypatch.setenv("TRACECOMP_THREADS", "1")           # whole, on the calling thread
    for g, w in zip(runner(arrays), want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    monkeypatch.setenv("TRACECOMP_THREADS", "2")
    results = [None] * 3

    def work(t):                       # callers beyond the first run their kernels whole
        results[t] = [runner(arrays) for _ in range(20)]
    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for calls in results:
        for got in calls:
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_consecutive_native_steps_are_one_call(split_everything, monkeypatch):
    """A run of native steps (schedule.Layout.runs) is one function that hands its split
    steps to the native pool: the same numbers on threads, whole (parts 1: TRACECOMP_THREADS
    =1, or the pool busy with another call), and step by step where there is no native
    pool."""
    arrays = big_arrays()
    graph = graph_of(big_kernels, arrays)
    runner = compile_graph(graph)
    runs = runner.layout.runs()
    assert len(runs) == 1 and runs[0].steps == runner.layout.program
    assert sum(s.kind == "split" for s in runs[0].steps) >= 4
    if native_pool.available():
        assert [kind for kind, *_ in runner._program] == ["run"]
    run = runner.llvm_ir.split('define void @"run0"(')[1].split("\n}")[0]
    for step in runs[0].steps:      # each step once; a split one through the pool's rule
        calls = re.findall(rf'call void (\S+)\(.*@"{step.name}"\W', run)
        assert len(re.findall(rf'@"{step.name}"\W', run)) == 1
        assert (calls != []) == (step.kind == "split"), (step.kind, calls)
    want = reference(graph)(arrays)

    def agree(run):
        for g, w in zip(run(arrays), want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    agree(runner)
    with parallel.pool.lock:            # another call holds the pool: the run goes whole
        agree(runner)
    monkeypatch.setenv("TRACECOMP_THREADS", "1")
    agree(runner)
    monkeypatch.setenv("TRACECOMP_THREADS", "2")
    monkeypatch.setattr(native_pool, "available", lambda: False)
    stepwise = compile_graph(graph)
    assert "run" not in [kind for kind, *_ in stepwise._program]
    agree(stepwise)


def test_a_python_step_ends_a_run():
    arrays = mlp_arrays()
    graph = graph_of(lambda x, w1, b1, w2, b2: tc.relu(x @ w1.T + b1)[
        check_range(tc.tensor(np.array([1, 0, 2])), 0, x.shape[0], "out of range")] @ w2.T,
        arrays)
    runner = compile_graph(graph)
    program = runner.layout.program
    for run in runner.layout.runs():
        assert len(run.steps) >= 2 and all(s.kind != "python" for s in run.steps)
        first = program.index(run.steps[0])
        assert program[first:first + len(run.steps)] == run.steps
        before = program[first - 1] if first else None
        assert before is None or before.kind == "python"
    check(runner, graph, arrays)


def test_the_pool_covers_the_range_once():
    seen = []
    lock = threading.Lock()

    def fn(slots, start, stop):
        with lock:
            seen.append((start, stop, threading.get_ident()))
    for n, parts in [(10, 3), (7, 2), (2, 5), (1, 2)]:
        seen.clear()
        parallel.pool.run(fn, None, n, parts)
        covered = sorted(i for start, stop, _ in seen for i in range(start, stop))
        assert covered == list(range(n)), (n, parts, seen)
        pieces = 1 if min(parts, n) < 2 else min(n, parts * parallel.PIECES_PER_THREAD)
        assert len(seen) == pieces      # claimed one at a time by whoever is free
    with parallel.pool.lock:           # the workers are busy: the caller runs it whole
        seen.clear()
        parallel.pool.run(fn, None, 10, 2)
        assert [s[:2] for s in seen] == [(0, 10)]


def test_what_is_split():
    graph = graph_of(big_kernels, big_arrays())
    groups = fusion.run(graph, host()).groups
    assert all(parallel.extent(g) is None for g in groups)     # all far below the threshold
    x = arr(1 << 20)
    graph = graph_of(lambda x: (tc.tanh(x) * 2.0, x * 3.0, x.sum()), [x])
    got = {"tanh" if any(n.op == "tanh" for n in g.nodes) else g.root.op: parallel.extent(g)
           for g in fusion.run(graph, host()).groups}
    # tanh streams 2 arrays and costs 4 per element: 6 Mi element ops; x * 3 streams 2, so
    # 2 Mi, both >= KERNEL_SPLIT_WORK = 256 Ki; a reduction over dim 0 cannot be split by rows
    assert got == {"tanh": 1 << 20, "mul": 1 << 20, "reduce_sum": None}
    x = arr(1 << 16)                # 64 Ki elements x 2 arrays: whole
    graph = graph_of(lambda x: x * 3.0, [x])
    assert [parallel.extent(g) for g in fusion.run(graph, host()).groups] == [None]


def test_released_output_buffers_are_reused_held_ones_never():
    arrays = mlp_arrays()
    graph = graph_of(lambda *a: (mlp(*a), tc.relu(a[0] @ a[1].T)), arrays)
    runner = compile_graph(graph)
    first = runner(arrays)
    addresses = {a.ctypes.data for a in first}
    view = first[1].reshape(-1)                 # a view holds its base
    kept = view.copy()
    del first
    second = runner([a + 1.0 for a in arrays])
    np.testing.assert_array_equal(view, kept)
    assert second[1].ctypes.data != view.ctypes.data
    reused = second[0].ctypes.data in addresses  # released: its buffer came back
    del second, view
    third = runner(arrays)
    assert reused and {a.ctypes.data for a in third} & addresses
