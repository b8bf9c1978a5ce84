"""passes/buckets.py: a data-parallel step's all-reduces packed into few messages, with
the same values. No MPI here: the all-reduce's impl is replaced by an elementwise stand-in
(x * 3 + 1, what an elementwise reduction of each element does to a message, whatever
its layout), so the packed and the unpacked graph must agree to the bit."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen import interp
from tracecomp.ir import verify
from tracecomp.ops import collective
from tracecomp.passes import buckets
from tracecomp.tracing.tracer import trace


def _stand_in(x, *, op, gate=None):
    return np.asarray(x) * 3 + 1


@pytest.fixture
def stand_in_reduction(monkeypatch):
    # the split form: start computes the stand-in, wait hands its buffer on
    monkeypatch.setattr(collective.all_reduce_p, "impl", _stand_in)
    monkeypatch.setattr(collective.all_reduce_start_p, "impl", _stand_in)
    monkeypatch.setattr(collective.all_reduce_wait_p, "impl", lambda x: x)


def step(w1, b1, w2, x):
    # gradients of three parameters, reduced one by one, used before and after each other's
    # reduction (the update of w1 needs b1's reduced gradient too)
    g1, gb, g2 = (x.T @ x)[:4, :3] * w1, b1 * 2, w2.exp()
    r1 = collective.all_reduce(g1, "avg")
    r2 = collective.all_reduce(g2, "avg")
    rb = collective.all_reduce(gb, "avg")
    return w1 - 0.1 * r1 + rb.sum(), w2 - 0.1 * r2, collective.all_reduce(x, "max")


def args():
    rng = np.random.default_rng(0)
    return [tc.tensor(rng.standard_normal(s).astype(np.float32))
            for s in [(4, 3), (3,), (5, 2), (6, 4)]]


def test_one_message_per_kind_and_the_same_values(stand_in_reduction):
    graph = trace(step, *args())
    packed = buckets.run(graph)
    verify(packed)
    # the three 'avg' reductions are one message; the lone 'max' stays as it was
    assert buckets.message_count(graph) == 4 and buckets.message_count(packed) == 2
    inputs = [a.numpy() for a in args()]
    want = interp.compile_graph(graph)(inputs)
    got = interp.compile_graph(packed)(inputs)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_buckets_close_at_the_cap_in_the_order_gradients_are_ready(monkeypatch):
    # ready: w1's gradient (48 bytes), then b1's (12), then w2's (40); x's 'max' apart
    graph = trace(step, *args())
    monkeypatch.setattr(buckets, "FIRST_BUCKET_BYTES", 48)         # the first: w1's alone
    monkeypatch.setattr(buckets, "BUCKET_BYTES", 12)
    plan = buckets.plan(graph)
    assert [[m.shape for m in b] for b in plan] == [[(4, 3)], [(3,)], [(6, 4)], [(5, 2)]]
    monkeypatch.setattr(buckets, "FIRST_BUCKET_BYTES", 100)        # all three fit
    plan = buckets.plan(graph)
    assert [[m.shape for m in b] for b in plan] == [[(6, 4)], [(4, 3), (3,), (5, 2)]]
    assert buckets.message_count(buckets.run(graph)) == 2


def ops(graph):
    return [n.op for n in graph.nodes]


@pytest.fixture
def any_work_overlaps(monkeypatch):
    monkeypatch.setattr(buckets, "OVERLAP_WORK", 1)     # these graphs are small


def test_a_lone_reduction_is_split_around_the_work_that_does_not_read_it(
        stand_in_reduction, any_work_overlaps):
    def f(x, w):
        r = collective.all_reduce(x * 2, "sum")
        h = (w @ w).exp()             # independent work: it runs while the message travels
        return r + h.sum()
    a = args()[3]
    graph = trace(f, a, tc.tensor(np.eye(4, dtype=np.float32)))
    split = buckets.run(graph)
    verify(split)
    order = ops(split)
    assert order.index("all_reduce_start") < order.index("matmul") < \
        order.index("all_reduce_wait") < order.index("add")
    inputs = [a.numpy(), np.eye(4, dtype=np.float32)]
    np.testing.assert_array_equal(interp.compile_graph(split)(inputs)[0],
                                  interp.compile_graph(graph)(inputs)[0])


def test_reducing_a_reduced_value_never_shares_its_bucket(stand_in_reduction):
    # dist.all_reduce(t) twice on one tensor: the second reads the first's result
    def f(x):
        once = collective.all_reduce(x, "sum")
        return collective.all_reduce(once, "sum"), collective.all_reduce(x * 2, "sum")
    a = args()[0]
    graph = trace(f, a)
    assert sorted(len(b) for b in buckets.plan(graph)) == [1, 2]
    split = buckets.run(graph)
    verify(split)
    for got, want in zip(interp.compile_graph(split)([a.numpy()]),
                         interp.compile_graph(graph)([a.numpy()])):
        np.testing.assert_array_equal(got, want)


def test_compiled_native_code_runs_between_start_and_wait(stand_in_reduction,
                                                         any_work_overlaps):
    """The llvm backend: start and wait are Python steps with native segments between."""
    from tracecomp.codegen.llvm import backend

    def f(x, w):
        r = collective.all_reduce(x * 2, "avg")
        return r + (w @ w).exp().sum()
    x, w = args()[3].numpy(), np.eye(4, dtype=np.float32)
    graph = buckets.run(trace(f, tc.tensor(x), tc.tensor(w)))
    runner = backend.compile_graph(graph)
    kinds = [(s.kind, s.groups[0].root.op) for s in runner.layout.program]
    start = kinds.index(("python", "all_reduce_start"))
    wait = kinds.index(("python", "all_reduce_wait"))
    assert any(k == "native" for k, _ in kinds[start + 1:wait]), kinds
    np.testing.assert_allclose(runner([x, w])[0], (x * 2) * 3 + 1 + np.exp(w @ w).sum(),
                               rtol=1e-6)


def test_a_reduction_with_too_little_work_to_hide_stays_whole(stand_in_reduction):
    def f(x, w):
        r = collective.all_reduce(x * 2, "sum")
        return r + (w @ w).sum()      # 4**3 multiply-adds: far less than a thread wake-up
    graph = trace(f, args()[3], tc.tensor(np.eye(4, dtype=np.float32)))
    assert buckets.run(graph) is graph
    big = tc.tensor(np.eye(128, dtype=np.float32))   # 128**3 = 2**21 multiply-adds
    graph = trace(lambda x, w: collective.all_reduce(x * 2, "sum") + (w @ w).sum(),
                  args()[3], big)
    assert "all_reduce_wait" in ops(buckets.run(graph))


def test_a_graph_without_reductions_is_returned_as_it_is():
    graph = trace(lambda x: x * 2, args()[0])
    assert buckets.run(graph) is graph
