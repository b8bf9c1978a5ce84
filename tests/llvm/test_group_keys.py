"""Structural keys of fused groups (codegen/group_keys.py): groups with equal keys must emit
the same kernel text but for the name, since the backend emits only the first of them. Checked
on the groups of an unrolled LSTM's training graph and a small convolutional net, where
many groups repeat."""
import collections

import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp import nn
from tracecomp.codegen import group_keys
from tracecomp.codegen.llvm import backend, target
from tracecomp.codegen.llvm.runtime import engine
from tracecomp.passes import fusion


def _lstm_step():
    rnn, head = nn.LSTM(4, 8, 2), nn.Linear(8, 3)

    def step(x, y):
        h, _ = rnn(x)
        return F.cross_entropy(head(h).reshape(-1, 3), y.reshape(-1))
    return step, (tc.randn(6, 2, 4), tc.randint(0, 3, (6, 2)))


def _conv_step():
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(),    # equal blocks
                        nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(192, 2))

    def step(x, y):
        return F.cross_entropy(net(x), y)
    return step, (tc.randn(2, 1, 8, 8), tc.randint(0, 2, (2,)))


def _text(group):
    module = engine.new_module("keys")
    backend.BUILDERS[group.kind](module, group, "kernel")
    return str(module)


@pytest.mark.parametrize("make", [_lstm_step, _conv_step])
def test_equal_keys_emit_equal_kernels(make):
    fn, args = make()
    compiled = tc.compile(fn)
    compiled(*args).backward()
    graph = compiled.graphs["backward.optimized"]
    plan = fusion.run(graph, target.host())
    by_key = collections.defaultdict(list)
    for g in plan.groups:
        if g.kind in backend.BUILDERS:
            by_key[group_keys.key(g, False)].append(g)
    repeated = [groups for groups in by_key.values() if len(groups) > 1]
    assert repeated, "the graph should repeat some groups"
    for groups in repeated:
        texts = {_text(g) for g in groups}
        assert len(texts) == 1, groups[0].root
    # and groups with different keys differ somewhere a kernel can see
    assert len(by_key) > 1
