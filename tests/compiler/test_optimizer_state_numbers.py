"""A Python number in an optimizer's state: third-party optimizers written before torch kept
`step` in a tensor (labml's, AdaBelief's, many papers' code) start it at `state['step'] = 0`
and count with `state['step'] += 1`. Compiled, such a count is in the signature, and once
the step moves it, it is fed as an input and written back as a Python number after each
call (compiler/state.py Snapshot), so a whole training step compiles twice in all instead
of breaking the graph. Where the code branches on the count, or compile(dynamic=False),
the step is a graph break, with eager's numbers."""
import math
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc


def _adam_class(lib, branch=False):
    class CountingAdam(lib.optim.Optimizer):
        """Adam as old code writes it: the step count a Python int in the state."""

        def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

        @lib.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["exp_avg"] = lib.zeros_like(p)
                        state["exp_avg_sq"] = lib.zeros_like(p)
                    state["step"] += 1
                    state["exp_avg"].mul_(b1).add_(p.grad, alpha=1 - b1)
                    state["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    lr = group["lr"] * (0.5 if branch and state["step"] > 2 else 1.0)
                    size = lr * math.sqrt(1 - b2 ** state["step"]) / (1 - b1 ** state["step"])
                    p.addcdiv_(state["exp_avg"], state["exp_avg_sq"].sqrt().add_(group["eps"]),
                               value=-size)
    return CountingAdam


def _run(lib, compile_kw=None, branch=False, steps=6, reset_at=None):
    """Losses, final weights and the counts of a 2-layer MLP trained by CountingAdam (torch's
    initial weights for both libraries); compile_kw: compile the whole step so."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    model = lib.nn.Sequential(lib.nn.Linear(8, 16), lib.nn.Tanh(), lib.nn.Linear(16, 4))
    model.load_state_dict({k: lib.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    opt = _adam_class(lib, branch)(model.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    fn = step if compile_kw is None else tc.compile(step, **compile_kw)
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((32, 8)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 4, 32))
    losses = []
    for t in range(steps):
        if t == reset_at:       # moved from outside (as a resumed run does): fed, not a constant
            for entries in opt.state.values():
                entries["step"] = 100
        losses.append(float(fn(x, y).detach()))
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    counts = [entries["step"] for entries in opt.state.values()]
    return losses, weights, counts, fn


@pytest.mark.parametrize("reset_at", [None, 4])
def test_a_python_step_count_in_optimizer_state_is_fed(reset_at):
    want = _run(torch, reset_at=reset_at)
    eager = _run(tc, reset_at=reset_at)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no graph break
        got = _run(tc, dict(fullgraph=True), reset_at=reset_at)
    assert got[3].compiles == 2     # without state, then with its count fed
    assert got[2] == eager[2] == want[2] and all(type(c) is int for c in got[2])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[0], eager[0], rtol=1e-6)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kw,branch", [(dict(dynamic=False), False), ({}, True)],
                         ids=["dynamic-false", "branch-on-count"])
def test_a_count_that_cannot_be_fed_is_a_graph_break_with_eagers_numbers(kw, branch):
    """dynamic=False never feeds; `if state['step'] > 2` reads the count (it would be
    compiled in, a compile per step): the step's own code runs eagerly, said once."""
    eager = _run(tc, branch=branch)
    with pytest.warns(UserWarning, match="graph break.*optimizer state 'step' changed to a "
                                         "Python value"):
        got = _run(tc, kw, branch=branch)
    assert got[2] == eager[2]
    np.testing.assert_allclose(got[0], eager[0], rtol=1e-6)
    with pytest.raises(tc.errors.TraceError, match="optimizer state 'step' changed"):
        _run(tc, dict(kw, fullgraph=True), branch=branch)
