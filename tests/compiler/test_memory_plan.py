"""The memory plan (passes/memory.py): no two buffers live at the same time share a byte,
the arena is no bigger than the buffers laid end to end, graph outputs and views never get
arena space, offsets are 64-byte aligned, and the log reports the peak."""
import re

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.codegen.llvm.target import host
from tracecomp.passes import fusion, memory
from tracecomp.tracing.tracer import trace

rng = np.random.default_rng(0)


def arr(*shape, dtype=np.float32):
    return tc.tensor(rng.standard_normal(shape).astype(dtype))


def mlp(x, w1, b1, w2, b2, w3, b3):
    h = tc.relu(x @ w1.T + b1)
    h = tc.relu(h @ w2.T + b2)
    return h @ w3.T + b3


def mlp_args(batch=64):
    return [arr(batch, 784), arr(256, 784), arr(256), arr(256, 256), arr(256), arr(10, 256),
            arr(10)]


def softmax_views(x, w):
    h = (x @ w).reshape(4, 8, 6)               # a view of an intermediate, read later
    s = F.softmax(h, dim=-1)
    flat = tc.relu(x @ w).reshape(-1)          # a view that is an output: its base is fresh
    return (s * 2.0).sum(0), flat


def chain(x, w):
    for _ in range(5):                         # matmuls never fuse: every one is stored
        x = tc.tanh(x @ w) + x
    return x


def with_gather(x, w, idx):
    h = tc.relu(x @ w) * 2.0
    g = tc.gather(h, 1, idx)                   # no native lowering: the backend allocates
    return (g + 1.0) @ w[:3, :3]


CASES = {
    "mlp": (mlp, mlp_args),
    "softmax_views": (softmax_views, lambda: [arr(32, 16), arr(16, 6)]),
    "chain": (chain, lambda: [arr(16, 16), arr(16, 16)]),
    "gather": (with_gather, lambda: [arr(5, 7), arr(7, 7),
                                     tc.tensor(rng.integers(0, 7, (5, 3)))]),
}


def plan_for(name):
    fn, make = CASES[name]
    graph = trace(fn, *make())
    groups = fusion.run(graph, host())
    return graph, groups, memory.run(graph, groups)


@pytest.mark.parametrize("name", CASES)
def test_live_buffers_never_overlap(name):
    plan = plan_for(name)[2]
    buffers = list(plan.offsets)
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            (a0, a1), (b0, b1) = plan.lives[a], plan.lives[b]
            if a0 <= b1 and b0 <= a1:          # live at the same step
                lo_a, lo_b = plan.offsets[a], plan.offsets[b]
                assert lo_a + plan.sizes[a] <= lo_b or lo_b + plan.sizes[b] <= lo_a, \
                    f"{a} at {lo_a}+{plan.sizes[a]} overlaps {b} at {lo_b}+{plan.sizes[b]}"


@pytest.mark.parametrize("name", CASES)
def test_peak_alignment_and_what_gets_no_arena_space(name):
    graph, groups, plan = plan_for(name)
    assert plan.peak <= plan.unshared
    assert all(off % memory.ALIGN == 0 for off in plan.offsets.values())
    assert all(plan.offsets[b] + plan.sizes[b] <= plan.peak for b in plan.offsets)
    bases = {plan.base(o) for o in graph.outputs}
    assert not bases & set(plan.offsets), "an output (or an output view's base) in the arena"
    stored = {g.root for g in groups.groups if g.kind not in ("view", "constant", "opaque")}
    assert set(plan.fresh) == bases & stored
    for g in groups.groups:
        if g.kind in ("view", "constant", "opaque"):
            assert g.root not in plan.offsets
    assert all(v.op == "reshape" and plan.base(v).op != "reshape" for v in plan.alias)


@pytest.mark.parametrize("name", CASES)
def test_a_buffer_lives_until_its_last_reader_or_a_view_s(name):
    _, groups, plan = plan_for(name)
    for k, g in enumerate(groups.groups):
        for x in g.inputs:
            b = plan.base(x)
            if b in plan.lives:
                first, last = plan.lives[b]
                assert first < k <= last, f"{b} is read at step {k}, live {first}..{last}"


