"""Reparametrized weights under tracecomp.compile, against torch 2.13 run eagerly: the new
parametrizations (weight_norm, spectral_norm: a property that runs in the traced forward),
the legacy hook-based weight_norm and spectral_norm, and pruning (forward pre-hooks that
rebind `weight`, traced for a child module and run around the compiled forward for the
compiled module itself). Outputs, gradients and the power iteration's u/v buffers, which
spectral norm updates in place under no_grad and the compiled call replays, must be torch's
(torch's u and v are copied in first: they start at random), with one compile."""
import numpy as np
import pytest
import torch
import torch.nn.utils.prune  # noqa: F401  (torch does not import it itself)

import tracecomp as tc
from tests.helpers import assert_close, with_torch_weights

RNG = np.random.default_rng(0)


def _reparametrize(lib, kind, m):
    """Apply `kind` to the MLP m's two Linear layers (root: to m itself, a Linear)."""
    utils = lib.nn.utils
    first, last = (m, None) if kind.endswith("root") else (m[0], m[2])
    if kind == "weight_norm":
        utils.parametrizations.weight_norm(first)
        utils.parametrizations.weight_norm(last, dim=None)
    elif kind == "spectral_norm":
        utils.parametrizations.spectral_norm(first)
        utils.parametrizations.spectral_norm(last, n_power_iterations=2)
    elif kind == "legacy_weight_norm":
        utils.weight_norm(first)
        utils.weight_norm(last, dim=1)
    elif kind == "legacy_spectral_norm":
        utils.spectral_norm(first)
        utils.spectral_norm(last, n_power_iterations=3)
    elif kind == "prune":
        utils.prune.l1_unstructured(first, "weight", 0.4)
        utils.prune.ln_structured(last, "weight", 1, 2, 0)
        utils.prune.l1_unstructured(last, "weight", 3)
    elif kind == "legacy_weight_norm_root":
        utils.weight_norm(first)
    elif kind == "legacy_spectral_norm_root":
        utils.spectral_norm(first)
    return m


KINDS = ["weight_norm", "spectral_norm", "legacy_weight_norm", "legacy_spectral_norm",
         "prune", "legacy_weight_norm_root", "legacy_spectral_norm_root"]


def _twins(kind):
    def build(lib):
        if kind.endswith("root"):
            return lib.nn.Linear(4, 3)
        return lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Tanh(), lib.nn.Linear(6, 3))
    torch.manual_seed(0)
    ref = _reparametrize(torch, kind, build(torch))
    model = _reparametrize(tc, kind, build(tc))
    return with_torch_weights(model, ref), ref


def _same_state(model, ref):
    """Every parameter's value and gradient, and every buffer, torch's."""
    got, want = dict(model.named_parameters()), dict(ref.named_parameters())
    assert list(got) == list(want)
    for name in want:
        assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, what=name)
        if want[name].grad is not None:
            assert_close(got[name].grad, want[name].grad, rtol=1e-4, atol=1e-5,
                         what=f"{name}.grad")
    got, want = dict(model.named_buffers()), dict(ref.named_buffers())
    assert list(got) == list(want)
    for name in want:
        assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, what=name)


@pytest.mark.filterwarnings("ignore::FutureWarning")    # the legacy weight_norm's
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_model_matches_torch(kind, backend):
    model, ref = _twins(kind)
    compiled = tc.compile(model, backend=backend)
    for mode in ("train", "train", "eval"):
        model.train(mode == "train")
        ref.train(mode == "train")
        x = RNG.standard_normal((5, 4)).astype(np.float32)
        y, yt = compiled(tc.tensor(x)), ref(torch.tensor(x))
        assert_close(y, yt, rtol=1e-4, atol=1e-5, what="output")
        (y * y).sum().backward()
        (yt * yt).sum().backward()
        _same_state(model, ref)
    # one per training mode; legacy spectral_norm's `weight` first holds weight.data (no
    # grad, as torch's), which the first call's hook replaces with one that has: once more
    assert compiled._compiled.compiles == 2 + (kind == "legacy_spectral_norm")


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_training_step_matches_torch(kind, backend):
    model, ref = _twins(kind)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)

    def step(lib, net, optimizer):
        def run(x, y):
            optimizer.zero_grad()
            loss = lib.nn.functional.mse_loss(net(x), y)
            loss.backward()
            optimizer.step()
            return loss
        return run
    compiled = tc.compile(step(tc, model, opt), backend=backend)
    ref_step = step(torch, ref, ref_opt)
    for _ in range(3):
        x = RNG.standard_normal((5, 4)).astype(np.float32)
        y = RNG.standard_normal((5, 3)).astype(np.float32)
        assert_close(compiled(tc.tensor(x), tc.tensor(y)).item(),
                     ref_step(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-4,
                     what="loss")
        _same_state(model, ref)
    assert compiled.compiles == 2       # the first step creates the momentum buffers


def test_compiled_spectral_norm_updates_u_and_v_in_place(backend):
    model, ref = _twins("spectral_norm")
    u = model[0].parametrizations.weight[0]._u
    before = u.numpy().copy()
    compiled = tc.compile(model, backend=backend)
    compiled(tc.ones(2, 4))
    ref(torch.ones(2, 4))
    assert model[0].parametrizations.weight[0]._u is u       # the same tensor, new values
    assert not np.array_equal(u.numpy(), before)
    _same_state(model, ref)
