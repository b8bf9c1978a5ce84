"""Products split along K (parallel.k_first): a product whose B the graph writes back (a
training step's dX = dY @ W, W then updated by rows), or a backward's trained parameter, is
cut into blocks of K, each block's partial product but the first in a scratch value of its
own, added into C by a "sum" step (lower/entry.py)."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm import target
from tracecomp.codegen.llvm.runtime import parallel

from helpers import train_twin_relu_mlps

TWO_CPUS = pytest.mark.skipif(parallel._cpus() < 2, reason="one CPU: nothing is split")


def _split_of(m, k, n, updated, b_transposed=False):
    from tracecomp.passes import fusion
    from tracecomp.tracing.tracer import trace
    b = tc.randn(n, k) if b_transposed else tc.randn(k, n)
    g = trace((lambda a, b: a @ b.t()) if b_transposed else (lambda a, b: a @ b),
              tc.randn(m, k), b)
    product = next(grp for grp in fusion.run(g, target.host()).groups if grp.kind == "matmul")
    return parallel.gemm_split(product, [g.inputs[1]] if updated else ())


@TWO_CPUS
def test_a_product_reading_a_weight_the_graph_updates_is_split_along_k():
    axis, width = _split_of(64, 256, 256, updated=True)
    assert axis == 2 and width * parallel._cpus() >= 256 and width % 16 == 0
    assert _split_of(64, 256, 256, updated=False)[0] == 1       # nothing writes B: columns
    # B read transposed (the forward's x @ W^T): its rows are C's columns, split as before
    assert _split_of(64, 256, 256, updated=True, b_transposed=True)[0] == 1
    assert _split_of(16, 96, 2048, updated=True)[0] == 1        # K too short for two blocks
    assert _split_of(512, 256, 256, updated=True)[0] == 0       # rows come first


def _step_program(f, graph="forward"):
    return [line for line in f.fusion_log[graph].splitlines()
            if "split over threads" in line or "partial products" in line]


def _train_twins(hidden, seed, compile_model=False, steps=3):
    """The compiled step (or compile(model)'s forward) after `steps` SGD steps of 300 ->
    hidden -> hidden -> 10 MLPs, checked against torch's."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((64, 300)).astype(np.float32), rng.integers(0, 10, 64)
    return train_twin_relu_mlps(x, y, (300, hidden, hidden, 10), steps, compile_model)[0]


@TWO_CPUS
@pytest.mark.parametrize("hidden", [256, 200])     # 200: blocks of K of unequal length
@pytest.mark.parametrize("threads", ["", "1"])     # "1": one thread computes every block
def test_a_training_step_with_dx_split_along_k_matches_torch(monkeypatch, hidden, threads):
    if threads:
        monkeypatch.setenv("TRACECOMP_THREADS", threads)
    program = _step_program(_train_twins(hidden, 0, steps=4))
    assert any("along K" in line for line in program), program
    assert any(f"sum of its {parallel._cpus()} partial products" in line for line in program)


@TWO_CPUS
def test_a_compiled_models_backward_splits_along_k_for_the_update_after_it():
    """compile(model): the backward's trained parameters (lowering.differentiated marks them) are
    written by the optimizer's update after the call (a fused step, by rows)."""
    forward = _train_twins(256, 2, compile_model=True)
    assert any("along K" in line for line in _step_program(forward, "backward"))
    assert not any("along K" in line for line in _step_program(forward, "forward"))


@TWO_CPUS
@pytest.mark.parametrize("room", [True, False])
def test_partials_lie_where_the_call_has_room_or_the_product_splits_by_columns(room):
    """The later blocks' partial products are a scratch value of their own, live in the
    product's step only: here in the buffer of an output written later (so a product the
    graph returns is split along K too); with no such room they would make the arena
    larger, and the product is split by C's columns instead."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 200)).astype(np.float32)
    w = rng.standard_normal((200, 256)).astype(np.float32)
    v = rng.standard_normal((256, 256)).astype(np.float32)

    def f(x, w, v):
        y = x @ w
        w.mul_(0.5)
        return (y, v * 2.0) if room else (y.relu(),)
    g = tc.compile(f)
    weight = tc.tensor(w.copy())
    got = g(tc.tensor(x), weight, tc.tensor(v))
    want = x.astype(np.float64) @ w.astype(np.float64)
    want = want if room else np.maximum(want, 0)
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    np.testing.assert_array_equal(weight.numpy(), w * 0.5)
    program, log = _step_program(g), g.fusion_log["forward"]
    assert "arena: 0 buffers" in log, log
    if not room:
        assert any("columns" in line for line in program) and "partial products (" not in log
        assert "partial products: none (they would take the arena from 0 to" in log
        return
    np.testing.assert_array_equal(got[1].numpy(), v * 2.0)
    along_k = [line for line in program if "along K" in line]
    assert along_k, program
    blocks = int(along_k[0].split(" in ")[1].split()[0])
    line = next(line for line in log.splitlines() if "partial products" in line)
    assert f"partial products ({blocks - 1}): %" in line and "'s buffer[" in line, line
    start, stop = map(int, line.split("[")[1].split(")")[0].split(", "))
    assert stop - start == (blocks - 1) * 64 * 256 * 4 and line.endswith("steps 0..0")
