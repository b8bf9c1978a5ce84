"""nn.init against torch 2.13: gains and fans exactly, bounds exactly, and the statistics
(mean, std, range) of each random initialiser on large tensors."""
import math

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp.nn import init

SHAPES = [(64, 32), (16, 8, 3, 3), (5, 7, 2), (3, 4, 1, 2, 5)]


@pytest.mark.parametrize("nonlinearity,param", [
    ("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None),
    ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
    ("leaky_relu", 3), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == \
        torch.nn.init.calculate_gain(nonlinearity, param)


def test_calculate_gain_errors_match_torch():
    for args in (("swish",), ("leaky_relu", True), ("leaky_relu", "0.1")):
        with pytest.raises(ValueError) as e:
            init.calculate_gain(*args)
        with pytest.raises(ValueError) as te:
            torch.nn.init.calculate_gain(*args)
        assert str(e.value) == str(te.value)


@pytest.mark.parametrize("shape", SHAPES)
def test_fan_in_and_fan_out_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(tc.zeros(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_of_a_vector_is_an_error():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(tc.zeros(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(tc.zeros(4, 4), mode="fan_avg")


def _stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.mean(), a.std(), np.abs(a).max()


@pytest.mark.parametrize("a,mode,nonlinearity", [
    (0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
    (0, "fan_out", "relu"), (0.1, "fan_out", "leaky_relu"), (0, "fan_in", "tanh")])
def test_kaiming_uniform_bound_and_std(a, mode, nonlinearity):
    t = tc.empty(200, 50, 3, 3)
    fan = 50 * 9 if mode == "fan_in" else 200 * 9
    bound = init.calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    assert init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity) is t
    mean, std, amax = _stats(t)
    assert amax <= bound and amax > 0.99 * bound, (amax, bound)
    assert abs(mean) < 0.02 * bound and abs(std - bound / math.sqrt(3)) < 0.02 * bound


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_std(mode):
    t = tc.empty(300, 100)
    init.kaiming_normal_(t, mode=mode, nonlinearity="relu")
    want = math.sqrt(2.0) / math.sqrt(100 if mode == "fan_in" else 300)
    mean, std, _ = _stats(t)
    assert abs(mean) < 0.02 * want and abs(std - want) < 0.02 * want


@pytest.mark.parametrize("gain", [1.0, init.calculate_gain("relu")])
def test_xavier_uniform_and_normal(gain):
    t = tc.empty(120, 80, 3)
    want = gain * math.sqrt(2.0 / (80 * 3 + 120 * 3))
    init.xavier_uniform_(t, gain=gain)
    mean, std, amax = _stats(t)
    assert math.sqrt(3) * want * 0.99 < amax <= math.sqrt(3) * want
    assert abs(std - want) < 0.02 * want and abs(mean) < 0.02 * want
    init.xavier_normal_(t, gain=gain)
    mean, std, _ = _stats(t)
    assert abs(std - want) < 0.02 * want and abs(mean) < 0.02 * want


def test_simple_fills_match_torch():
    t = tc.empty(3, 4)
    assert init.constant_(t, 0.25) is t and np.all(t.numpy() == 0.25)
    assert np.all(init.zeros_(t).numpy() == 0) and np.all(init.ones_(t).numpy() == 1)
    assert np.array_equal(init.eye_(tc.empty(3, 4)).numpy(),
                          torch.nn.init.eye_(torch.empty(3, 4)).numpy())
    u = init.uniform_(tc.empty(100000), -2.0, 3.0).numpy()
    assert u.min() >= -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.02
    n = init.normal_(tc.empty(100000), 1.5, 0.5).numpy()
    assert abs(n.mean() - 1.5) < 0.01 and abs(n.std() - 0.5) < 0.01


def test_trunc_normal_stays_in_range():
    t = init.trunc_normal_(tc.empty(100000), mean=0.0, std=1.0, a=-1.0, b=1.5).numpy()
    assert t.min() >= -1.0 and t.max() <= 1.5
    ref = torch.nn.init.trunc_normal_(torch.empty(400000), 0.0, 1.0, -1.0, 1.5).numpy()
    assert abs(t.mean() - ref.mean()) < 0.01 and abs(t.std() - ref.std()) < 0.01


def test_init_on_parameters_is_untracked_and_keeps_the_tensor():
    p = nn.Parameter(tc.zeros(8, 8))
    init.kaiming_normal_(p)
    assert p.requires_grad and p.grad_fn is None and isinstance(p, nn.Parameter)
    (p * 2).sum().backward()
    assert np.all(p.grad.numpy() == 2)


def test_seeded_init_is_reproducible():
    tc.manual_seed(3)
    a = init.xavier_uniform_(tc.empty(4, 4)).numpy().copy()
    tc.manual_seed(3)
    assert np.array_equal(a, init.xavier_uniform_(tc.empty(4, 4)).numpy())
    g1, g2 = tc.Generator().manual_seed(7), tc.Generator().manual_seed(7)
    assert np.array_equal(init.normal_(tc.empty(5), generator=g1).numpy(),
                          init.normal_(tc.empty(5), generator=g2).numpy())


@pytest.mark.parametrize("make,fan_in", [
    (lambda: nn.Linear(400, 300), 400), (lambda: nn.Conv2d(16, 300, 5, groups=4), 4 * 25)])
def test_default_layer_init_bounds(make, fan_in):
    """torch's default: weight kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias the
    same bound."""
    m = make()
    bound = 1 / math.sqrt(fan_in)
    _, std, amax = _stats(m.weight)
    assert 0.99 * bound < amax <= bound and abs(std - bound / math.sqrt(3)) < 0.03 * bound
    assert _stats(m.bias)[2] <= bound


def test_embedding_default_init_is_standard_normal():
    mean, std, _ = _stats(nn.Embedding(1000, 64).weight)
    assert abs(mean) < 0.02 and abs(std - 1) < 0.02
