"""Row loops (passes/row_loops.py): a 2-D product and the mask after it run a block of C's
rows at a time, the mask's value written over the product's A (or over the activation it
reads), so a training step's backward holds neither the product's whole value nor a
second gradient buffer."""
import re

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen.llvm.gemm import choice

from helpers import assert_close, train_step, twin_relu_mlps


def _arena_bytes(log):
    return int(re.search(r"arena: \d+ buffers in (\d+) bytes", log).group(1))


def _row_loop_lines(log):
    return [line for line in log.splitlines() if "chunk loop" in line and " rows" in line]


def _train(batch, hidden=256, steps=3, seed=0):
    """The compiled whole step of a 784 -> hidden -> hidden -> 10 ReLU MLP (the bench MLP: its first
    weight gradient, written last, holds the first activation meanwhile) after `steps`
    SGD-momentum steps at `batch`, each loss and then the parameters checked against
    torch's."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    model, ref = twin_relu_mlps(784, hidden, hidden, 10)
    step = tc.compile(train_step(model, tc.optim.SGD(model.parameters(), lr=0.05,
                                                     momentum=0.9)))
    ref_step = train_step(ref, torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9), torch)
    for _ in range(steps):
        assert step(tc.tensor(x), tc.tensor(y)).item() == pytest.approx(
            ref_step(torch.tensor(x), torch.tensor(y)).item(), rel=1e-4)
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p, q, what="parameter")
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
