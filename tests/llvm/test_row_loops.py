"""Row loops (passes/row_loops.py): a 2-D product and the mask after it run a block of C's
rows at a time, the mask's value written over the product's A (or over the activation it
reads), so a training step's backward holds neither the product's whole value nor a
second gradient buffer."""
import re

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen.llvm.gemm import calibrate, choice

from helpers import (
    assert_close,
    assert_same_grads,
    train_twin_relu_mlps,
    twin_relu_mlps,
    with_torch_weights,
)


def _arena_bytes(log):
    return int(re.search(r"arena: \d+ buffers in (\d+) bytes", log).group(1))


def _row_loop_lines(log):
    return [line for line in log.splitlines() if "chunk loop" in line and " rows" in line]


def _train(batch, steps=3):
    """The compiled whole step's fusion log, after `steps` SGD-momentum steps of the bench
    MLP (784 -> 256 -> 256 -> 10: its first weight gradient, written last, holds the first
    activation meanwhile) at `batch`, checked against torch's."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    step, _, _ = train_twin_relu_mlps(x, rng.integers(0, 10, batch), (784, 256, 256, 10),
                                      steps)
    return step.fusion_log["forward"]


@pytest.mark.parametrize("threads", ["", "1"])
@pytest.mark.parametrize("batch", [512, 500])     # 500: the last block has fewer rows
def test_a_training_step_with_row_loops_matches_torch(monkeypatch, threads, batch):
    if threads:
        monkeypatch.setenv("TRACECOMP_THREADS", threads)
    log = _train(batch)
    rows = choice.row_block()
    loops = _row_loop_lines(log)
    # both backward products dX = dY @ W with their masks: dX3 (K = 10) and dX2
    assert len(loops) == 2, log
    assert all(f"over {-(-batch // rows)} chunks of {rows} rows" in line for line in loops)
    # the arena holds one 4-byte batch x 256 gradient and the loops' blocks: the masks
    # took the activation's buffer, then the product's A's
    assert _arena_bytes(log) < batch * 256 * 4 * 1.25, log


def test_the_masks_write_over_the_activation_and_then_over_a(monkeypatch):
    log = _train(512, steps=1)
    names = dict(re.findall(r"  (%\d+) (\w+): ", log))
    takes = re.findall(r"  (%\d+) where: .* \(in place of (%\d+)\)", log)
    # dh2 = where(h2 > 0, dX3, 0) takes h2's buffer (a relu), dh1 takes dh2's (the
    # second loop's A, which the mask does not read)
    assert [names[over] for _, over in takes[-2:]] == ["relu", "where"], log
    assert takes[-1][1] == takes[-2][0]


def test_small_batches_and_forward_products_keep_whole_values():
    # batch 64: two blocks, too few for a loop a thread; the forward's relu(x @ W^T + b)
    # has nothing of its shape to write over (x is an input)
    assert not _row_loop_lines(_train(64, steps=1))
    model = tc.nn.Sequential(tc.nn.Linear(300, 256), tc.nn.ReLU())
    compiled = tc.compile(model)
    x = tc.randn(512, 300)
    assert_close(compiled(x), model(x))
    assert not _row_loop_lines(compiled.fusion_log["forward"])


# compile(model): the backward's first mask takes the place of the activation it masks,
# which the forward saved; where that activation fits no gradient's buffer it lies in the
# backward's arena (lodging.py), and the mask's value is written over it there

def _compiled_twins(batch=512):
    model, ref = twin_relu_mlps(784, 256, 256, 10)
    rng = np.random.default_rng(1)
    data = (rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch))
    return model, ref, tc.compile(model), data


def _loss(lib, model, data):
    x, y = data
    return lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))


def _arena_saved(out):
    """The saved arrays of a compiled forward's output that lie in a lent arena."""
    return [s for s in out.grad_fn.params["call"].saved
            if s.base is not None and s.base.nbytes < s.nbytes * 1.5]


def test_compile_model_writes_the_first_mask_over_the_saved_activation():
    model, ref, compiled, data = _compiled_twins()
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    for step in range(3):
        opt.zero_grad()
        ref_opt.zero_grad()
        out = compiled(tc.tensor(data[0]))
        if step:        # from the second step on the forward writes it into a lent arena
            assert len(_arena_saved(out)) == 1
        loss = tc.nn.functional.cross_entropy(out, tc.tensor(data[1]))
        loss.backward()
        ref_loss = _loss(torch, ref, data)
        ref_loss.backward()
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
        opt.step()
        ref_opt.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q, what="parameter")
    backward = compiled._compiled.last.run_backward
    plan = backward.memory_plan
    (saved, at), = plan.arena_guests.items()
    assert plan.peak == 512 * 256 * 4 and at == 0, plan.log
    assert re.search(r"where: arena\[0, \d+\) .*\(in place of %saved", "\n".join(plan.log))
    assert len(_row_loop_lines(compiled.fusion_log["backward"])) == 2


