"""Forward hooks and pre-hooks under compile(model): the model's own hooks run around its
compiled forward, its submodules' are traced into the graph, and a hook added or removed
after the first compile compiles again. Every result is the eager model's (and torch's)."""
import numpy as np
import torch

import tracecomp as tc

from helpers import with_torch_weights


def _pair():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    model = tc.nn.Sequential(tc.nn.Linear(4, 5), tc.nn.ReLU(), tc.nn.Linear(5, 2))
    return with_torch_weights(model, ref), ref


X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)


def _hooks(lib_model):
    """The same hooks on either library's model: the root's pre-hook scales the input,
    its forward hook shifts the output, the first layer's forward hook doubles its own."""
    lib_model.register_forward_pre_hook(lambda mod, args: (args[0] * 0.5,))
    lib_model.register_forward_hook(lambda mod, args, out: out + 1.0)
    return lib_model[0].register_forward_hook(lambda mod, args, out: out * 2.0)


def _same(got, want):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_hooks_of_the_model_and_its_layers_run_as_in_torch():
    model, ref = _pair()
    _hooks(model)
    _hooks(ref)
    compiled = tc.compile(model)
    for _ in range(3):          # the first call compiles, later ones repeat it
        _same(compiled(tc.from_numpy(X)).detach().numpy(),
              ref(torch.from_numpy(X)).detach().numpy())


def test_a_hook_added_or_removed_after_compiling_takes_effect():
    model, ref = _pair()
    compiled = tc.compile(model)
    x = tc.from_numpy(X)
    for _ in range(2):
        _same(compiled(x).detach().numpy(), model(x).detach().numpy())
    handle = model[2].register_forward_hook(lambda mod, args, out: out * 3.0)
    root = model.register_forward_hook(lambda mod, args, out: -out)
    for _ in range(2):
        _same(compiled(x).detach().numpy(), model(x).detach().numpy())
    handle.remove()
    root.remove()
    for _ in range(2):
        _same(compiled(x).detach().numpy(), model(x).detach().numpy())


def test_gradients_through_hooked_layers_follow_torch():
    model, ref = _pair()
    _hooks(model)
    _hooks(ref)
    compiled = tc.compile(model)
    for _ in range(2):
        model.zero_grad()
        ref.zero_grad()
        compiled(tc.from_numpy(X)).sum().backward()
        ref(torch.from_numpy(X)).sum().backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            _same(p.grad.numpy(), q.grad.numpy())
