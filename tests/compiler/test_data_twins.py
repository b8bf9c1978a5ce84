"""In-place updates through `.data` and `.detach()` inside compiled code, against torch:
the tensor they came from holds the same memory, so it takes the update (tracer.py's
same_memory). d2l's optimizers from scratch do `p.data.sub_(lr * p.grad)` and
`p.grad.data.zero_()`; compiled, those updates were dropped silently (the loss never
moved, or gradients piled up). An update through a view of `.data` reaches the tensor too
(tracing/view_writes.py), or where the trace cannot tell that the view shares memory, is
refused, never silently lost."""
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

UPDATES = {
    "data.sub_": "w.data.sub_(0.1 * g)",
    "detach().sub_": "w.detach().sub_(0.1 * g)",
    "grad.data.zero_": "w.grad.data.zero_()",
    "grad.detach().zero_": "w.grad.detach().zero_()",
    "data.copy_": "w.data.copy_(w - 0.1 * g)",
    "data = ...": "w.data = w.data - 0.1 * g",
    "data[:] = ...": "w.data[:] = w - 0.1 * g",
    "a detached twin written by index": "d = w.detach(); d[1] = 5.0",
    "a twin read after the other changed": "d = w.detach(); w.data.add_(1); w.grad.add_(d)",
    "a twin of a twin": "w.detach().detach().mul_(2)",
    "a view of data": "w.data[0].zero_()",
    "a view of data with a dim of size 1": "w.data.view(2, 1).add_(3)",
}


def _steps(lib, update, compiled):
    w = lib.ones(2, requires_grad=True)
    scale = lib.tensor([1., 2.])

    def step():
        (w * scale).sum().backward()
        g = w.grad.clone()
        exec(update, {"w": w, "g": g})
        return g
    run = tc.compile(step, fullgraph=True) if compiled else step
    return [run().tolist() for _ in range(3)], w.detach().clone(), w.grad.clone()


@pytest.mark.parametrize("update", UPDATES.values(), ids=list(UPDATES))
def test_updates_through_data_and_detach_reach_the_tensor(update):
    want = _steps(torch, update, False)
    for got in (_steps(tc, update, False), _steps(tc, update, True)):
        assert got[0] == want[0]
        assert_close(got[1], want[1])
        assert_close(got[2], want[2])


def test_an_argument_updated_through_its_detached_twin():
    """x.detach().add_(1) changes x: the read after it and the caller's tensor see it."""
    def fn(x):
        x.detach().add_(1)
        return x + 0
    ours, theirs = tc.ones(3, 4) * 1, torch.ones(3, 4) * 1
    assert_close(tc.compile(fn)(ours), fn(theirs))
    assert_close(ours, theirs)


@pytest.mark.parametrize("update", ["y.detach().clamp_(min=4.0)", "y.data.mul_(2)",
                                    "y.detach()[0] = 7.0", "y.data.copy_(y * 0 + 1)"])
def test_a_computed_tensors_values_change_through_its_twin_and_its_gradient_path_does_not(
        update):
    """y = w * 3 updated through y.detach() or y.data: torch changes y's values and keeps
    its history, so w still gets its gradient; compiled, y took the twin's history-less
    value and w.grad stayed None, silently."""
    def step(lib, w):
        y = w * 3
        exec(update, {}, {"y": y})
        loss = (y * y).sum()
        loss.backward()
        return loss

    w_torch = torch.ones(3, requires_grad=True)
    want = step(torch, w_torch)
    for run in (lambda w: step(tc, w), tc.compile(lambda w: step(tc, w), fullgraph=True)):
        w = tc.ones(3, requires_grad=True)
        assert_close(run(w), want)
        assert_close(w.grad, w_torch.grad)


@pytest.mark.parametrize("update", ["y.detach().copy_(new)", "y.data.copy_(new)",
                                    "with lib.no_grad(): y.copy_(new)"])
def test_the_kept_history_takes_the_new_values_to_the_bit(update):
    """The value a computed tensor takes through its twin, or under no_grad, is the new
    one exactly, its gradient path the old one: as old + detach(new - old) it rounded
    (1e8 + (1 - 1e8) is 0 in float32: the compiled output was 0 where torch's is 2) and an
    infinite old value became nan."""
    def step(lib, w):
        y = w * 1.0
        new = lib.tensor([1.0, 0.1, -0.0, 4.0])
        exec(update, {"lib": lib}, {"y": y, "new": new})
        out = y * 2
        out.sum().backward()
        return out

    for start in ([1e8, 3.0, 5.0, -7.0], [float("inf"), 3.0, float("nan"), 2.0]):
        w_torch = torch.tensor(start, requires_grad=True)
        want = step(torch, w_torch).detach().numpy()
        for run in (lambda w: step(tc, w), tc.compile(lambda w: step(tc, w), fullgraph=True)):
            w = tc.tensor(start, requires_grad=True)
            got = run(w).detach().numpy()
            assert got.tobytes() == want.tobytes(), (update, start, got, want)
            assert_close(w.grad, w_torch.grad)
