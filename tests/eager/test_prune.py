"""nn.utils.prune against torch 2.13: the deterministic methods (l1_unstructured,
ln_structured, global_unstructured, custom_from_mask, identity) give torch's masks on the
same weights, state_dict keys weight_orig/weight_mask, gradients through the mask, pruning
twice (a PruningContainer), remove and is_pruned; the random methods prune exactly the
amount asked (they draw from another generator than torch's); errors in torch's words."""
import numpy as np
import pytest
import torch
import torch.nn.utils.prune as TP

import tracecomp as tc
import tracecomp.nn.utils.prune as P
from tests.helpers import assert_close, assert_same_square_loss_step, with_torch_weights

RNG = np.random.default_rng(0)


def _twins():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(),
                              torch.nn.Linear(64, 5))
    model = tc.nn.Sequential(tc.nn.Conv2d(2, 4, 3), tc.nn.Flatten(), tc.nn.Linear(64, 5))
    return with_torch_weights(model, ref), ref


def _run(model, ref):
    x = RNG.standard_normal((2, 2, 6, 6)).astype(np.float32)
    assert_same_square_loss_step(model, ref, x)


def _same_masks(model, ref):
    assert list(model.state_dict()) == list(ref.state_dict())
    for (name, b), (_, bt) in zip(model.named_buffers(), ref.named_buffers()):
        assert_close(b, bt, what=name)


CASES = {       # name -> what both libraries do to (Conv2d, Linear)
    "l1": lambda p, c, lin: (p.l1_unstructured(c, "weight", 0.3),
                             p.l1_unstructured(lin, "weight", amount=100)),
    "ln_structured": lambda p, c, lin: (p.ln_structured(c, "weight", 0.5, 2, 0),
                                        p.ln_structured(lin, "weight", 2, 1, dim=1)),
    "ln_inf_and_bias": lambda p, c, lin: (p.ln_structured(c, "weight", 1, float("inf"), -1),
                                          p.l1_unstructured(lin, "bias", 2)),
    "twice": lambda p, c, lin: (p.l1_unstructured(c, "weight", 0.2),
                                p.ln_structured(c, "weight", 1, 2, 0),
                                p.l1_unstructured(c, "weight", 0.25),
                                p.identity(lin, "weight")),
    "importance": lambda p, c, lin: p.l1_unstructured(
        lin, "weight", 0.5, importance_scores=(
            tc if p is P else torch).arange(320.0).reshape(5, 64).flip(1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_deterministic_pruning_matches_torch(case):
    model, ref = _twins()
    CASES[case](P, model[0], model[2])
    CASES[case](TP, ref[0], ref[2])
    _same_masks(model, ref)
    assert P.is_pruned(model) and not P.is_pruned(tc.nn.Linear(2, 2))
    _run(model, ref)


def test_pruning_twice_makes_a_container_and_remove_makes_it_permanent():
    model, ref = _twins()
    CASES["twice"](P, model[0], model[2])
    CASES["twice"](TP, ref[0], ref[2])
    hooks = list(model[0]._forward_pre_hooks.values())
    assert len(hooks) == 1 and isinstance(hooks[0], P.PruningContainer)
    assert [type(m).__name__ for m in hooks[0]] == \
        [type(m).__name__ for m in list(ref[0]._forward_pre_hooks.values())[0]]
    orig = model[0].weight_orig
    P.remove(model[0], "weight")
    TP.remove(ref[0], "weight")
    assert model[0].weight is orig and isinstance(orig, tc.nn.Parameter)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert_close(model[0].weight, ref[0].weight)
    with pytest.raises(ValueError) as got:
        P.remove(model[0], "weight")
    with pytest.raises(ValueError) as want:
        TP.remove(ref[0], "weight")
    assert str(got.value) == str(want.value)


def test_global_unstructured_and_custom_from_mask_match_torch():
    model, ref = _twins()
    for p, m in ((P, model), (TP, ref)):
        p.global_unstructured([(m[0], "weight"), (m[2], "weight"), (m[2], "bias")],
                              pruning_method=p.L1Unstructured, amount=0.6)
    _same_masks(model, ref)
    mask = (RNG.random((4,)) > 0.5).astype(np.float32)
    P.custom_from_mask(model[0], "bias", tc.tensor(mask))
    TP.custom_from_mask(ref[0], "bias", torch.tensor(mask))
    _same_masks(model, ref)
    _run(model, ref)
    with pytest.raises(TypeError) as got:
        P.global_unstructured([(model[2], "weight")], P.LnStructured, amount=1, n=2, dim=0)
    with pytest.raises(TypeError) as want:
        TP.global_unstructured([(ref[2], "weight")], TP.LnStructured, amount=1, n=2, dim=0)
    assert str(got.value).split(" Found")[0] == str(want.value).split(" Found")[0]


@pytest.mark.parametrize("amount", [0.3, 7])
def test_random_pruning_prunes_exactly_the_amount(amount):
    lin = P.random_unstructured(tc.nn.Linear(10, 4), "weight", amount)
    pruned = 40 - int(lin.weight_mask.sum().item())
    assert pruned == (amount if isinstance(amount, int) else round(amount * 40))
    assert np.array_equal(lin.weight.detach().numpy(),
                          (lin.weight_orig * lin.weight_mask).detach().numpy())
    conv = P.random_structured(tc.nn.Conv2d(3, 10, 3), "weight", amount=0.3, dim=0)
    kept = conv.weight_mask.sum(dim=(1, 2, 3)).numpy()
    assert sorted(set(kept.tolist())) == [0.0, 27.0] and (kept == 0).sum() == 3


def test_bad_amounts_and_dims_in_torch_words():
    calls = [
        lambda p, lin: p.l1_unstructured(lin, "weight", "a"),
        lambda p, lin: p.l1_unstructured(lin, "weight", 1.5),
        lambda p, lin: p.l1_unstructured(lin, "weight", -1),
        lambda p, lin: p.l1_unstructured(lin, "weight", 13),
        lambda p, lin: p.ln_structured(lin, "bias", 1, 2, 0),
        lambda p, lin: p.ln_structured(lin, "weight", 1, 2, 2),
        lambda p, lin: p.random_structured(lin, "weight", 1, dim=5),
    ]
    for k, call in enumerate(calls):
        lin, ref = tc.nn.Linear(3, 4), torch.nn.Linear(3, 4)
        with pytest.raises(Exception) as got:
            call(P, lin)
        with pytest.raises(Exception) as want:
            call(TP, ref)
        assert type(got.value) is type(want.value), k
        assert str(got.value).replace("torch.", "tracecomp.") == str(got.value), k
        assert str(got.value) == str(want.value).replace("torch.", "tracecomp."), k
        # a failed pruning leaves the parameter where it was
        assert "weight" in lin._parameters and not lin._forward_pre_hooks, k
