"""A hand-written optimizer's pieces inside a compiled training step (phlippe's uvadlc
tutorial 4): its zero_grad (`p.grad.zero_()`) and its step counts per parameter."""
import numpy as np
import torch

import tracecomp as tc


def _zeroing_step(lib, compile_fn, steps=4):
    """The tutorial's zero_grad (`p.grad.zero_()` on each parameter) and a plain update."""
    model = lib.nn.Linear(3, 2)
    with lib.no_grad():
        model.weight.copy_(lib.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]))
        model.bias.copy_(lib.tensor([0.1, -0.2]))
    params = list(model.parameters())

    def step(x):
        for p in params:
            if p.grad is not None:
                p.grad.zero_()
        loss = (model(x) ** 2).sum()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p.add_(-0.05 * p.grad)
        return loss
    step = compile_fn(step)
    data = np.random.default_rng(6)
    for _ in range(steps):
        step(lib.tensor(data.standard_normal((4, 3)).astype(np.float32)))
    return [p.detach().numpy().copy() for p in params], step


def test_gradients_zeroed_in_place_inside_a_step_stay_graph_values():
    """`p.grad.zero_()` fills a traced .grad with a constant: it stays a graph value (it
    was a tensor read from outside, changed by every call: a compile per step)."""
    got, step = _zeroing_step(tc, tc.compile)
    want, _ = _zeroing_step(torch, lambda f: f)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert step.compiles == 2


def test_numbers_in_a_dict_keyed_by_parameters_are_guarded():
    """A count per parameter (`self.param_step[p] += 1`) that the step reads: each call
    computes with its own count, as eagerly (the dict, keyed by tensors, was not guarded:
    every call stored the traced count + 1 again)."""
    def run(lib, compile_fn):
        model = lib.nn.Linear(2, 1)
        with lib.no_grad():
            model.weight.fill_(1.0)
            model.bias.fill_(0.0)
        counts = {p: 0 for p in model.parameters()}

        def step(x):
            for p in model.parameters():
                counts[p] += 1
                p.mul_(1 - 0.1 * counts[p])
            return model(x)
        step = compile_fn(step)
        x = lib.ones(1, 2)
        with lib.no_grad():
            return [step(x).item() for _ in range(4)], list(counts.values()), step
    got, counts, step = run(tc, tc.compile)
    want, _, _ = run(torch, lambda f: f)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert counts == [4, 4] and step.compiles == 4
