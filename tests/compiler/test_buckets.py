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


@pytest.fixture
def stand_in_reduction(monkeypatch):
    monkeypatch.setattr(collective.all_reduce_p, "impl",
                        lambda x, *, op, gate=None: np.asarray(x) * 3 + 1)


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


def test_buckets_close_at_the_cap_in_reverse_graph_order(monkeypatch):
    graph = trace(step, *args())
    monkeypatch.setattr(buckets, "BUCKET_BYTES", 4 * (3 + 10))   # b1's and w2's, then w1's
    plan = buckets.plan(graph)
    assert [[m.shape for m in b] for b in plan] == [[(3,), (5, 2)]]   # w1's alone: kept
    assert buckets.message_count(buckets.run(graph)) == 3


def test_a_graph_without_two_of_a_kind_is_returned_as_it_is():
    graph = trace(lambda x: collective.all_reduce(x * 2, "sum"), args()[0])
    assert buckets.run(graph) is graph
