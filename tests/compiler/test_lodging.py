"""Residuals lodged in a gradient's buffer (codegen/llvm/runtime/lodging.py): a compiled
model's forward writes what it saves for the backward into the free buffer of the weight
gradient the backward writes last, and a backward run without retain_graph writes that
gradient over them. Whatever the caller does in between (retain_graph, two forwards before
one backward, a gradient kept or accumulated), every gradient and update stays torch's,
and a kept array is never written."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.passes import memory

from helpers import assert_close, assert_same_grads, with_torch_weights

rng = np.random.default_rng(0)
SIZES = (128, 64, 64, 10)


def twins():
    """The same MLP (ReLUs between its Linears) for tracecomp, compiled, and for torch."""
    torch.manual_seed(0)
    layers = []
    for a, b in zip(SIZES, SIZES[1:]):
        layers += [(a, b), None]
    def build(lib):
        return lib.nn.Sequential(*[lib.nn.ReLU() if s is None else lib.nn.Linear(*s)
                                   for s in layers[:-1]])
    ref = build(torch)
    return with_torch_weights(build(tc), ref), ref


def batch(n=16):
    return (rng.standard_normal((n, SIZES[0])).astype(np.float32),
            rng.integers(0, SIZES[-1], n))


def loss_of(lib, model, x, y):
    return lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))


def saved_of(out):
    """The arrays the compiled forward saved for its backward (the bridge's state)."""
    return out.grad_fn.params["call"].saved


def test_the_plan_lays_the_residuals_in_the_first_layers_weight_gradient():
    model, _ = twins()
    compiled = tc.compile(model)
    x, y = batch()
    loss_of(tc, compiled, x, y).backward()
    backward = compiled._compiled.last.run_backward
    guests = backward.memory_plan.guests
    assert len(guests) == 2                         # the two ReLUs' outputs
    hosts = {host for host, _ in guests.values()}
    assert [h.shape for h in hosts] == [(SIZES[1], SIZES[0])]
    # their bytes overlap no scratch value hosted there while they are read
    lodged = [line for line in compiled.memory_log.splitlines() if "lodging" in line]
    assert len(lodged) == 2 and all(f"output matmul {SIZES[1]}x{SIZES[0]} float32" in line
                                    for line in lodged)
    plan = backward.memory_plan
    for g, (host, at) in guests.items():
        end = at + g.size * g.dtype.itemsize
        for v, (h, v_at) in plan.hosted.items():
            if h is host and plan.lives[v][0] <= _last_read(plan, backward, g):
                assert v_at + plan.sizes[v] <= at or end <= v_at


def _last_read(plan, runner, node):
    reads = [k for k, g in enumerate(runner.steps)
             if any(plan.base(i) is node for i in g.inputs)]
    return max(reads)


def test_training_steps_write_the_gradient_over_the_residuals_and_stay_torchs():
    model, ref = twins()
    compiled = tc.compile(model)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step in range(4):
        x, y = batch()
        opt.zero_grad()
        ref_opt.zero_grad()
        out = compiled(tc.tensor(x))
        # (addresses only: a reference to the buffer would keep the backward off it)
        buffers = {s.base.ctypes.data for s in saved_of(out) if s.base is not None}
        if step:        # the first step's forward ran before any backward had a buffer
            assert len(buffers) == 1
        loss = tc.nn.functional.cross_entropy(out, tc.tensor(y))
        loss.backward()
        ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        ref_loss.backward()
        assert_close(loss.item(), ref_loss.item(), rtol=1e-5)
        assert_same_grads(model, ref)
        if step:        # the gradient took the residuals' buffer
            assert buffers == {model[0].weight.grad.numpy().ctypes.data}
        opt.step()
        ref_opt.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p.detach().numpy(), q.detach().numpy(), atol=1e-5, rtol=1e-4)


def _warm(compiled, model):
    """Two plain steps: the backward runner has its buffers, the forward lodges."""
    for _ in range(2):
        model.zero_grad()
        loss_of(tc, compiled, *batch()).backward()


def _lodged_forward():
    """(model, its torch twin, x, y, the compiled model's output on x), the residuals of
    that forward lodged in the backward's buffer."""
    model, ref = twins()
    compiled = tc.compile(model)
    _warm(compiled, model)
    model.zero_grad()
    x, y = batch()
    out = compiled(tc.tensor(x))
    assert any(s.base is not None for s in saved_of(out))      # lodged
    return model, ref, x, y, out


