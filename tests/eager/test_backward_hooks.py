"""Module backward hooks (nn/backward_hooks.py) against torch's: what the hooks see, in what
order, what replacing a gradient does, and compiled code refusing them."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import with_torch_weights

X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)


def _pair():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    model = tc.nn.Sequential(tc.nn.Linear(4, 5), tc.nn.Tanh(), tc.nn.Linear(5, 2))
    return with_torch_weights(model, ref), ref


def _arrays(grads):
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def _install(model, log):
    """Hooks that log what they see, on either library's model; the last layer's hook
    doubles its grad_input and the middle pre-hook halves its grad_output."""
    model[2].register_full_backward_pre_hook(
        lambda mod, go: log.append(("pre 2", _arrays(go))))
    model[2].register_full_backward_hook(
        lambda mod, gi, go: log.append(("full 2", _arrays(gi) + _arrays(go)))
        or (gi[0] * 2,))
    model[1].register_full_backward_pre_hook(
        lambda mod, go: log.append(("pre 1", _arrays(go))) or (go[0] * 0.5,))
    return model[0].register_full_backward_hook(
        lambda mod, gi, go: log.append(("full 0", _arrays(gi) + _arrays(go))))


def _run(lib, model, x_requires_grad):
    log = []
    _install(model, log)
    x = lib.from_numpy(X.copy())
    x.requires_grad_(x_requires_grad)
    model(x).sum().backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    return log, grads, (x.grad.numpy().copy() if x_requires_grad else None)


def _assert_same(a, b):
    for u, v in zip(a, b):
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("x_requires_grad", [False, True])
@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_hooks_see_and_replace_gradients_as_in_torch(x_requires_grad):
    model, ref = _pair()
    log, grads, xg = _run(tc, model, x_requires_grad)
    want_log, want_grads, want_xg = _run(torch, ref, x_requires_grad)
    assert [k for k, _ in log] == [k for k, _ in want_log]
    for (_, got), (_, want) in zip(log, want_log):
        assert len(got) == len(want)
        _assert_same(got, want)
    _assert_same(grads, want_grads)
    if x_requires_grad:
        _assert_same([xg], [want_xg])


def test_without_an_input_that_needs_grad_the_hook_warns_as_torch_does():
    model, _ = _pair()
    model[0].register_full_backward_hook(lambda mod, gi, go: None)
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        model(tc.from_numpy(X)).sum().backward()


class _TwoOut(torch.nn.Module):
    def forward(self, x):
        return x * 2, x * 3


class _TwoOutTc(tc.nn.Module):
    def forward(self, x):
        return x * 2, x * 3


def test_an_output_nothing_used_gets_none_and_a_removed_hook_stays_silent():
    seen = {}
    for lib, mod in ((torch, _TwoOut()), (tc, _TwoOutTc())):
        log = []
        handle = mod.register_full_backward_hook(
            lambda m, gi, go, log=log: log.append(_arrays(gi) + _arrays(go)))
        x = lib.from_numpy(X.copy()).requires_grad_()
        mod(x)[0].sum().backward()
        handle.remove()
        mod(x)[1].sum().backward()
        seen[lib] = log
    assert len(seen[tc]) == len(seen[torch]) == 1
    _assert_same(seen[tc][0], seen[torch][0])
    assert seen[tc][0][2] is None        # the second output's gradient


def test_compiling_a_module_with_backward_hooks_is_refused_clearly():
    model, _ = _pair()
    model[0].register_full_backward_hook(lambda mod, gi, go: None)
    with pytest.raises(tc.TraceError, match="backward hooks"):
        tc.compile(model, fullgraph=True)(tc.from_numpy(X))


def test_a_backward_hook_added_after_compiling_is_refused_too():
    model, _ = _pair()
    compiled = tc.compile(model, fullgraph=True)
    x = tc.from_numpy(X)
    compiled(x)
    compiled(x)
    model[2].register_full_backward_pre_hook(lambda mod, go: None)
    with pytest.raises(tc.TraceError, match="backward hooks"):
        compiled(x)
