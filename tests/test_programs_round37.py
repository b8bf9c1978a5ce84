"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 37), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses to about
1e-6 relative):
"""
import warnings

import numpy as np
import torch

import tracecomp as tc


# --- a scratch optimizer's state in a closure's tuple, updated in place in a compiled step --
# d2l's chapter_optimization: `states = ((v_w, s_w), (v_b, s_b))` and a step that does
# `for p, (v, s) in zip(params, states): v[:] = beta1 * v + ...`. The compiled step refused
# the update (check_rebound ran before the tensors read inside the tuple were lifted), so it
# ran as a graph break.
def _scratch_adam(lib, compiled):
    w = lib.tensor(np.linspace(-1, 1, 5, dtype=np.float32).reshape(5, 1), requires_grad=True)
    b = lib.zeros(1, requires_grad=True)
    states = ((lib.zeros(5, 1), lib.zeros(5, 1)), (lib.zeros(1), lib.zeros(1)))
    hp = {"lr": 0.1, "t": 1}

    def step(X, y):
        loss = ((X @ w + b - y) ** 2 / 2).mean()
        loss.backward()
        for p, (v, s) in zip([w, b], states):
            with lib.no_grad():
                v[:] = 0.9 * v + 0.1 * p.grad
                s[:] = 0.999 * s + 0.001 * lib.square(p.grad)
                p[:] -= hp["lr"] * (v / (1 - 0.9 ** hp["t"])) / (
                    lib.sqrt(s / (1 - 0.999 ** hp["t"])) + 1e-6)
            p.grad.data.zero_()
        hp["t"] += 1
        return loss
    if compiled:
        step = lib.compile(step, fullgraph=True)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(4):
        X = rng.standard_normal((8, 5)).astype(np.float32)
        y = rng.standard_normal((8, 1)).astype(np.float32)
        losses.append(step(lib.tensor(X), lib.tensor(y)).item())
    return losses, w.detach().numpy(), states[0][1].numpy()


def test_compiled_step_updates_state_held_in_a_closures_tuple():
    want = _scratch_adam(torch, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no graph break
        got = _scratch_adam(tc, True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
