"""The garbage collector is held off while a graph compiles (compiler/gc_pause.py), and
left as the user had it afterwards."""
import gc

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn as nn
import tracecomp.nn.functional as F
from tracecomp.codegen import registry

from helpers import train_step


@pytest.fixture
def collector_seen(monkeypatch):
    """gc.isenabled() as each backend compile saw it."""
    seen = []
    real = registry.get

    def get(name):
        compile_graph = real(name)

        def watched(*args, **kwargs):
            seen.append(gc.isenabled())
            return compile_graph(*args, **kwargs)
        return watched
    monkeypatch.setattr(registry, "get", get)
    return seen


def _step_and_model():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    step = tc.compile(train_step(model, tc.optim.SGD(model.parameters(), lr=0.1)))
    x = tc.tensor(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32))
    y = tc.tensor(np.array([0, 2, 1, 0]))
    return (lambda: step(x, y)), model, x, y


def test_compiles_run_with_the_collector_off_and_turn_it_back_on(collector_seen):
    assert gc.isenabled()
    step, model, x, y = _step_and_model()
    step()
    compiled = tc.compile(model)
    F.cross_entropy(compiled(x), y).backward()
    assert collector_seen and not any(collector_seen)    # whole step and compile(model)
    assert gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off(collector_seen):
    step, *_ = _step_and_model()
    gc.disable()
    try:
        step()
        assert collector_seen == [False]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failed_compile_turns_the_collector_back_on():
    @tc.compile(fullgraph=True)
    def bad(x):
        return x if float(x.sum()) > 0 else -x      # reads a traced value: refused

    with pytest.raises(tc.TraceError):
        bad(tc.ones(3))
    assert gc.isenabled()
