"""Kernels one graph compiled, linked into the graphs compiled after it (kernel_reuse.py):
a training step's second graph (the optimizer now has momentum) compiles only what is new,
computes torch's numbers, and keeps the code it calls alive; a freed graph's kernels are
compiled again; a second run of a program finds every module in the disk cache."""
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen.llvm import kernel_reuse

from helpers import train_step

LINKED = "compiled by an earlier graph, linked"


def _mlp(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(20, 32), lib.nn.ReLU(), lib.nn.Linear(32, 5))


def test_a_steps_second_graph_links_the_kernels_its_first_compiled(monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    model, ref = _mlp(tc), _mlp(torch)
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    step = tc.compile(train_step(model, tc.optim.SGD(model.parameters(), lr=0.1,
                                                      momentum=0.9)))
    ref_step = train_step(ref, torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9),
                          torch)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 20)).astype(np.float32), np.arange(8) % 5
    logs = []
    for _ in range(3):
        loss = step(tc.tensor(x), tc.tensor(y)).item()
        logs.append(step.fusion_log["forward"])
        want = ref_step(torch.tensor(x), torch.tensor(y)).item()
        np.testing.assert_allclose(loss, want, rtol=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    first, second = logs[0], logs[1]
    assert LINKED not in first
    linked = [line.split(":")[0] for line in second.splitlines() if LINKED in line]
    assert len(linked) >= 10        # the forward's and backward's kernels: only updates new
    ir = step.llvm_ir["forward"]
    for name in linked:             # declared, not defined: that code is the first graph's
        assert f'declare void @"{name}"' in ir and f'define void @"{name}"' not in ir


def _f(x):
    return (x * 2.0).relu() + 1.0


def _g(x):         # f's kernel, then a product
    return ((x * 2.0).relu() + 1.0) @ x


def _g_want(x):
    x = x.astype(np.float64)
    return (np.maximum(x * 2, 0) + 1) @ x


def test_code_a_later_graph_calls_lives_after_its_own_graph_is_freed(monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    x = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
    f = tc.compile(_f)
    f(tc.tensor(x))
    g = tc.compile(_g)
    g(tc.tensor(x))
    assert LINKED in g.fusion_log["forward"]
    del f
    gc.collect()
    np.testing.assert_allclose(g(tc.tensor(x)).numpy(), _g_want(x), rtol=1e-4, atol=1e-4)


def test_a_freed_graphs_kernels_are_compiled_again(monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    x = np.random.default_rng(2).standard_normal((64, 64)).astype(np.float32)
    f = tc.compile(_f)
    f(tc.tensor(x))
    del f
    gc.collect()
    g = tc.compile(_g)
    got = g(tc.tensor(x)).numpy()
    assert LINKED not in g.fusion_log["forward"]
    np.testing.assert_allclose(got, _g_want(x), rtol=1e-4, atol=1e-4)


def test_forget_leaves_the_next_graph_its_own_kernels(monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    x = tc.randn(64, 64)
    f = tc.compile(_f)
    f(x)
    kernel_reuse.forget()
    g = tc.compile(_g)
    g(x)
    assert LINKED not in g.fusion_log["forward"]
    assert f(x).numpy().shape == (64, 64)       # f's code is still f's


_PROGRAM = """
import numpy as np, tracecomp as tc, tracecomp.nn as nn, tracecomp.nn.functional as F
tc.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
@tc.compile
def step(x, y):
    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()
    return loss
x, y = tc.randn(8, 20), tc.tensor(np.arange(8) % 5)
print(" ".join(repr(step(x, y).item()) for _ in range(3)))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="one cache folder per test run")
def test_a_second_run_of_a_program_finds_both_graphs_in_the_disk_cache(tmp_path):
    env = {**os.environ, "TRACECOMP_CACHE": "1", "TRACECOMP_CACHE_DIR": str(tmp_path),
           "TRACECOMP_DEBUG": "1"}

    def run():
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(_PROGRAM)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip(), done.stderr
    cold, cold_log = run()
    warm, warm_log = run()
    assert warm == cold
    assert cold_log.count("object code cached") >= 2
    assert "object code cached" not in warm_log
    assert warm_log.count("object code from the disk cache") >= 2


def test_a_kernel_compiled_under_other_settings_is_not_linked(monkeypatch):
    """TRACECOMP_* variables may change a kernel's code (the disk cache keys by them too)."""
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    x = tc.randn(64, 64)
    f = tc.compile(_f)
    f(x)
    monkeypatch.setenv("TRACECOMP_SOME_SETTING", "1")
    g = tc.compile(_g)
    g(x)
    assert LINKED not in g.fusion_log["forward"]
    monkeypatch.delenv("TRACECOMP_SOME_SETTING")
    h = tc.compile(_g)          # under f's settings again: linked (so f's code was alive)
    h(x)
    assert LINKED in h.fusion_log["forward"]
