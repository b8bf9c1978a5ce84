"""Residuals lodged in the backward's arena (codegen/llvm/runtime/lodging.py,
`lend_arena`): when a saved activation fits in no gradient's buffer, compile(model)'s
forward writes it into an arena it takes for the backward, and the backward, run for the
last time on exactly those views, runs in that arena. At a batch of 96 the MLP's first
ReLU output lies in the first layer's weight gradient and the second in the arena.
Whatever the caller does in between (retain_graph, forwards before their backwards, a
residual held elsewhere), every gradient stays torch's and nothing held is written."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen.llvm.runtime import arenas

from helpers import assert_close, assert_same_grads, with_torch_weights

rng = np.random.default_rng(0)
SIZES = (128, 64, 64, 10)
BATCH = 96          # two 24 KB residuals; the 32 KB weight gradient holds one


def twins():
    torch.manual_seed(0)

    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(SIZES[0], SIZES[1]), lib.nn.ReLU(),
                                 lib.nn.Linear(SIZES[1], SIZES[2]), lib.nn.ReLU(),
                                 lib.nn.Linear(SIZES[2], SIZES[3]))
    ref = build(torch)
    return with_torch_weights(build(tc), ref), ref


def batch():
    return (rng.standard_normal((BATCH, SIZES[0])).astype(np.float32),
            rng.integers(0, SIZES[-1], BATCH))


def loss_of(lib, model, x, y):
    return lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))


def in_arena(out):
    """The saved arrays of a compiled forward's output that view an arena's buffer."""
    return [s for s in out.grad_fn.params["call"].saved
            if s.base is not None and s.base.nbytes != SIZES[0] * SIZES[1] * 4]


def warmed():
    """(model, torch twin, compiled model) after two plain steps, gradients zeroed: the
    next forward lends an arena."""
    model, ref = twins()
    compiled = tc.compile(model)
    for _ in range(2):
        model.zero_grad()
        loss_of(tc, compiled, *batch()).backward()
    model.zero_grad()
    return model, ref, compiled


def lodged():
    """(model, torch twin, compiled, x, y, output), its second residual in an arena."""
    model, ref, compiled = warmed()
    x, y = batch()
    out = compiled(tc.tensor(x))
    assert len(in_arena(out)) == 1
    return model, ref, compiled, x, y, out


def test_the_plan_lays_the_second_residual_in_the_arena_apart_from_scratch():
    model, ref, compiled, x, y, out = lodged()
    backward = compiled._compiled.last.run_backward
    plan = backward.memory_plan
    (g, at), = plan.arena_guests.items()
    assert g.shape == (BATCH, SIZES[2]) and len(plan.guests) == 1
    reads = [k for k, grp in enumerate(backward.steps) if any(plan.base(i) is g
                                                             for i in grp.inputs)]
    end = at + g.size * 4
    for v, v_at in plan.offsets.items():        # no scratch value there while it is read
        if plan.lives[v][0] <= max(reads):
            assert v_at + plan.sizes[v] <= at or end <= v_at
    assert "lies in the arena at byte" in compiled.memory_log


def test_training_steps_run_the_backward_in_the_lent_arena_and_stay_torchs():
    model, ref = twins()
    compiled = tc.compile(model)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    backward = None
    for step in range(4):
        x, y = batch()
        opt.zero_grad()
        ref_opt.zero_grad()
        out = compiled(tc.tensor(x))
        backward = compiled._compiled.last.run_backward
        if step:
            assert len(in_arena(out)) == 1 and len(backward._lent) == 1
        loss = tc.nn.functional.cross_entropy(out, tc.tensor(y))
        loss.backward()
        assert backward._lent == []         # run in, and back in the pool
        ref_loss = loss_of(torch, ref, x, y)
        ref_loss.backward()
        assert_close(loss.item(), ref_loss.item(), rtol=1e-5)
        assert_same_grads(model, ref)
        opt.step()
        ref_opt.step()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert_close(p.detach().numpy(), q.detach().numpy(), atol=1e-5, rtol=1e-4)


def test_retain_graph_keeps_the_arena_residual_for_the_second_backward():
    model, ref, compiled, x, y, out = lodged()
    loss = tc.nn.functional.cross_entropy(out, tc.tensor(y))
    loss.backward(retain_graph=True)
    loss.backward()
    loss_of(torch, ref, x, y).backward()
    assert_same_grads(model, ref, factor=2.0)
    with pytest.raises(Exception, match="freed"):
        loss.backward()


@pytest.mark.parametrize("forwards", [2, 3])
def test_forwards_before_their_backwards(forwards):
    """Two lent arenas at most (lodging.LENT); a third forward keeps its own buffer."""
    model, ref, compiled = warmed()
    data = [batch() for _ in range(forwards)]
    outs = [compiled(tc.tensor(x)) for x, _ in data]
    assert [len(in_arena(o)) for o in outs] == [1, 1, 0][:forwards]
    losses = [tc.nn.functional.cross_entropy(o, tc.tensor(y)) for o, (_, y) in zip(outs, data)]
    del outs
    for loss in reversed(losses):
        loss.backward()
    sum(loss_of(torch, ref, x, y) for x, y in data).backward()
    assert_same_grads(model, ref)


def test_an_arena_whose_backward_never_ran_goes_back_to_the_pool():
    model, ref, compiled, x, y, out = lodged()
    backward = compiled._compiled.last.run_backward
    lent = backward._lent[0]
    del out
    model.zero_grad()
    loss_of(tc, compiled, *batch()).backward()      # its forward's lend took it back
    assert lent not in backward._lent
    assert lent in arenas._free or lent.nbytes > arenas._limit()


@pytest.mark.parametrize("what", ["residual", "its arena"])
def test_a_residual_something_else_holds_is_not_run_over(what):
    model, ref, compiled, x, y, out = lodged()
    saved, = in_arena(out)
    kept = saved if what == "residual" else saved.base
    before = kept.copy()
    del saved
    tc.nn.functional.cross_entropy(out, tc.tensor(y)).backward()
    np.testing.assert_array_equal(kept, before)
    loss_of(torch, ref, x, y).backward()
    assert_same_grads(model, ref)


def test_a_forward_with_an_arena_of_its_own_lends_none():
    """Its arena and the lent one would be in use at once: more than the residual saves.
    (A GELU's forward keeps its input in its arena.)"""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.GELU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10))
    model = with_torch_weights(tc.nn.Sequential(tc.nn.Linear(128, 64), tc.nn.GELU(),
                                                tc.nn.Linear(64, 64), tc.nn.ReLU(),
                                                tc.nn.Linear(64, 10)), ref)
    compiled = tc.compile(model)
    for _ in range(2):
        model.zero_grad()
        ref.zero_grad()
        x, y = batch()
        out = compiled(tc.tensor(x))
        assert in_arena(out) == []
        tc.nn.functional.cross_entropy(out, tc.tensor(y)).backward()
        loss_of(torch, ref, x, y).backward()
        assert_same_grads(model, ref)
    art = compiled._compiled.last
    assert art.run_forward._peak > 0 and art.run_backward.memory_plan.arena_guests
    assert art.run_backward._arena_guests == [] and art.run_backward._lent == []


def test_inputs_made_over_bytes_as_a_dataloader_workers_batch():
    """A DataLoader worker's batch arrives as arrays over a `bytes` buffer (as
    np.frombuffer makes): their chain of bases ends at no array. minGPT's Trainer (4
    workers) stopped in the arena's ownership check on its first compiled call."""
    emb = tc.nn.Embedding(50, 16)
    ids = np.arange(2 * 8 * 6, dtype=np.int64).reshape(2, 8, 6) % 16
    flat = np.frombuffer(ids.tobytes(), dtype=np.int64)
    assert isinstance(flat.base, bytes)
    raw = flat.reshape(2, 8, 6)
    x, y = tc.from_numpy(raw[0]), tc.from_numpy(raw[1])

    def loss(x, y):     # minGPT's forward in miniature: embedding, cross_entropy
        return tc.nn.functional.cross_entropy(emb(x).view(-1, 16), y.view(-1),
                                              ignore_index=-1)
    assert_close(tc.compile(loss)(x, y), loss(x, y))
