"""A large constant whose elements are one value is traced as that value broadcast to its
shape (tracing/tracer.py, Tracer._one_value): the zeros a max-pool's gradient scatters
into no longer sit in the graph as megabytes of literals that every warm start copies
and hashes for the disk cache's key."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.ir import CONSTANT, LITERAL_MAX_ELEMENTS

from helpers import assert_close, train_step, with_torch_weights


def _constants(compiled):
    return [n for g in compiled.graphs.values() if hasattr(g, "nodes")
            for n in g.nodes if n.op == CONSTANT]


def test_a_pooled_convnets_step_holds_no_large_literal():
    torch.manual_seed(0)

    def build(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(1, 4, 3, padding=1), lib.nn.ReLU(),
                                 lib.nn.MaxPool2d(2), lib.nn.Flatten(), lib.nn.Linear(4 * 196, 10))
    ref = build(torch)
    model = with_torch_weights(build(tc), ref)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 1, 28, 28)).astype(np.float32)     # 100352 pooled inputs
    y = rng.integers(0, 10, 128)
    step = tc.compile(train_step(model, tc.optim.SGD(model.parameters(), lr=0.1)))
    ref_step = train_step(ref, torch.optim.SGD(ref.parameters(), lr=0.1), torch)
    for _ in range(2):
        assert_close(step(tc.tensor(x), tc.tensor(y)).item(),
                     ref_step(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q, what="parameter")
    assert max(c.size for c in _constants(step)) <= LITERAL_MAX_ELEMENTS


class _Holder:
    pass


@pytest.mark.parametrize("fill, one_value", [(0.0, True), (1.5, True), (np.nan, True),
                                             ("mixed zeros", False), ("ramp", False)])
def test_large_constants_of_one_value_become_a_broadcast(fill, one_value):
    n = LITERAL_MAX_ELEMENTS + 1
    if fill == "mixed zeros":       # 0.0 and -0.0 are equal, but not the same bits
        data = np.zeros(n, np.float32)
        data[7] = -0.0
    elif fill == "ramp":
        data = np.arange(n, dtype=np.float32)
    else:
        data = np.full(n, fill, np.float32)
    # held by an argument's object (not lifted as an input: deep_tensors.py), no grad:
    # compiled in as a constant
    held = _Holder()
    held.outside = tc.tensor(data)
    f = tc.compile(lambda x, h: 1.0 / (x + h.outside))
    x = tc.randn(n)
    np.testing.assert_array_equal(f(x, held).numpy(), 1.0 / (x.numpy() + data))
    sizes = [c.size for c in _constants(f)]
    assert (max(sizes) == 1) == one_value, sizes