def test_retain_graph_and_a_held_activation_keep_the_saved_values():
    model, ref, compiled, data = _compiled_twins()
    for _ in range(2):
        model.zero_grad()
        _loss(tc, compiled, data).backward()
    model.zero_grad()
    out = compiled(tc.tensor(data[0]))
    kept, = _arena_saved(out)
    before = kept.copy()
    loss = tc.nn.functional.cross_entropy(out, tc.tensor(data[1]))
    loss.backward(retain_graph=True)        # run again: the mask may not write over it
    loss.backward()
    np.testing.assert_array_equal(kept, before)     # held here: never written over
    _loss(torch, ref, data).backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p.grad, 2 * q.grad.numpy(), atol=1e-5, rtol=1e-4, what="gradient")


def test_a_saved_activation_a_gradients_buffer_holds_stays_there():
    """A GELU's backward mask reads its saved input, which lies in the first weight
    gradient's buffer (as large, and written after its last read): taking its place would
    move it to the arena (and where the forward has an arena of its own, as a GELU's does,
    to a buffer of its own: the gelu-mlp step measured 1.00x -> 1.40x torch's memory)."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.GELU(approximate="tanh"),
                              torch.nn.Linear(256, 64))
    model = with_torch_weights(tc.nn.Sequential(
        tc.nn.Linear(512, 256), tc.nn.GELU(approximate="tanh"), tc.nn.Linear(256, 64)), ref)
    compiled = tc.compile(model)
    rng = np.random.default_rng(2)
    x, y = (rng.standard_normal((512, n)).astype(np.float32) for n in (512, 64))
    for _ in range(2):
        model.zero_grad()
        ref.zero_grad()
        tc.nn.functional.mse_loss(compiled(tc.tensor(x)), tc.tensor(y)).backward()
        torch.nn.functional.mse_loss(ref(torch.tensor(x)), torch.tensor(y)).backward()
        assert_same_grads(model, ref)
    plan = compiled._compiled.last.run_backward.memory_plan
    assert len(_row_loop_lines(compiled.fusion_log["backward"])) == 1
    assert list(plan.guests) and not plan.arena_guests, plan.log
    assert not set(plan.guests) & set(plan.taken.values())


# fused row loops: a forward layer's product (dot products, x @ W^T) and its bias and
# activation, a few rows at a time on the thread that made them, where nothing updates W
# and dots computes the product: on a host where dots beat the generated GEMM (which packs
# B^T once a call, too often for blocks of a few rows) in gemm/calibrate.py's contest

@pytest.fixture
def dots_won(monkeypatch):
    monkeypatch.setattr(calibrate, "dots_win", lambda dtype: True)


def _mlp(batch, widths=(784, 256, 256, 10)):
    torch.manual_seed(0)
    model, ref = twin_relu_mlps(*widths)
    x = np.random.default_rng(3).standard_normal((batch, widths[0])).astype(np.float32)
    return model, ref, x


@pytest.mark.parametrize("batch", [64, 50])     # 50: blocks of 4 rows, the last of 2
def test_inference_fuses_each_layer_with_its_activation(batch, dots_won):
    model, ref, x = _mlp(batch)
    compiled = tc.compile(model)
    with tc.no_grad():
        got = compiled(tc.tensor(x))
    assert_close(got, ref(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    log = compiled.fusion_log["forward"]
    fused = [line for line in log.splitlines() if "chunk loop" in line]
    assert len(fused) == 2 and all("kernel" in line for line in fused), log
    # the activation written over its product, as without the loop: no memory added
    assert len(re.findall(r"relu: arena\[.*\(in place of %\d+\)", log)) == 2, log


def test_training_keeps_products_that_read_a_trained_weight_whole(dots_won):
    """Fused, each thread's blocks read all of W, and the update then writes lines both
    cores hold: the whole step and compile(model)'s forward keep their splits."""
    model, ref, x = _mlp(64)
    y = np.random.default_rng(4).integers(0, 10, 64)
    step, _, _ = train_twin_relu_mlps(x, y, (784, 256, 256, 10), steps=1)
    assert not _row_loop_lines(step.fusion_log["forward"])
    forward, _, _ = train_twin_relu_mlps(x, y, (784, 256, 256, 10), steps=1,
                                         compile_model=True)
    assert "chunk loop" not in forward.fusion_log["forward"]
