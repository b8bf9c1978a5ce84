"""Tensors a compiled function reaches from outside its arguments and modules (globals,
closures, a helper's globals): the graph holds their values as constants, so a call that
finds one changed (updated in place, or its name bound to another tensor) compiles again.
Before, such a call silently used the value from the first trace."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn

SCALE = tc.ones(3)
WEIGHT = tc.ones(3, requires_grad=True)
MASK = tc.tensor([1.0, 0.0, 1.0])


def _scaled(x):
    return x * SCALE


def _masked(x):         # reaches MASK through a helper: covered by its version
    return _apply_mask(x)


def _apply_mask(x):
    return x * MASK


def _same(got, want):
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)


def test_a_global_rebound_or_updated_in_place_is_read_again():
    global SCALE
    f = tc.compile(_scaled)
    x = tc.randn(3)
    try:
        for _ in range(2):
            _same(f(x), x * SCALE)
        SCALE = tc.full((3,), 2.0)          # the next batch, say
        _same(f(x), x * SCALE)
        SCALE.mul_(5)
        _same(f(x), x * SCALE)
        _same(f(x), x * SCALE)
        assert f.compiles == 3
    finally:
        SCALE = tc.ones(3)


def test_a_tensor_behind_a_helper_is_read_again_after_an_in_place_update():
    f = tc.compile(_masked)
    x = tc.randn(3)
    _same(f(x), x * MASK)
    before = MASK.clone()
    try:
        MASK.copy_(tc.tensor([0.0, 1.0, 0.0]))
        _same(f(x), x * MASK)
    finally:
        MASK.copy_(before)


def test_a_recompile_for_a_changed_outside_tensor_says_why():
    bias = tc.zeros(3)
    f = tc.compile(lambda x: x + bias, recompile_limit=1)
    x = tc.randn(3)
    f(x)
    bias.add_(1)
    with pytest.warns(UserWarning, match="outside its arguments"):
        _same(f(x), x + 1)


def test_a_closure_tensor_is_read_again():
    bias = tc.zeros(3)

    def add(x):
        return x + bias

    f = tc.compile(add)
    x = tc.randn(3)
    _same(f(x), x)
    bias.add_(1)
    _same(f(x), x + 1)


def test_a_global_weight_rebound_gets_the_gradient():
    global WEIGHT
    f = tc.compile(lambda x: (x * WEIGHT).sum())
    x = tc.randn(3)
    f(x).backward()
    old = WEIGHT
    try:
        WEIGHT = tc.full((3,), 3.0, requires_grad=True)
        out = f(x)
        out.backward()
        # sum(3 * x), not 3 * sum(x): equal up to rounding (x is random, unseeded)
        assert out.item() == pytest.approx(3 * x.sum().item(), rel=1e-6)
        _same(WEIGHT.grad, x)
        _same(old.grad, x)                  # only the first call's
    finally:
        WEIGHT = tc.ones(3, requires_grad=True)


def test_a_module_forward_reading_a_global_mask_follows_it():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x) * MASK

    model = Masked()
    compiled = tc.compile(model)
    x = tc.randn(2, 3)
    before = MASK.clone()
    with tc.no_grad():
        _same(compiled(x), model(x))
        try:
            MASK.fill_(2.0)
            _same(compiled(x), model(x))
        finally:
            MASK.copy_(before)


def test_constants_made_inside_keep_the_fast_path():
    f = tc.compile(lambda x: x * tc.tensor([1.0, 2.0, 3.0]) + tc.arange(3.0))
    x = tc.randn(3)
    f(x), f(x)
    assert f.last.outside is None and f._fast is not None
    _same(f(x), x * tc.tensor([1.0, 2.0, 3.0]) + tc.arange(3.0))
