"""Threads: grad mode and autocast state are per thread (as in torch), and compiled code
called from several threads at once gives the numbers one thread gets.

The training threads compare with a single-threaded run of the same steps (same weights,
same data), so a thread whose tape stopped recording (the old process-wide grad flag) shows
up as weights that never moved.
"""
import threading

import numpy as np
import pytest
import torch
from thread_runs import run_threads

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn

N_THREADS = 4
STEPS = 5
TIMEOUT_S = 120


def _data(seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((8, 5)).astype(np.float32),
            rng.standard_normal((8, 3)).astype(np.float32))


def _weights():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((3, 5)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32))


def _model():
    """nn.Linear(5, 3) with fixed weights (built in the calling thread: no shared RNG)."""
    model = nn.Linear(5, 3)
    w, b = _weights()
    with tc.no_grad():
        model.weight.copy_(tc.tensor(w))
        model.bias.copy_(tc.tensor(b))
    return model


def _train(model, seed, steps=STEPS):
    """SGD on a mean-squared error; returns the final weight and bias as arrays."""
    x, y = (tc.tensor(a) for a in _data(seed))
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()


def _run_threads(targets):
    run_threads(targets, TIMEOUT_S)


def test_no_grad_in_one_thread_leaves_the_others_training():
    seeds = range(1, N_THREADS)
    want = {s: _train(_model(), s) for s in seeds}
    models = {s: _model() for s in seeds}
    got, seen = {}, {}
    # the no_grad thread holds no_grad open until every training thread is done
    entered, trained = threading.Barrier(N_THREADS), threading.Barrier(N_THREADS)

    def idle():
        with tc.no_grad():
            entered.wait(TIMEOUT_S)
            x = tc.ones(2, requires_grad=True)
            seen["inside"] = (tc.is_grad_enabled(), (x * 2).requires_grad)
            trained.wait(TIMEOUT_S)

    def trainer(seed):
        def run():
            entered.wait(TIMEOUT_S)
            got[seed] = _train(models[seed], seed)
            trained.wait(TIMEOUT_S)
        return run

    _run_threads([idle] + [trainer(s) for s in seeds])
    assert seen["inside"] == (False, False)
    for s in seeds:
        np.testing.assert_allclose(got[s][0], want[s][0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got[s][1], want[s][1], rtol=1e-6, atol=1e-7)
        assert not np.array_equal(got[s][0], _weights()[0]), "the weights never moved"
    assert tc.is_grad_enabled()


@pytest.mark.parametrize("switch", ["set_grad_enabled", "no_grad", "inference_mode"])
def test_a_new_thread_starts_with_grad_enabled(switch):
    """As torch: a thread's grad mode does not follow the thread that started it."""
    seen = {}

    def probe(key, lib):
        def run():
            x = lib.ones(2, requires_grad=True)
            seen[key] = (lib.is_grad_enabled(), (x * 2).requires_grad)
        return run

    for key, lib in (("torch", torch), ("tracecomp", tc)):
        ctx = lib.set_grad_enabled(False) if switch == "set_grad_enabled" else \
            getattr(lib, switch)()
        with ctx:
            assert not lib.is_grad_enabled()
            _run_threads([probe(key, lib)])
            assert not lib.is_grad_enabled()
        assert lib.is_grad_enabled()
    assert seen["tracecomp"] == seen["torch"] == (True, True)


def test_autocast_state_is_per_thread_as_in_torch():
    """set_autocast_enabled / set_autocast_dtype / cache flag in one thread: another thread
    sees the defaults (torch keeps all three per thread); anomaly mode is process-wide in
    both."""
    anomaly = {torch: torch.is_anomaly_enabled, tc: tc.autograd.anomaly_mode.is_anomaly_enabled}

    def state(lib):
        return (lib.is_autocast_enabled("xpu"), str(lib.get_autocast_dtype("cpu")).split(".")[-1],
                lib.is_autocast_cache_enabled(), anomaly[lib]())

    seen = {}
    for key, lib in (("torch", torch), ("tracecomp", tc)):
        before = state(lib)
        lib.set_autocast_enabled("xpu", True)
        lib.set_autocast_dtype("cpu", lib.float16)
        lib.set_autocast_cache_enabled(False)
        lib.autograd.set_detect_anomaly(True)
        try:
            seen[key + " here"] = state(lib)
            _run_threads([lambda key=key, lib=lib: seen.__setitem__(key, state(lib))])
        finally:
            lib.set_autocast_enabled("xpu", before[0])
            lib.set_autocast_dtype("cpu", lib.bfloat16)
            lib.set_autocast_cache_enabled(before[2])
            lib.autograd.set_detect_anomaly(before[3])
        assert state(lib) == before
    assert seen["tracecomp here"] == seen["torch here"] == (True, "float16", False, True)
    assert seen["tracecomp"] == seen["torch"] == (False, "bfloat16", True, True)


def test_an_autocast_decorator_runs_in_several_threads():
    """One decorated function, entered from several threads at once, restores each thread's
    own state on exit (the decorator must not share the saved state between calls)."""
    inside = threading.Barrier(N_THREADS)
    seen = []

    @tc.autocast("xpu")
    def region():
        seen.append(tc.is_autocast_enabled("xpu"))
        inside.wait(TIMEOUT_S)      # all threads are inside at the same time

    def run():
        region()
        seen.append(("after", tc.is_autocast_enabled("xpu")))

    _run_threads([run] * N_THREADS)
    assert seen.count(True) == N_THREADS and seen.count(("after", False)) == N_THREADS


class _MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(5, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_compiled_calls_from_several_threads_give_correct_numbers(backend):
    """A compiled module (forward and backward) warmed up once, then called from several
    threads at once, many times each: every result equals the eager one."""
    tc.manual_seed(0)
    model = _MLP()
    compiled = tc.compile(model, backend=backend)
    inputs = [tc.tensor(_data(s)[0]) for s in range(N_THREADS)]

    def grads(fn, x):
        model.zero_grad()
        out = fn(x)
        out.square().sum().backward()
        return out.detach().numpy().copy(), [p.grad.numpy().copy() for p in model.parameters()]

    def input_grad(fn, x):
        x = x.detach().requires_grad_(True)
        out = fn(x)
        return out.detach().numpy().copy(), \
            tc.autograd.grad(out.square().sum(), x)[0].numpy().copy()

    want = [input_grad(model, x) for x in inputs]
    # compile both signatures (x without and with requires_grad) before the threads start:
    # compiling from several threads at once is test_concurrent_first_compiles below
    grads(compiled, inputs[0])
    input_grad(compiled, inputs[0])
    got = {k: [] for k in range(N_THREADS)}
    start = threading.Barrier(N_THREADS)

    def caller(k):
        def run():
            start.wait(TIMEOUT_S)
            for _ in range(20):
                # gradients with respect to the input only: parameters' .grad is shared
                got[k].append(input_grad(compiled, inputs[k]))
        return run

    _run_threads([caller(k) for k in range(N_THREADS)])
    for k in range(N_THREADS):
        for out, gx in got[k]:
            np.testing.assert_allclose(out, want[k][0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(gx, want[k][1], rtol=1e-4, atol=1e-5)


# Tracing records only its own thread (tracing/tracer.py); compiles take turns (tracing/gate.py)
def test_concurrent_first_compiles():
    import time

    def fn(x):
        time.sleep(0.2)         # Python runs while tracing: the traces overlap in time
        return (x * 2 + 1).sin()

    compiled = tc.compile(fn)
    inputs = [tc.tensor(np.arange(n, dtype=np.float32)) for n in range(2, 2 + N_THREADS)]
    got = {}
    start = threading.Barrier(N_THREADS)

    def caller(k):
        def run():
            start.wait(TIMEOUT_S)
            got[k] = compiled(inputs[k]).numpy()     # a new shape each: N compiles at once
        return run

    _run_threads([caller(k) for k in range(N_THREADS)])
    for k, x in enumerate(inputs):
        np.testing.assert_allclose(got[k], fn(x).numpy(), rtol=1e-6)


def test_eager_training_while_another_thread_traces():
    import time
    tracing, trained = threading.Event(), threading.Event()

    def slow(x):
        tracing.set()
        trained.wait(TIMEOUT_S)      # the trace stays open until the other thread is done
        return x * 2

    compiled = tc.compile(slow)
    model, want = _model(), _train(_model(), 1)
    got = {}

    def trainer():
        tracing.wait(TIMEOUT_S)
        try:
            got["w"] = _train(model, 1)
        finally:
            trained.set()

    def tracer():
        got["out"] = compiled(tc.ones(3)).numpy()

    start = time.monotonic()
    _run_threads([tracer, trainer])
    assert time.monotonic() - start < TIMEOUT_S
    np.testing.assert_allclose(got["w"][0], want[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["out"], [2, 2, 2])