def test_mlp_reuses_freed_ranges_and_reports_the_peak():
    plan = plan_for("mlp")[2]
    # five intermediates of at most 64 x 256 floats: two ranges suffice (ping-pong)
    assert len(plan.offsets) == 5
    assert plan.peak == 2 * 64 * 256 * 4 < plan.unshared
    first = plan.log[0]
    m = re.match(r"arena: (\d+) buffers in (\d+) bytes \(vs (\d+) without reuse\)", first)
    assert m and tuple(map(int, m.groups())) == (5, plan.peak, plan.unshared), first


def test_views_alias_their_base_and_extend_its_life():
    graph, _, plan = plan_for("softmax_views")
    views = [n for n in graph.nodes if n.op == "reshape"]
    assert views and all(v in plan.alias for v in views)
    # the flattened relu output is a view: its base is allocated fresh, not in the arena
    flat = graph.outputs[1]
    assert plan.base(flat) in plan.fresh


def test_values_the_backend_allocates_get_no_buffer():
    graph, groups, plan = plan_for("gather")
    gather = next(n for n in graph.nodes if n.op == "gather")
    assert gather not in plan.offsets and gather not in plan.fresh
    # a backend that computes matmuls outside native code says so with `stored`
    plan2 = memory.run(graph, groups, stored=lambda g: g.kind in ("elementwise", "reduce"))
    assert not any(n.op == "matmul" for n in plan2.offsets)


def test_an_empty_plan():
    graph = trace(lambda x: x * 2.0, arr(3))
    plan = memory.run(graph, fusion.run(graph, host()))
    assert plan.offsets == {} and plan.peak == 0 and plan.unshared == 0
    assert plan.fresh == [graph.outputs[0]]


def late_product(x, w):
    h = tc.relu(x @ w)
    h = tc.relu(h @ w) * 2.0
    return (h.T @ x) + 1.0, h.sum()            # a large output, written last


def test_scratch_lives_in_outputs_not_yet_written():
    graph = trace(late_product, arr(64, 128), arr(128, 128))
    groups = fusion.run(graph, host())
    alone = memory.run(graph, groups)
    plan = memory.run(graph, groups, hosts=lambda o: True)
    step = {v: k for k, g in enumerate(groups.groups) for v in g.values()}
    assert plan.hosted and not set(plan.hosted) & set(plan.offsets)
    assert set(plan.hosted) | set(plan.offsets) == set(alone.offsets)
    assert plan.peak <= alone.peak
    assert sum(plan.sizes[b] for b in plan.offsets) < sum(alone.sizes[b] for b in alone.offsets)
    by_host = {}
    for b, (out, at) in plan.hosted.items():
        assert out in plan.fresh and at % memory.ALIGN == 0
        assert plan.lives[b][1] < step[out], f"{b} is read when {out} is written"
        assert at + plan.sizes[b] <= out.size * out.dtype.itemsize
        by_host.setdefault(out, []).append(b)
    for values in by_host.values():           # values in one output: as in the arena
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                (a0, a1), (b0, b1) = plan.lives[a], plan.lives[b]
                if a0 <= b1 and b0 <= a1:
                    lo_a, lo_b = plan.hosted[a][1], plan.hosted[b][1]
                    assert lo_a + plan.sizes[a] <= lo_b or lo_b + plan.sizes[b] <= lo_a
    assert any("buffer[" in line for line in plan.log)
    # an output that may not host (a donated one, say) gets nothing
    none = memory.run(graph, groups, hosts=lambda o: False)
    assert none.hosted == {} and none.offsets == alone.offsets


def test_values_a_python_step_reads_stay_in_the_arena():
    graph = trace(lambda x, w, idx: (tc.gather(tc.relu(x @ w) * 2.0, 1, idx) + 1.0,
                                     (x @ w).T @ x),
                  arr(5, 7), arr(7, 7), tc.tensor(rng.integers(0, 7, (5, 3))))
    groups = fusion.run(graph, host())
    plan = memory.run(graph, groups, stored=lambda g: g.kind != "opaque"
                      and not any(n.op == "gather" for n in g.nodes),
                      hosts=lambda o: True)
    gather_inputs = {x for g in groups.groups if any(n.op == "gather" for n in g.nodes)
                     for x in g.inputs}
    assert not gather_inputs & set(plan.hosted)
