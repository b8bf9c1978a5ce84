"""Threads and tracing: a trace records only its own thread's calls, compiles in several
threads take turns (each signature compiles once), and compiled calls never see another
thread's trace.

Every concurrent run is compared with the same jobs run one after another in the main
thread (same weights, same data): compiled code is deterministic, so the numbers must be
equal bit for bit.
"""
import threading
import time

import numpy as np
from thread_runs import run_threads

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import context, nn
from tracecomp.artifact_cache import SERVED
from tracecomp.compiler import driver
from tracecomp.tracing.gate import TraceGate

TIMEOUT_S = 180
STEPS = 8


def _run_threads(targets):
    run_threads(targets, TIMEOUT_S)


def _seeded(model, seed):
    """model with every parameter drawn from its own numpy generator (the global RNG is
    shared by threads, so nn's default init would depend on their interleaving)."""
    rng = np.random.default_rng(seed)
    with tc.no_grad():
        for p in model.parameters():
            p.copy_(tc.tensor(rng.standard_normal(p.shape).astype(np.float32) * 0.5))
    return model


def _batch(seed, n=8, d=6, classes=3):
    rng = np.random.default_rng(100 + seed)
    return (tc.tensor(rng.standard_normal((n, d)).astype(np.float32)),
            tc.tensor(rng.integers(0, classes, n)))


def _mlp(seed):
    return _seeded(nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3)), seed)


# --- the jobs: each builds its own objects and returns every number it produced ----------
def _train(model, forward, opt, seed):
    """STEPS steps of cross-entropy training through `forward` (the model, or its compiled
    form): the losses, then the parameters."""
    x, y = _batch(seed)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        out.append(loss.detach().numpy().copy())
    return out + [p.detach().numpy().copy() for p in model.parameters()]


def _compiled_forward_eager_backward(seed):
    """A compiled module; backward through the compiled graph; an eager SGD step."""
    model = _mlp(seed)
    return _train(model, tc.compile(model), tc.optim.SGD(model.parameters(), lr=0.1), seed)


def _compiled_training_step(seed):
    """A whole step compiled: forward, backward and Adam's update in one graph."""
    model = _mlp(seed)
    opt = tc.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _batch(seed)

    @tc.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    out = [step(x, y).numpy().copy() for _ in range(STEPS)]
    return out + [p.detach().numpy().copy() for p in model.parameters()]


def _compiled_function_many_shapes(seed):
    """A function compiled for several shapes (a new signature on each of the first calls)."""
    def fn(x, w):
        return (x * w + 1).sin().sum(0) / (x.abs() + 1).mean()

    compiled = tc.compile(fn)
    rng = np.random.default_rng(200 + seed)
    out = []
    for k in range(STEPS):
        n = 2 + k % 4
        x = tc.tensor(rng.standard_normal((n, 5)).astype(np.float32))
        out.append(compiled(x, tc.tensor(np.float32(0.5 + k))).numpy().copy())
    return out


def _compiled_eval_batches(seed):
    """A compiled model in eval mode on batches of changing size, with a BatchNorm whose
    running statistics were set by eager training first."""
    model = _seeded(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                  nn.Linear(8, 2)), seed)
    x, _ = _batch(seed, n=16)
    model(x)                        # eager, in train mode: moves the running statistics
    model.eval()
    compiled = tc.compile(model)
    return [compiled(x[:n]).detach().numpy().copy() for n in (16, 4, 16, 9, 4, 9, 16, 1)]


def _eager_training(seed):
    """Plain eager training, no compile."""
    model = _mlp(seed)
    return _train(model, model, tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), seed)


JOBS = [_compiled_forward_eager_backward, _compiled_training_step,
        _compiled_function_many_shapes, _compiled_eval_batches, _eager_training,
        _eager_training]


def _assert_same(got, want, what):
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"{what}: value {k}")


def _runner(job, k, got, start):
    def run():
        start.wait(TIMEOUT_S)
        got[k] = job(k)
    return run