def test_retain_graph_keeps_the_residuals_for_the_second_backward():
    model, ref, x, y, out = _lodged_forward()
    loss = tc.nn.functional.cross_entropy(out, tc.tensor(y))
    loss.backward(retain_graph=True)
    loss.backward()             # the same residuals again: they were not written over
    ref_loss = loss_of(torch, ref, x, y)
    ref_loss.backward()
    assert_same_grads(model, ref, factor=2.0)
    with pytest.raises(Exception, match="freed"):
        loss.backward()


def test_two_forwards_before_one_backward():
    model, ref = twins()
    compiled = tc.compile(model)
    _warm(compiled, model)
    model.zero_grad()
    (x1, y1), (x2, y2) = batch(), batch()
    first = loss_of(tc, compiled, x1, y1)
    second = loss_of(tc, compiled, x2, y2)      # the buffer is taken: residuals of its own
    first.backward()
    second.backward()
    (loss_of(torch, ref, x1, y1) + loss_of(torch, ref, x2, y2)).backward()
    assert_same_grads(model, ref)


@pytest.mark.parametrize("when", ["kept", "accumulated", "zeroed after the forward"])
def test_a_gradient_the_caller_holds_is_never_written(when):
    model, ref = twins()
    compiled = tc.compile(model)
    _warm(compiled, model)
    x, y = batch()
    model.zero_grad()
    loss_of(tc, compiled, x, y).backward()
    held = model[0].weight.grad
    before = held.numpy().copy()
    if when == "kept":
        model.zero_grad()       # the caller still holds the old gradient
    x2, y2 = batch()
    out = compiled(tc.tensor(x2))
    if when == "zeroed after the forward":
        model.zero_grad()
    tc.nn.functional.cross_entropy(out, tc.tensor(y2)).backward()
    ref.zero_grad()
    if when == "accumulated":
        loss_of(torch, ref, x, y).backward()
        loss_of(torch, ref, x2, y2).backward()
        assert_same_grads(model, ref)
    else:
        loss_of(torch, ref, x2, y2).backward()
        assert_same_grads(model, ref)
        np.testing.assert_array_equal(held.numpy(), before)


def test_memory_plan_guests_stay_apart_from_scratch_and_fall_back_when_too_large():
    """The memory pass alone: a guest shares its host's bytes only with values that are
    not live while it is read; one that does not fit lies where the caller put it."""
    from tracecomp.codegen.llvm.target import host as cpu
    from tracecomp.passes import decompose, fusion
    from tracecomp.tracing.tracer import trace

    def backward_like(r, g, w, x):       # r is read first, then the output x.T @ (...)
        d = tc.relu(g @ w) * r
        return x.T @ d
    args = [tc.tensor(rng.standard_normal(s).astype(np.float32))
            for s in ((8, 16), (8, 16), (16, 16), (8, 64))]
    graph = decompose.run(trace(backward_like, *args))
    graph.inputs[0].params["residual"] = True
    plan_groups = fusion.run(graph, cpu())
    plan = memory.run(graph, plan_groups, hosts=lambda o: True, in_place=True,
                      guests=[graph.inputs[0]])
    (g, (out, at)), = plan.guests.items()
    assert out is graph.outputs[0] and g is graph.inputs[0]
    assert at + g.size * 4 <= out.size * 4
    small = decompose.run(trace(backward_like, *args[:3],
                                tc.tensor(rng.standard_normal((8, 2)).astype(np.float32))))
    plan = memory.run(small, fusion.run(small, cpu()), hosts=lambda o: True,
                      guests=[small.inputs[0]])
    assert plan.guests == {}        # 512 bytes of r do not fit in a 2 x 16 output


@pytest.mark.parametrize("what", ["residual", "its buffer"])
def test_a_residual_something_else_holds_is_not_written_over(what):
    """Only the bridge holds the residuals; should anything else (a debugger, a future
    saved-tensor hook) hold one, or the buffer under it, through the backward, the runner
    sees it and writes the gradient elsewhere."""
    model, ref, x, y, out = _lodged_forward()
    kept = [s if what == "residual" else s.base for s in saved_of(out) if s.base is not None]
    values = [k.copy() for k in kept]
    tc.nn.functional.cross_entropy(out, tc.tensor(y)).backward()
    for k, v in zip(kept, values):
        np.testing.assert_array_equal(k, v)
    loss_of(torch, ref, x, y).backward()
    assert_same_grads(model, ref)
