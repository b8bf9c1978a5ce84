"""compile(model)'s fast path (compiler/module_call.py): the latest call of a model again
skips the general compiled call, and every change it does not cover (new weights' values,
a new shape, a swapped layer, train()/eval(), grad mode) gives the eager model's numbers."""
import numpy as np
import pytest

import tracecomp as tc

nn = tc.nn


def _model():
    tc.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _x(rows=5, seed=0):
    return tc.from_numpy(np.random.default_rng(seed).standard_normal((rows, 6))
                         .astype(np.float32))


def _check(model, compiled, x):
    with tc.no_grad():
        want = model(x).numpy()
        got = compiled(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _warm():
    """An eval model, compiled and called twice (the second call leaves the fast path)."""
    model = _model().eval()
    compiled, x = tc.compile(model), _x()
    _check(model, compiled, x)
    _check(model, compiled, x)
    return model, compiled, x


def test_repeated_inference_skips_the_general_call(monkeypatch):
    model, compiled, x = _warm()

    def general(*_):
        raise AssertionError("the call took the general compiled call")
    monkeypatch.setattr(compiled._compiled, "_call", general)
    for seed in range(3):       # new values of the same shape are the same call
        _check(model, compiled, _x(seed=seed))
    with tc.no_grad():
        model[0].weight.mul_(0.5)       # an update in place is read as it is
    _check(model, compiled, x)


def _new_weight_values(model):
    model[0].weight.data = tc.ones(8, 6)


def _new_weight_shape(model):
    model[3].weight.data = tc.ones(3, 8)[:2].contiguous()
    model[3].bias.data = tc.zeros(2)


def _swapped_layer(model):
    tc.manual_seed(1)
    model[3] = nn.Linear(8, 3)


def _train_mode(model):
    model.train()


def _frozen_weight(model):
    model[0].weight.requires_grad_(False)


@pytest.mark.parametrize("change", [_new_weight_values, _new_weight_shape, _swapped_layer,
                                    _train_mode, _frozen_weight])
def test_a_changed_model_follows_eager(change):
    model, compiled, x = _warm()
    change(model)
    _check(model, compiled, x)
    _check(model, compiled, _x(rows=7, seed=3))     # and a new batch size


def test_grad_mode_on_after_inference_still_differentiates():
    model, compiled, x = _warm()
    compiled(x).sum().backward()
    got = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for g, p in zip(got, model.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-5, atol=1e-6)


def _mlp(seed=0):
    tc.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def _train(model, run, steps, change=None):
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    y = tc.from_numpy(np.array([0, 2, 1, 1, 0]))
    for i in range(steps):
        if change is not None and i == 2:
            change(model)
        opt.zero_grad()
        tc.nn.functional.cross_entropy(run(_x(seed=i)), y).backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def _freeze_first(model):
    model[0].weight.requires_grad_(False)


@pytest.mark.parametrize("change", [None, _freeze_first])
def test_training_through_the_fast_path_follows_eager(change, monkeypatch):
    eager = _mlp()
    want = _train(eager, eager, 5, change)
    model = _mlp()
    compiled = tc.compile(model)
    if change is None:      # count the calls that reach the general path
        calls = {"general": 0}
        general = compiled._compiled._call

        def counting(*a, **k):
            calls["general"] += 1
            return general(*a, **k)
        monkeypatch.setattr(compiled._compiled, "_call", counting)
    got = _train(model, compiled, 5, change)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    if change is None:
        assert calls["general"] == 1    # the first call compiles; the rest repeat it