def test_compiling_threads_and_eager_threads_at_once():
    """Four threads compile and call (each its own models and functions, new signatures
    along the way) while two threads train eagerly: every number equals the one-thread run."""
    want = [job(k) for k, job in enumerate(JOBS)]
    for r in range(2):
        got, start = {}, threading.Barrier(len(JOBS))
        _run_threads([_runner(job, k, got, start) for k, job in enumerate(JOBS)])
        for k, job in enumerate(JOBS):
            _assert_same(got[k], want[k], f"round {r}, {job.__name__} in thread {k}")


def test_eager_linear_while_another_thread_traces():
    """Thread B's nn.Linear call during thread A's trace runs eagerly (a numpy result with
    the right numbers) and leaves A's graph as a one-thread trace makes it."""
    tracing, done = threading.Event(), threading.Event()
    seen = {}

    def slow(x):
        y = x * 2
        tracing.set()
        # the trace stays open while thread B works (polled: a wait inside compiled code is
        # a graph break, compiler/sync_calls.py, and so is a clock read)
        for _ in range(int(TIMEOUT_S * 1000)):
            if done.is_set():
                break
            time.sleep(0.001)
        seen["tracer here"] = context.current()
        return y + 1

    compiled = tc.compile(slow)
    model = _seeded(nn.Linear(4, 2), 1)
    x = tc.tensor(np.arange(8, dtype=np.float32).reshape(2, 4))
    want = x.numpy() @ model.weight.detach().numpy().T + model.bias.detach().numpy()

    def eager():
        tracing.wait(TIMEOUT_S)
        try:
            seen["tracer there"] = context.current()
            out = model(x)
            seen["eager"] = (type(out._data), out.detach().numpy().copy(), out.requires_grad)
            seen["grad"] = tc.autograd.grad(out.sum(), model.weight)[0].numpy().copy()
        finally:
            done.set()

    def traced():
        seen["compiled"] = compiled(tc.ones(3)).numpy().copy()

    _run_threads([traced, eager])
    kind, value, requires_grad = seen["eager"]
    assert kind is np.ndarray and requires_grad
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(seen["grad"], np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-6)
    assert seen["tracer there"] is None and seen["tracer here"] is not None
    np.testing.assert_array_equal(seen["compiled"], [3, 3, 3])
    reference = tc.compile(lambda x: x * 2 + 1)     # the same ops, traced alone
    reference(tc.ones(3))
    assert _ops(compiled) == _ops(reference)


def _ops(compiled):
    return [n.op for n in compiled.graphs["traced"].nodes]


def test_one_signature_missed_by_many_threads_compiles_once(monkeypatch):
    # counts the traces (driver.build runs fn's Python once per trace): a counter in fn
    # itself would not do, as compiled calls repeat its stores (an attribute's `+= 1` on
    # every call, object_stores.py and kept_values.py) and refuse an iterator it draws from
    traces, build = [], driver.build
    monkeypatch.setattr(driver, "build", lambda *a, **k: traces.append(1) or build(*a, **k))

    def fn(x):
        time.sleep(0.05)        # keeps the trace open while the other threads call
        return x.exp() * 3

    compiled = tc.compile(fn)
    x = tc.tensor(np.linspace(-1, 1, 7, dtype=np.float32))
    got = {}
    start = threading.Barrier(6)

    def caller(k):
        def run():
            start.wait(TIMEOUT_S)
            got[k] = compiled(x).numpy()
        return run

    _run_threads([caller(k) for k in range(6)])
    assert len(traces) == 1 and compiled.compiles == 1
    for k in range(6):
        np.testing.assert_allclose(got[k], np.exp(x.numpy()) * 3, rtol=1e-6)


class _SlowToTrace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 10), nn.Linear(10, 3)

    def forward(self, x):
        h = self.fc1(x).tanh()
        time.sleep(0.05)        # Python runs once per trace: keeps each trace open a while
        return self.fc2(h)


