"""Hooks on leaf tensors: Tensor.register_post_accumulate_grad_hook (torch's way to fuse an
optimizer step into the backward) against torch, and both it and register_hook on a
parameter inside a compiled training step, whose backward is traced (a hook registered or
removed after the compile is seen, not skipped)."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


@pytest.mark.parametrize("lib", [torch, tc], ids=["torch", "tracecomp"])
def test_post_accumulate_hooks_see_the_accumulated_grad_and_refuse_as_torch(lib):
    x = lib.ones(2, requires_grad=True)
    seen = []
    handle = x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.clone()))
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert [s.tolist() for s in seen] == [[3.0, 3.0], [6.0, 6.0]]
    handle.remove()
    (x * 3).sum().backward()
    assert len(seen) == 2
    x.register_hook(lambda g: g * 10)
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.clone()))
    x.grad = None
    (x * 3).sum().backward()
    assert seen[-1].tolist() == [30.0, 30.0]
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        lib.ones(2).register_post_accumulate_grad_hook(print)
    y = lib.ones(2, requires_grad=True)
    y.register_post_accumulate_grad_hook(lambda p: p.grad * 2)
    with pytest.raises(RuntimeError, match="post accumulate grad hooks should return None"):
        (y * 2).sum().backward()


def _optimizer_in_backward(lib, state, compiled=False):
    """torch's tutorial pattern: one Adam per parameter, stepped by its post-accumulate
    hook, so no .grad outlives the backward."""
    model = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(), lib.nn.Linear(8, 2))
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    opts = {p: lib.optim.Adam([p], lr=0.01) for p in model.parameters()}

    def hook(p):
        opts[p].step()
        opts[p].zero_grad()
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(hook)

    def step(x, y):
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss
    if compiled:
        step = tc.compile(step)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(4):
        x, y = (rng.standard_normal(s).astype(np.float32) for s in ((5, 4), (5, 2)))
        losses.append(float(step(lib.tensor(x), lib.tensor(y))))
    return losses, [p.detach().numpy().copy() for p in model.parameters()], \
        [p.grad for p in model.parameters()]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_an_optimizer_stepped_in_the_backward_trains_as_torchs(compiled):
    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).state_dict().items()}
    want = _optimizer_in_backward(torch, state)
    with warnings.catch_warnings():
        # the optimizers sit in the hook's closure, out of the trace's reach: a graph break
        warnings.simplefilter("ignore")
        got = _optimizer_in_backward(tc, state, compiled)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert all(g is None for g in got[2]) and all(g is None for g in want[2])


def _step_of(model):
    def step(x):
        loss = model(x).pow(2).sum()
        loss.backward()
        return loss
    return step


def test_a_compiled_step_runs_parameter_hooks_and_sees_them_change():
    tc.manual_seed(0)
    model = tc.nn.Linear(3, 2)
    step, compiled = _step_of(model), tc.compile(_step_of(model), fullgraph=True)
    x = tc.randn(4, 3)

    def grads(fn):
        model.zero_grad()
        fn(x)
        return model.weight.grad.clone(), model.bias.grad.clone()

    def same():
        for a, b in zip(grads(compiled), grads(step)):
            assert_close(a, b, atol=1e-6)
    same()
    handle = model.weight.register_hook(lambda g: g * 0.5)         # after the compile
    hooked = grads(compiled)[0]
    same()
    handle.remove()
    assert_close(hooked, 0.5 * grads(compiled)[0], atol=1e-6)
    same()
    def triple(p):
        p.grad.mul_(3)
    model.bias.register_post_accumulate_grad_hook(triple)
    same()


def test_a_hook_on_a_captured_tensor_breaks_the_graph_instead_of_being_compiled_in():
    w = tc.randn(3, requires_grad=True)
    w.register_hook(lambda g: g * 0)

    def step(x):
        loss = (x * w).sum()
        loss.backward()
        return loss
    x = tc.randn(4, 3)
    with pytest.raises(tc.TraceError, match="a hook on a tensor that is not a module's param"):
        tc.compile(step, fullgraph=True)(x)
    w.grad = None
    with pytest.warns(UserWarning, match="graph break"):
        tc.compile(step)(x)
    assert w.grad.tolist() == [0.0, 0.0, 0.0]


def test_an_argument_given_hooks_after_the_compile_is_a_graph_break_not_skipped():
    """The traced backward sees an argument's stand-in: its hooks would be skipped. An
    argument with hooks is a signature of its own (the fast paths leave it to the full
    one), and its trace breaks the graph, so the eager backward runs them."""
    model = tc.nn.Linear(3, 1)
    step = tc.compile(_step_of(model))
    got = []
    for k in range(4):
        x = tc.randn(4, 3, requires_grad=True)
        if k >= 2:
            x.register_hook(lambda g: g * 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step(x)
        got.append(float(x.grad.abs().sum()))
    assert got[0] > 0 and got[1] > 0 and got[2] == got[3] == 0.0
    with pytest.raises(tc.TraceError, match="a hook on a tensor that is not a module's param"):
        tc.compile(_step_of(model), fullgraph=True)(x)
