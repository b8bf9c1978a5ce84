"""Value ranges (passes/ranges.py) and what the llvm backend does with them: a gather whose
indices provably lie in range runs natively, any other keeps its checked numpy impl.

The bounds are checked as exact properties of small traced graphs; the native paths are
checked against eager results (cross_entropy with ignore_index, forward and gradients), and
an out-of-range target must still raise torch's message from a compiled step.
"""
import re

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.nn import functional as F
from tracecomp.ops.indexing import check_range, gather
from tracecomp.passes import ranges
from tracecomp.tracing.tracer import trace


def _node(graph, op):
    return next(n for n in graph.nodes if n.op == op)


def test_check_range_and_where_bound_a_class_target():
    def fn(t):
        c = check_range(t, 0, 10, "bad {value}", ignore=-100)
        return tc.where(c != -100, c, 0), c
    g = trace(fn, tc.tensor(np.array([1, 2, -100])))
    assert ranges.bounds(_node(g, "check_range")) == (-100, 9)     # the guard lets -100 in
    assert ranges.bounds(_node(g, "where")) == (0, 9)              # where takes it out


def test_unknown_values_have_no_bounds():
    g = trace(lambda t: tc.where(t != 3, t, 0) + 1, tc.tensor(np.array([1, 2])))
    assert ranges.bounds(_node(g, "where")) is None       # t is unchecked
    assert ranges.bounds(_node(g, "add")) is None         # add is not a known rule
    f = trace(lambda x: x * 2, tc.randn(3))
    assert ranges.bounds(_node(f, "mul")) is None         # not an integer tensor


def test_argmax_bounds_and_views_keep_them():
    g = trace(lambda x: tc.argmax(x, 1, keepdim=True).reshape(-1), tc.randn(4, 7))
    assert ranges.bounds(_node(g, "argmax")) == (0, 6)
    assert ranges.bounds(_node(g, "reshape")) == (0, 6)


def _ce_step(lib_model, x, y, ignore_index):
    for p in lib_model.parameters():
        p.grad = None
    loss = F.cross_entropy(lib_model(x), y, ignore_index=ignore_index)
    loss.backward()
    return float(loss), [p.grad.numpy().copy() for p in lib_model.parameters()]


@pytest.mark.parametrize("whole_step", [False, True])
def test_cross_entropy_gathers_natively_and_matches_eager(whole_step):
    tc.manual_seed(0)
    model = tc.nn.Linear(6, 5)
    rng = np.random.default_rng(0)
    x = tc.tensor(rng.standard_normal((8, 6)).astype(np.float32))
    y = tc.tensor(np.array([0, 4, -1, 2, 3, -1, 1, 4]))
    want, want_grads = _ce_step(model, x, y, -1)
    if whole_step:
        @tc.compile
        def step(a, b):
            for p in model.parameters():
                p.grad = None
            loss = F.cross_entropy(model(a), b, ignore_index=-1)
            loss.backward()
            return loss
        got = step(x, y)
        got_grads = [p.grad.numpy() for p in model.parameters()]
        logs = step.fusion_log
    else:
        cmodel = tc.compile(model)
        got, got_grads = _ce_step(cmodel, x, y, -1)
        logs = cmodel.fusion_log
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    if whole_step:      # gather and its gradient's scatter_add are kernels, not numpy steps
        text = "\n".join(logs.values())
        assert not re.search(r"%\d+ (gather|scatter_add): a kernel of its own", text), text
        # the target's guard runs on the input before the native code (input_guards.py)
        assert re.search(r"%\d+ check_range: checked on input %\w+ before the native code",
                         text), text


def test_an_out_of_range_target_still_raises_in_a_compiled_step():
    model = tc.nn.Linear(3, 4)

    @tc.compile
    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss
    x = tc.randn(2, 3)
    step(x, tc.tensor(np.array([1, 3])))
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        step(x, tc.tensor(np.array([1, 4])))


def test_an_unchecked_gather_keeps_its_checked_numpy_impl():
    @tc.compile
    def pick(x, idx):
        return gather(x, 1, idx) * 2
    x = tc.randn(2, 3)
    pick(x, tc.tensor(np.array([[0], [2]])))
    assert re.search(r"gather: a kernel of its own \(no native lowering\)",
                     "\n".join(pick.fusion_log.values()))
    with pytest.raises(Exception, match="out of bounds"):
        pick(x, tc.tensor(np.array([[0], [3]])))
