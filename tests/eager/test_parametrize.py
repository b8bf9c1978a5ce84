"""nn.utils.parametrize against torch 2.13: the class swap (ParametrizedLinear), state_dict
keys, repr, values and gradients through one and several parametrizations, right_inverse
on assignment, sequences of originals, removal, cached(), and the errors in torch's words."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrize as TP

import tracecomp as tc
import tracecomp.nn.utils.parametrize as P
from tests.helpers import assert_close, assert_same_square_loss_step, with_torch_weights


def _symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).T

        def right_inverse(self, A):
            return A.triu()
    return Symmetric()


def _scale(lib, s=2.0):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * s

        def right_inverse(self, A):
            return A / s
    return Scale()


def _halves(lib):
    """A parametrization of two originals: weight = a + b, right_inverse = (w/2, w/2)."""
    class Halves(lib.nn.Module):
        def forward(self, a, b):
            return a + b

        def right_inverse(self, w):
            return w / 2, w / 2
    return Halves()


def _twins(register):
    """(tracecomp Linear(4, 4), torch's) with the same weights, each given `register`(lib,
    module) (its parametrizations)."""
    torch.manual_seed(0)
    ref = torch.nn.Linear(4, 4)
    model = with_torch_weights(tc.nn.Linear(4, 4), ref)
    register(tc, model)
    register(torch, ref)
    return model, ref


def _check_forward_backward(model, ref):
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    assert_same_square_loss_step(model, ref, x, rtol=1e-5, atol=1e-6)


def _no_torch(text):
    return text.replace("torch.", "tracecomp.")


def test_one_parametrization_swaps_the_class_and_keys_as_torch():
    model, ref = _twins(lambda lib, m: (lib.nn.utils.parametrize.register_parametrization(
        m, "weight", _symmetric(lib))))
    assert type(model).__name__ == type(ref).__name__ == "ParametrizedLinear"
    assert P.type_before_parametrizations(model) is tc.nn.Linear
    assert isinstance(model, tc.nn.Linear)
    assert repr(model) == repr(ref)
    assert list(model.state_dict()) == list(ref.state_dict()) == \
        ["bias", "parametrizations.weight.original"]
    assert P.is_parametrized(model) and P.is_parametrized(model, "weight")
    assert not P.is_parametrized(model, "bias")
    assert "weight" not in model._parameters
    assert_close(model.weight, ref.weight, what="weight")
    assert np.allclose(model.weight.detach().numpy(), model.weight.detach().numpy().T)
    _check_forward_backward(model, ref)


def test_assigning_runs_right_inverse_into_the_same_original():
    model, ref = _twins(lambda lib, m: lib.nn.utils.parametrize.register_parametrization(
        m, "weight", _symmetric(lib)))
    original = model.parametrizations.weight.original
    a = np.random.default_rng(2).standard_normal((4, 4)).astype(np.float32)
    model.weight = tc.tensor(a + a.T)
    ref.weight = torch.tensor(a + a.T)
    assert model.parametrizations.weight.original is original     # the optimizer's tensor
    assert_close(original, ref.parametrizations.weight.original, what="original")
    assert_close(model.weight, ref.weight, what="weight")


def test_several_parametrizations_apply_in_order():
    def register(lib, m):
        lib.nn.utils.parametrize.register_parametrization(m, "weight", _symmetric(lib))
        lib.nn.utils.parametrize.register_parametrization(m, "weight", _scale(lib, 3.0))
    model, ref = _twins(register)
    assert repr(model) == repr(ref)
    assert len(model.parametrizations.weight) == 2
    assert_close(model.weight, ref.weight, what="weight")
    _check_forward_backward(model, ref)
    model.weight = tc.ones(4, 4)
    ref.weight = torch.ones(4, 4)
    assert_close(model.parametrizations.weight.original, ref.parametrizations.weight.original)


def test_a_sequence_of_originals_is_original0_original1():
    model, ref = _twins(lambda lib, m: lib.nn.utils.parametrize.register_parametrization(
        m, "weight", _halves(lib)))
    assert list(model.state_dict()) == list(ref.state_dict()) == \
        ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert isinstance(model.parametrizations.weight.original0, tc.nn.Parameter)
    _check_forward_backward(model, ref)
    with pytest.raises(ValueError) as got:
        P.remove_parametrizations(model, "weight", leave_parametrized=False)
    with pytest.raises(ValueError) as want:
        TP.remove_parametrizations(ref, "weight", leave_parametrized=False)
    assert str(got.value) == str(want.value)
    P.remove_parametrizations(model, "weight")
    TP.remove_parametrizations(ref, "weight")
    assert type(model) is tc.nn.Linear and list(model.state_dict()) == ["bias", "weight"]
    assert isinstance(model.weight, tc.nn.Parameter)
    assert_close(model.weight, ref.weight)


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations_restores_the_class_and_the_parameter(leave):
    def register(lib, m):
        lib.nn.utils.parametrize.register_parametrization(m, "weight", _scale(lib, 2.0))
    model, ref = _twins(register)
    original = model.parametrizations.weight.original
    P.remove_parametrizations(model, "weight", leave_parametrized=leave)
    TP.remove_parametrizations(ref, "weight", leave_parametrized=leave)
    assert type(model) is tc.nn.Linear and not hasattr(model, "parametrizations")
    assert model.weight is original         # same identity: optimizers keep working
    assert_close(model.weight, ref.weight)
    assert repr(model) == repr(ref)
    assert not hasattr(tc.nn.Linear, "weight")     # the property left with its class


def test_unsafe_allows_a_new_shape_and_the_checks_say_what_changed():
    class Flat(tc.nn.Module):
        def forward(self, x):
            return x.reshape(-1)

    class FlatT(torch.nn.Module):
        def forward(self, x):
            return x.reshape(-1)
    model, ref = tc.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with pytest.raises(ValueError) as got:
        P.register_parametrization(model, "weight", Flat())
    with pytest.raises(ValueError) as want:
        TP.register_parametrization(ref, "weight", FlatT())
    assert str(got.value) == _no_torch(str(want.value))
    assert type(model) is tc.nn.Linear and "weight" in model._parameters   # nothing changed
    P.register_parametrization(model, "weight", Flat(), unsafe=True)
    assert model.weight.shape == (6,)
    with pytest.raises(ValueError) as got:
        P.register_parametrization(tc.nn.Linear(3, 2), "nope", Flat())
    with pytest.raises(ValueError) as want:
        TP.register_parametrization(torch.nn.Linear(3, 2), "nope", FlatT())
    assert str(got.value) == str(want.value)
    with pytest.raises(ValueError) as got:
        P.remove_parametrizations(tc.nn.Linear(3, 2), "weight")
    with pytest.raises(ValueError) as want:
        TP.remove_parametrizations(torch.nn.Linear(3, 2), "weight")
    assert str(got.value) == str(want.value)


def test_a_dtype_change_is_refused_in_torch_words():
    class Half(tc.nn.Module):
        def forward(self, x):
            return x.double()

    class HalfT(torch.nn.Module):
        def forward(self, x):
            return x.double()
    with pytest.raises(ValueError) as got:
        P.register_parametrization(tc.nn.Linear(3, 2), "weight", Half())
    with pytest.raises(ValueError) as want:
        TP.register_parametrization(torch.nn.Linear(3, 2), "weight", HalfT())
    assert str(got.value) == _no_torch(str(want.value))


def test_cached_computes_each_parametrized_tensor_once():
    calls = []

    class Counted(tc.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 2
    model = P.register_parametrization(tc.nn.Linear(3, 3), "weight", Counted())
    calls.clear()
    with P.cached():
        w1, w2 = model.weight, model.weight
        assert w1 is w2 and len(calls) == 1
        (w1.sum() + w2.sum()).backward()
    assert_close(model.parametrizations.weight.original.grad, np.full((3, 3), 4.0, np.float32))
    assert model.weight is not model.weight and len(calls) == 3     # outside: every access


def test_buffers_and_training_mode_follow_torch():
    model = tc.nn.BatchNorm1d(3)
    model.eval()
    scale = _scale(tc)
    P.register_parametrization(model, "running_var", scale)
    assert not scale.training                   # takes the module's mode, as torch's
    assert list(model.state_dict()) == list(
        TP.register_parametrization(torch.nn.BatchNorm1d(3), "running_var",
                                    _scale(torch)).state_dict())
    assert "running_var" not in model._buffers
    assert_close(model.running_var, np.full(3, 1.0, np.float32))


def test_deepcopy_and_transfer_keep_the_parametrizations():
    model, _ = _twins(lambda lib, m: lib.nn.utils.parametrize.register_parametrization(
        m, "weight", _symmetric(lib)))
    twin = copy.deepcopy(model)
    assert type(twin) is type(model)
    assert twin.parametrizations.weight.original is not model.parametrizations.weight.original
    assert_close(twin.weight, model.weight)
    other = tc.nn.Linear(4, 4)
    P.transfer_parametrizations_and_params(model, other)
    assert P.is_parametrized(other, "weight")
    assert_close(other.weight, model.weight)
    with pytest.raises(RuntimeError, match="Serialization of parametrized modules"):
        model.__getstate__()


def test_saving_a_parametrized_module_is_refused_as_torch_does(tmp_path):
    model, ref = _twins(lambda lib, m: lib.nn.utils.parametrize.register_parametrization(
        m, "weight", _symmetric(lib)))
    with pytest.raises(RuntimeError) as got:
        tc.save(tc.nn.Sequential(model), tmp_path / "m.pt")
    with pytest.raises(RuntimeError) as want:
        torch.save(torch.nn.Sequential(ref), tmp_path / "t.pt")
    assert str(got.value) == str(want.value)
