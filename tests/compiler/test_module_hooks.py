"""Forward hooks and pre-hooks under compile(model): the model's own hooks run around its
compiled forward, its submodules' are traced into the graph, and a hook added or removed
after the first compile compiles again. Every result is the eager model's (and torch's)."""
import numpy as np
import pytest
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


def test_a_gradient_hook_inside_compiled_code_is_refused_not_dropped():
    # Grad-CAM's pattern: a layer's forward hook registers a hook for its output's gradient.
    # The compiled backward never runs it; this used to be silent (and left the hook on a
    # stand-in shared by every traced tensor). The root model's own hooks run outside the
    # graph, so there the same hook still fires.
    seen = []

    def watch(mod, args, out):
        out.register_hook(lambda g: seen.append(g.shape))
    model, _ = _pair()
    handle = model[0].register_forward_hook(watch)
    with pytest.raises(tc.TraceError, match="register_hook.*inside compiled code"):
        tc.compile(model, fullgraph=True)(tc.from_numpy(X).requires_grad_())
    handle.remove()
    model.register_forward_hook(watch)
    tc.compile(model, fullgraph=True)(tc.from_numpy(X).requires_grad_()).sum().backward()
    assert seen == [(3, 2)]


def test_retain_grad_inside_compiled_code_is_refused_not_dropped():
    def f(x):
        y = x * 2
        y.retain_grad()
        return (y * y).sum()
    with pytest.raises(tc.TraceError, match="retain_grad.*inside compiled code"):
        tc.compile(f, fullgraph=True)(tc.ones(3, requires_grad=True))
    out = tc.compile(f, fallback="eager")(tc.ones(3, requires_grad=True))
    assert out.item() == 12.0


def test_the_compiled_models_own_backward_hook_runs_at_every_backward():
    """compile(model) with a full backward hook on the model itself: it runs around the
    compiled forward, as its forward hooks do (it was never called)."""
    def run(lib):
        torch.manual_seed(5)
        model = lib.nn.Linear(3, 2)
        if lib is tc:
            model = with_torch_weights(model, run(torch)[1])
        seen = []
        model.register_full_backward_hook(lambda m, gin, gout: seen.append(gout[0] * 1))
        forward = tc.compile(model) if lib is tc else model
        x = lib.tensor(np.arange(12, dtype=np.float32).reshape(4, 3), requires_grad=True)
        for _ in range(2):
            forward(x).pow(2).sum().backward()
        return seen, model
    (got, _), (want, _) = run(tc), run(torch)
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        _same(g.detach().numpy(), w.detach().numpy())