def test_calls_of_a_compiled_model_while_it_compiles_a_new_shape():
    """One compiled model shared by threads: some call a compiled batch size in a loop
    while others bring new batch sizes (a trace swaps the model's parameters for graph
    values: a call must never run on those). Also exercises the artifact cache's
    evictions (cache_size=2) under concurrent lookups."""
    model = _seeded(_SlowToTrace(), 3)
    compiled = tc.compile(model, cache_size=2)
    rng = np.random.default_rng(7)
    xs = {n: tc.tensor(rng.standard_normal((n, 6)).astype(np.float32)) for n in (1, 2, 3, 5)}
    with tc.no_grad():
        want = {n: model(x).numpy() for n, x in xs.items()}
    compiled(xs[2])
    got = []

    def steady():
        for _ in range(30):
            got.append((2, compiled(xs[2]).detach().numpy().copy()))

    def newcomer(sizes):
        def run():
            for n in sizes:
                got.append((n, compiled(xs[n]).detach().numpy().copy()))
        return run

    _run_threads([steady, steady, newcomer([1, 3, 5, 1]), newcomer([5, 3, 1, 3])])
    assert len(got) == 68
    for n, value in got:
        np.testing.assert_allclose(value, want[n], rtol=1e-5, atol=1e-6, err_msg=f"batch {n}")
    compiled_held, served_held = compiled._compiled.cache.held()
    assert compiled_held <= 2 and served_held <= 2 * SERVED


def test_a_compiled_call_inside_a_trace_is_inlined_in_the_tracing_thread():
    inner = tc.compile(lambda x: x + 1)

    @tc.compile
    def outer(x):
        return inner(x * 2)

    np.testing.assert_array_equal(outer(tc.ones(2)).numpy(), [3, 3])
    assert inner.compiles == 0          # traced into outer's graph, not compiled alone
    np.testing.assert_array_equal(inner(tc.ones(2)).numpy(), [2, 2])   # nothing left held


# --- the gate itself ----------------------------------------------------------------------
def test_gate_keeps_calls_out_while_a_thread_traces():
    gate, order = TraceGate(), []
    held, reader_waiting = threading.Event(), threading.Event()

    def writer():
        with gate:
            with gate:                      # reentrant in its own thread
                with gate.shared:           # and shared inside its own hold
                    held.set()
                    reader_waiting.wait(TIMEOUT_S)
                    time.sleep(0.2)         # the reader must still be waiting
                    order.append("trace done")

    def reader():
        held.wait(TIMEOUT_S)
        reader_waiting.set()
        with gate.shared:
            order.append("call")

    _run_threads([writer, reader])
    assert order == ["trace done", "call"]


def test_gate_lets_a_waiting_trace_in_between_overlapping_calls():
    """Calls that overlap without a gap must not keep a trace out for ever."""
    gate, stop, entered = TraceGate(), threading.Event(), threading.Event()

    def caller():
        while not stop.is_set():
            with gate.shared:
                entered.set()
                time.sleep(0.001)

    def tracing():
        entered.wait(TIMEOUT_S)
        with gate:
            stop.set()

    _run_threads([caller, caller, caller, tracing])
    assert stop.is_set()


def test_an_event_another_thread_waits_on_is_set_inside_a_trace():
    """A thread already waiting on the Event when the trace starts: set() inside the trace
    takes that thread's waiter out of the Condition's deque, which the trace read as the
    compiled code removing items (a graph break, and undoing the trace's changes cleared
    a flag another thread set: CI's hang of the test above, whose thread B waits on
    `tracing` first)."""
    ready = threading.Event()
    woke = []
    waiter = threading.Thread(target=lambda: woke.append(ready.wait(TIMEOUT_S)), daemon=True)
    waiter.start()
    while not ready._cond._waiters:        # the waiter is in the deque before the trace
        time.sleep(0.001)

    @tc.compile(fullgraph=True)
    def f(x):
        ready.set()
        return x + 1

    np.testing.assert_array_equal(f(tc.ones(2)).numpy(), [2, 2])
    waiter.join(TIMEOUT_S)
    assert woke == [True] and ready.is_set()
