"""The legacy, forward-pre-hook nn.utils.weight_norm / remove_weight_norm and
spectral_norm / remove_spectral_norm against torch 2.13: the FutureWarning, state_dict keys
(weight_g/weight_v, weight_orig/weight_u/weight_v) and metadata, values and gradients, the
u/v updates in training mode only (torch's u and v copied in first), a version-0 spectral
norm checkpoint, removal and the errors."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, assert_same_square_loss_step, with_torch_weights

RNG = np.random.default_rng(0)
LAYERS = {"Linear": ((5, 4), (3, 5)), "Tall": ((4, 6), (3, 4)), "Conv1d": ((2, 3, 3), (2, 2, 7)),
          "ConvTranspose1d": ((3, 2, 3), (2, 3, 6))}


def _twins(layer, apply):
    args, _ = LAYERS[layer]
    layer = "Linear" if layer == "Tall" else layer
    torch.manual_seed(0)
    ref = apply(torch, getattr(torch.nn, layer)(*args))
    return with_torch_weights(apply(tc, getattr(tc.nn, layer)(*args)), ref), ref


def _run(model, ref, layer):
    x = RNG.standard_normal(LAYERS[layer][1]).astype(np.float32)
    assert_same_square_loss_step(model, ref, x)


def _weight_norm(dim):
    def apply(lib, m):
        with pytest.warns(FutureWarning, match="`torch.nn.utils.weight_norm` is deprecated"):
            return lib.nn.utils.weight_norm(m, dim=dim)
    return apply


@pytest.mark.parametrize("layer", ["Linear", "Conv1d", "ConvTranspose1d"])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_keys_values_and_gradients(layer, dim):
    model, ref = _twins(layer, _weight_norm(dim))
    assert list(model.state_dict()) == list(ref.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert tuple(model.weight_g.shape) == tuple(ref.weight_g.shape)
    assert "weight" not in model._parameters and isinstance(model.weight, tc.Tensor)
    assert repr(model) == repr(ref)
    _run(model, ref, layer)
    assert_close(model.weight, ref.weight, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # the refused second weight_norm warns
def test_remove_weight_norm_and_its_errors():
    model, ref = _twins("Linear", _weight_norm(0))
    with pytest.raises(RuntimeError) as got:
        tc.nn.utils.weight_norm(model)
    with pytest.raises(RuntimeError) as want:
        torch.nn.utils.weight_norm(ref)
    assert str(got.value) == str(want.value)
    assert tc.nn.utils.remove_weight_norm(model) is model
    torch.nn.utils.remove_weight_norm(ref)
    assert list(model.state_dict()) == ["bias", "weight"] and not model._forward_pre_hooks
    assert isinstance(model.weight, tc.nn.Parameter)
    assert_close(model.weight, ref.weight)
    with pytest.raises(ValueError) as got:
        tc.nn.utils.remove_weight_norm(model)
    with pytest.raises(ValueError) as want:
        torch.nn.utils.remove_weight_norm(ref)
    assert str(got.value) == str(want.value)


def _spectral(**kw):
    return lambda lib, m: lib.nn.utils.spectral_norm(m, **kw)


@pytest.mark.parametrize("layer", ["Linear", "Conv1d", "ConvTranspose1d"])
@pytest.mark.parametrize("n_power_iterations", [1, 2])
def test_spectral_norm_trains_u_and_v_in_place_as_torch(layer, n_power_iterations):
    model, ref = _twins(layer, _spectral(n_power_iterations=n_power_iterations))
    assert list(model.state_dict()) == list(ref.state_dict()) == \
        ["bias", "weight_orig", "weight_u", "weight_v"]
    assert model.state_dict()._metadata == ref.state_dict()._metadata
    u = model.weight_u
    for _ in range(2):
        _run(model, ref, layer)
        for name in ("weight_u", "weight_v"):
            assert_close(getattr(model, name), getattr(ref, name), what=name)
    assert model.weight_u is u
    model.eval()
    ref.eval()
    before = u.numpy().copy()
    _run(model, ref, layer)
    assert np.array_equal(u.numpy(), before)


def test_remove_spectral_norm_and_its_errors():
    model, ref = _twins("Linear", _spectral())
    _run(model, ref, "Linear")
    with pytest.raises(RuntimeError) as got:
        tc.nn.utils.spectral_norm(model)
    with pytest.raises(RuntimeError) as want:
        torch.nn.utils.spectral_norm(ref)
    assert str(got.value) == str(want.value)
    tc.nn.utils.remove_spectral_norm(model)
    torch.nn.utils.remove_spectral_norm(ref)
    assert list(model.state_dict()) == ["bias", "weight"]
    assert_close(model.weight, ref.weight, rtol=1e-5)
    assert not model._state_dict_hooks
    with pytest.raises(ValueError) as got:
        tc.nn.utils.remove_spectral_norm(model)
    with pytest.raises(ValueError) as want:
        torch.nn.utils.remove_spectral_norm(ref)
    assert str(got.value) == str(want.value)
    with pytest.raises(ValueError) as got:
        tc.nn.utils.spectral_norm(tc.nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(ValueError) as want:
        torch.nn.utils.spectral_norm(torch.nn.Linear(3, 2), n_power_iterations=0)
    assert str(got.value) == str(want.value)


def test_a_version_0_spectral_norm_checkpoint_is_made_current():
    # a tall weight: W^T W is invertible, so v is well defined (for a wide one, torch's and
    # any pseudo-inverse of the singular W^T W in float32 give different, equally valid v)
    model, ref = _twins("Tall", _spectral())
    _run(model, ref, "Tall")
    # version 0 kept `weight` (W_orig / sigma) and no `v`, without the metadata entry
    old = {"bias": ref.bias.detach(), "weight_orig": ref.weight_orig.detach(),
           "weight_u": ref.weight_u.detach(), "weight": ref.weight.detach()}
    ref.load_state_dict(old)
    model.load_state_dict({k: tc.tensor(v.numpy()) for k, v in old.items()})
    assert_close(model.weight_v, ref.weight_v, rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("apply", ["weight_norm", "spectral_norm"])
def test_saving_the_whole_module_is_refused_and_its_state_dict_round_trips(apply, tmp_path):
    model = tc.nn.Sequential(getattr(tc.nn.utils, apply)(tc.nn.Linear(4, 3)))
    with pytest.raises(tc.errors.SerializationError, match="save model.state_dict()"):
        tc.save(model, tmp_path / "m.pt")
    tc.save(model.state_dict(), tmp_path / "sd.pt")
    twin = tc.nn.Sequential(getattr(tc.nn.utils, apply)(tc.nn.Linear(4, 3)))
    twin.load_state_dict(tc.load(tmp_path / "sd.pt"))
    model.eval()
    twin.eval()
    assert_close(twin(tc.ones(2, 4)), model(tc.ones(2, 4)))
