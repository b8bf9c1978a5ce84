"""Guards on a graph's inputs run on the input arrays before the native code
(codegen/llvm/input_guards.py): the program has no Python step for them, a gather through
the checked indices stays native, values match torch, and a value that fails still raises
torch's error before anything is written."""
import re

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen.llvm import input_guards
from tracecomp.ir import node_names
from tracecomp.passes import decompose, ranges
from tracecomp.tracing.tracer import trace

from helpers import assert_close, compiled_step, to_tc, train_step, twin_mlps


def _program(compiled):
    return "\n".join(compiled.fusion_log.values())


def test_a_whole_step_checks_its_targets_first_and_matches_torch():
    (model, opt), (ref, ref_opt) = twin_mlps("SGD", {"lr": 0.1, "momentum": 0.9})
    step, ref_step = compiled_step(model, opt), train_step(ref, ref_opt, torch)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((8, 6)).astype(np.float32))
    y = torch.tensor(np.array([0, 2, -100, 1, 2, -100, 0, 1]))     # -100: ignore_index
    for _ in range(3):
        assert_close(step(to_tc(x), to_tc(y)), ref_step(x, y), what="loss")
    for p, r in zip(model.parameters(), ref.parameters()):
        assert_close(p, r, what="parameter")
    text = _program(step)
    assert re.search(r"%\d+ check_range: checked on input %\w+ before the native code", text)
    assert "python:" not in text, text          # one native program, no numpy step
    assert not re.search(r"gather: a kernel of its own", text), text

    before = [p.detach().numpy().copy() for p in model.parameters()]
    bad = torch.tensor(np.array([0, 2, 3, 1, 2, 0, 0, 1]))      # 3 classes: 3 is out
    with pytest.raises(IndexError, match="Target 3 is out of bounds") as raised:
        step(to_tc(x), to_tc(bad))
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        ref_step(x, bad)
    assert any("check_range" in note for note in raised.value.__notes__)
    for p, b in zip(model.parameters(), before):    # the check ran before any update
        np.testing.assert_array_equal(p.detach().numpy(), b)


def test_a_guard_on_a_computed_value_stays_a_python_step():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    y = np.array([3, 0, 1, 2, 1])
    f = tc.compile(lambda a, t: tc.nn.functional.cross_entropy(a, t.flip(0)))
    assert_close(f(tc.tensor(logits), tc.tensor(y)),
                 torch.nn.functional.cross_entropy(torch.tensor(logits),
                                                   torch.tensor(y).flip(0)))
    assert re.search(r"python: %\d+ check_range", _program(f))
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        f(tc.tensor(logits), tc.tensor(np.array([4, 0, 1, 2, 1])))


def test_two_guards_of_one_input_stay_in_the_graph():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 2])

    def loss(lib, a, b, t):
        F = lib.nn.functional
        return F.cross_entropy(a, t) + F.cross_entropy(b, t)
    f = tc.compile(lambda a, b, t: loss(tc, a, b, t))
    assert_close(f(tc.tensor(a), tc.tensor(b), tc.tensor(y)),
                 loss(torch, torch.tensor(a), torch.tensor(b), torch.tensor(y)))
    assert "checked on input" not in _program(f)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):  # inside one range
        f(tc.tensor(a), tc.tensor(b), tc.tensor(np.array([0, 4, 1, 2])))


def test_an_embedding_index_out_of_range_raises_as_eagerly():
    emb = tc.nn.Embedding(10, 3)
    f = tc.compile(lambda i: emb(i) * 2)
    idx = np.array([[1, 9], [0, 4]])
    np.testing.assert_allclose(f(tc.tensor(idx)).detach().numpy(),
                               emb(tc.tensor(idx)).detach().numpy() * 2, rtol=1e-6)
    with pytest.raises(IndexError) as compiled_error:
        f(tc.tensor(np.array([[1, 10], [0, 4]])))
    with pytest.raises(IndexError) as eager_error:
        emb(tc.tensor(np.array([[1, 10], [0, 4]])))
    assert str(compiled_error.value) == str(eager_error.value)


def test_split_off_leaves_the_callers_graph_and_records_the_checked_range():
    graph = decompose.run(trace(
        lambda a, t: tc.nn.functional.cross_entropy(a, t), tc.randn(3, 7),
        tc.tensor(np.array([1, -100, 6]))))
    names = node_names(graph)
    ops = [n.op for n in graph.nodes]
    split, guards, log, split_names = input_guards.split_off(graph, names)
    assert [n.op for n in graph.nodes] == ops and "check_range" in ops      # untouched
    assert "check_range" not in [n.op for n in split.nodes]
    assert [g.position for g in guards] == [1] and len(log) == 1
    target = split.inputs[1]
    assert ranges.bounds(target) == (-100, 6)       # [0, 7) and the ignored -100
    # the nodes keep the names the dumps gave them
    assert {split_names[n] for n in split.nodes} <= set(names.values())
