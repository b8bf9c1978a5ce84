"""nn.utils.parametrizations.weight_norm and spectral_norm against torch 2.13: state_dict keys
(original0/original1, original and _u/_v), repr, values and gradients, the power iteration's
in-place updates of u and v in training mode only (torch's u and v copied in first: they
start at random), a legacy weight_norm checkpoint loading into the new one, and errors."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, assert_same_square_loss_step, with_torch_weights

RNG = np.random.default_rng(0)
TP, P = torch.nn.utils.parametrizations, tc.nn.utils.parametrizations

LAYERS = {      # name -> (constructor arguments, input shape)
    "Linear": ((5, 4), (3, 5)),
    "Conv1d": ((2, 3, 3), (2, 2, 7)),
    "Conv2d": ((2, 3, 3), (2, 2, 6, 6)),
    "ConvTranspose2d": ((3, 2, 3), (2, 3, 4, 4)),
}


def _twins(layer, apply):
    args, _ = LAYERS[layer]
    torch.manual_seed(0)
    ref = apply(torch, getattr(torch.nn, layer)(*args))
    model = apply(tc, getattr(tc.nn, layer)(*args))
    return with_torch_weights(model, ref), ref     # _u and _v too: the same start


def _run(model, ref, layer, rtol=1e-4, atol=1e-5):
    """One forward and backward of both; the outputs and every gradient compared."""
    x = RNG.standard_normal(LAYERS[layer][1]).astype(np.float32)
    assert_same_square_loss_step(model, ref, x, rtol, atol)


def _same_buffers(model, ref):
    got, want = dict(model.named_buffers()), dict(ref.named_buffers())
    assert list(got) == list(want)
    for name in want:
        assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, what=name)


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_values_gradients_and_keys(layer, dim):
    model, ref = _twins(layer, lambda lib, m: lib.nn.utils.parametrizations.weight_norm(
        m, dim=dim))
    assert list(model.state_dict()) == list(ref.state_dict()) == \
        ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert repr(model) == repr(ref)
    g = model.parametrizations.weight.original0
    assert tuple(g.shape) == tuple(ref.parametrizations.weight.original0.shape)
    _run(model, ref, layer)


def test_weight_norm_loads_a_legacy_checkpoint():
    torch.manual_seed(0)
    with pytest.warns(FutureWarning):
        legacy = torch.nn.utils.weight_norm(torch.nn.Linear(5, 4))
    model = P.weight_norm(tc.nn.Linear(5, 4))
    ref = TP.weight_norm(torch.nn.Linear(5, 4))
    state = legacy.state_dict()
    assert "weight_g" in state
    model.load_state_dict({k: tc.tensor(v.numpy()) for k, v in state.items()})
    ref.load_state_dict(state)
    assert_close(model.weight, ref.weight)
    assert_close(model.parametrizations.weight.original0, legacy.weight_g)


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_trains_u_and_v_in_place_as_torch(layer, n_power_iterations):
    model, ref = _twins(layer, lambda lib, m: lib.nn.utils.parametrizations.spectral_norm(
        m, n_power_iterations=n_power_iterations))
    assert list(model.state_dict()) == list(ref.state_dict()) == \
        ["bias", "parametrizations.weight.original", "parametrizations.weight.0._u",
         "parametrizations.weight.0._v"]
    assert repr(model) == repr(ref)
    u = model.parametrizations.weight[0]._u
    # each forward in training mode: n steps of power iteration, whose float32 rounding
    # differs from torch's conv (oneDNN's AVX-512 sums on an Intel Xeon put one weight
    # gradient of 54 2.2e-4 apart, relative, after 3 iterations)
    for _ in range(2):
        _run(model, ref, layer, rtol=1e-3, atol=1e-4)
        _same_buffers(model, ref)
    assert model.parametrizations.weight[0]._u is u     # updated in place (torch's out=)
    before = u.numpy().copy()
    model.eval()
    ref.eval()
    _run(model, ref, layer, rtol=1e-3, atol=1e-4)
    assert np.array_equal(u.numpy(), before)            # eval: no iteration
    _same_buffers(model, ref)


def test_spectral_norm_dim_eps_a_vector_and_removal():
    model, ref = _twins("Linear", lambda lib, m: lib.nn.utils.parametrizations.spectral_norm(
        m, dim=1, eps=1e-3))
    _run(model, ref, "Linear")
    _same_buffers(model, ref)
    # a 1-D tensor is normalized as it is: no u and v
    vec = P.spectral_norm(tc.nn.Linear(3, 4), "bias")
    assert list(vec.state_dict()) == list(
        TP.spectral_norm(torch.nn.Linear(3, 4), "bias").state_dict())
    assert vec.bias.norm().item() == pytest.approx(1.0, rel=1e-6)
    # removal in training mode runs one more power iteration (torch's documented note)
    tc.nn.utils.parametrize.remove_parametrizations(model, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(ref, "weight")
    assert_close(model.weight, ref.weight, rtol=1e-5)
    assert type(model) is tc.nn.Linear


def test_spectral_norm_errors_in_torch_words():
    for kw in ({"n_power_iterations": 0}, {"dim": 2}):
        with pytest.raises(Exception) as got:
            P.spectral_norm(tc.nn.Linear(3, 4), **kw)
        with pytest.raises(Exception) as want:
            TP.spectral_norm(torch.nn.Linear(3, 4), **kw)
        assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))
    with pytest.raises(ValueError) as got:
        P.spectral_norm(tc.nn.Linear(3, 4), "nope")
    with pytest.raises(ValueError) as want:
        TP.spectral_norm(torch.nn.Linear(3, 4), "nope")
    assert str(got.value) == str(want.value)


def test_norm_except_dim_and_weight_norm_ops():
    v = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    for dim in (-1, -2, 0, 1, 2):
        assert_close(tc.norm_except_dim(tc.tensor(v), 2, dim),
                     torch.norm_except_dim(torch.tensor(v), 2, dim), what=f"dim {dim}")
    g = RNG.random((1, 4, 1)).astype(np.float32)
    assert_close(tc._weight_norm(tc.tensor(v), tc.tensor(g), 1),
                 torch._weight_norm(torch.tensor(v), torch.tensor(g), 1))
