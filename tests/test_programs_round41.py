"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 41), each reproduced here against torch.

DOCSTRING-PLACEHOLDER
"""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


class _Momentum:
    """course22p2's hand-written Momentum (12_accel_sgd): its state lives on the
    parameters themselves (`p.grad_avg`), made on the first step."""

    def __init__(self, lib, params, lr, mom=0.9):
        self.lib, self.params, self.lr, self.mom = lib, list(params), lr, mom

    def step(self):
        with self.lib.no_grad():
            for p in self.params:
                if not hasattr(p, "grad_avg"):
                    p.grad_avg = self.lib.zeros_like(p.grad)
                p.grad_avg = p.grad_avg * self.mom + p.grad * (1 - self.mom)
                p -= self.lr * p.grad_avg

    def zero_grad(self):
        for p in self.params:
            p.grad.data.zero_()


def _momentum_losses(lib, compiled, fullgraph=False):
    ref = torch.nn.Linear(3, 2)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]]))
        ref.bias.copy_(torch.tensor([0.1, -0.2]))
    model = lib.nn.Linear(3, 2)
    model.load_state_dict({k: lib.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    opt = _Momentum(lib, model.parameters(), lr=0.1)
    x = lib.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))

    def step(x):
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss
    run = tc.compile(step, fullgraph=fullgraph) if compiled else step
    losses = [float(run(x)) for _ in range(3)]
    return losses, model.weight.detach().numpy().copy(), model.weight.grad_avg.numpy()


def test_a_step_keeping_state_on_parameter_attributes_breaks_the_graph():
    want = _momentum_losses(torch, False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _momentum_losses(tc, True)
    for g, w in zip(got, want):
        assert_close(g, w)
    assert any("set the attribute `grad_avg` of `weight`" in str(w.message) for w in caught)
    with pytest.raises(tc.errors.TraceError, match="a tensor's own attributes are not state"):
        _momentum_losses(tc, True, fullgraph=True)


class _Hook:
    """course22p2's Hook (10_activations): the hook function gets the Hook itself through
    functools.partial, and keeps its statistics in a tuple of lists made on the first call."""

    def __init__(self, module, f):
        from functools import partial
        self.hook = module.register_forward_hook(partial(f, self))


def _append_stats(hook, mod, inp, outp):
    if not hasattr(hook, "stats"):
        hook.stats = ([], [])
    hook.stats[0].append(outp.mean())
    hook.stats[1].append(outp.std())


def _hooked_stats(lib, compiled, warm):
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
    weights = {"0.weight": np.linspace(-1, 1, 12).reshape(4, 3), "0.bias": np.zeros(4),
               "2.weight": np.linspace(1, -1, 8).reshape(2, 4), "2.bias": np.ones(2)}
    model.load_state_dict({k: lib.tensor(v.astype(np.float32)) for k, v in weights.items()})
    hook = _Hook(model[1], _append_stats)
    x = lib.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    if warm:        # statistics made by an eager call first: the tuple exists when traced
        model(x)
    run = tc.compile(model) if compiled else model
    outs = [run(x * (i + 1)) for i in range(3)]
    return [float(v) for v in hook.stats[0] + hook.stats[1]], [o.detach() for o in outs]


@pytest.mark.parametrize("warm", [False, True])
def test_forward_hook_bound_by_partial_keeps_its_statistics(warm):
    want = _hooked_stats(torch, False, warm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _hooked_stats(tc, True, warm)
    assert_close(np.array(got[0]), np.array(want[0]))
    for g, w in zip(got[1], want[1]):
        assert_close(g, w)
    breaks = [w for w in caught if "graph break" in str(w.message)]
    # the first call makes the tuple of lists: not replayable, so that call runs eagerly;
    # appends to lists already there are replayed after each compiled call
    assert bool(breaks) == (not warm)
