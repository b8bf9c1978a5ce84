"""Numbers a compiled function reads from outside its arguments, fed as inputs once seen to
change (compiler/outside_numbers.py): a hand-written Adam's step count (phlippe's uvadlc
tutorial 4: `self.param_step[p] += 1`; d2l's `hyperparams['t']`), a trainer's
`self.step_count`, an annealed global. The whole training step compiles at most twice
in 10 steps, trains as the same code does eagerly and as torch does, and writes the counts
back as Python ints; a count the code branches on is compiled in per value, as before."""
import logging

import numpy as np
import pytest
import torch
from test_deep_state import _optimizers

import tracecomp as tc
from tracecomp.compiler.state_call import StateCall

STEPS = 10
hyperparams = None      # d2l's dict, as a global of the compiled step


def _mlp(lib):
    """The same small model in either library, with the same weights."""
    model = lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Tanh(), lib.nn.Linear(6, 2))
    rng = np.random.default_rng(3)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    return model


def _batches(lib):
    rng = np.random.default_rng(8)
    return [(lib.tensor(rng.standard_normal((8, 4)).astype(np.float32)),
             lib.tensor(rng.standard_normal((8, 2)).astype(np.float32)))
            for _ in range(STEPS)]


def _same_weights(runs):
    """Every run's weights equal the first's (the compiled run's) and torch's (the last)."""
    for run in runs[1:]:
        for got, want in zip(runs[0], run):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def _weights(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


# --- phlippe's uvadlc tutorial 4 -------------------------------------------------------------
def _uvadlc_adam(lib):
    """The tutorial's Adam (test_deep_state.py writes its optimizers once)."""
    return _optimizers(lib)["adam"]


def _uvadlc(lib, compile_fn, reset_at=None):
    model, batches = _mlp(lib), _batches(lib)
    opt = _uvadlc_adam(lib)(model.parameters(), lr=0.05)

    def train_step(x, y):
        opt.zero_grad()
        loss = lib.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    step = compile_fn(train_step)
    for k, (x, y) in enumerate(batches):
        if k == reset_at:       # a fresh count dict (a new run of the same optimizer)
            opt.param_step = {p: 0 for p in opt.params}
        step(x, y)
    return _weights(model), opt, step


def test_uvadlc_adams_step_counts_are_fed_and_written_back_as_ints(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        got, opt, step = _uvadlc(tc, tc.compile)
    eager, _, _ = _uvadlc(tc, lambda f: f)
    want, _, _ = _uvadlc(torch, lambda f: f)
    _same_weights([got, eager, want])
    assert step.compiles == 2       # without .grad; with, the counts fed (changed since)
    assert not step.last.eager
    assert [type(n) for n in opt.param_step.values()] == [int] * 4
    assert list(opt.param_step.values()) == [STEPS] * 4
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "Adam.param_step[<Parameter 0>]" in said and "fed as inputs from now on" in said


def test_a_new_count_dict_is_read_from_its_place():
    """The dict rebound to a new one (counts from 0 again): the step compiles again, reads
    the new dict's counts and writes into it, as eagerly."""
    got, opt, step = _uvadlc(tc, tc.compile, reset_at=6)
    want, _, _ = _uvadlc(torch, lambda f: f, reset_at=6)
    _same_weights([got, want])
    assert list(opt.param_step.values()) == [STEPS - 6] * 4
    assert step.compiles <= 5


# --- d2l's Adam from scratch (chapter 12.10) -------------------------------------------------
def _d2l_adam(lib, counts=False):
    """d2l's adam; counts: it adds 1 to hyperparams['t'] itself, as the book's does."""
    def adam(params, states, hyperparams):
        beta1, beta2, eps = 0.9, 0.999, 1e-6
        for p, (v, s) in zip(params, states):
            with lib.no_grad():
                v[:] = beta1 * v + (1 - beta1) * p.grad
                s[:] = beta2 * s + (1 - beta2) * lib.square(p.grad)
                v_bias_corr = v / (1 - beta1 ** hyperparams['t'])
                s_bias_corr = s / (1 - beta2 ** hyperparams['t'])
                p[:] -= hyperparams['lr'] * v_bias_corr / (lib.sqrt(s_bias_corr) + eps)
            p.grad.data.zero_()
        if counts:
            hyperparams['t'] += 1
    return adam


def _d2l(lib, compile_fn, where):
    """where "global": the step reads the global `hyperparams` and counts inside (it takes
    the state tuples, as train_ch11's trainer_fn does: tensors two levels inside a global
    are not inputs); "argument": adam itself is compiled, taking the dict, and the loop
    counts between calls; "argument, counted inside": adam counts (a fed number argument
    stored back into the dict it came in)."""
    global hyperparams
    model, batches = _mlp(lib), _batches(lib)
    params = list(model.parameters())
    states = [(lib.zeros_like(p.data), lib.zeros_like(p.data)) for p in params]
    adam = _d2l_adam(lib, counts=where == "argument, counted inside")
    hyperparams = {"lr": 0.05, "t": 1}
    if where == "global":
        def train_step(x, y, states):
            loss = lib.nn.functional.mse_loss(model(x), y)
            loss.backward()
            adam(params, states, hyperparams)
            hyperparams["t"] += 1
            return loss
        step = compile_fn(train_step)
        run = lambda x, y: step(x, y, states)   # noqa: E731
    else:
        update = compile_fn(adam)

        def step(x, y):
            lib.nn.functional.mse_loss(model(x), y).backward()
            update(params, states, hyperparams)
            if where == "argument":
                hyperparams["t"] += 1
        run = step
    try:
        for x, y in batches:
            run(x, y)
        t = hyperparams["t"]
    finally:
        hyperparams = None
    return _weights(model), t, step if where == "global" else update


@pytest.mark.parametrize("where", ["global", "argument", "argument, counted inside"])
def test_d2ls_adam_feeds_its_step_count(where):
    got, t, step = _d2l(tc, tc.compile, where)
    eager, _, _ = _d2l(tc, lambda f: f, where)
    want, _, _ = _d2l(torch, lambda f: f, where)
    _same_weights([got, eager, want])
    assert type(t) is int and t == STEPS + 1
    assert step.compiles <= 2 and not step.last.eager


# --- a trainer's own counter -----------------------------------------------------------------
class _Trainer:
    """Plain SGD with an exponentially decaying, linearly warmed up learning rate computed
    from its own step count (read and written by the compiled step)."""

    def __init__(self, lib, model, branch=False):
        self.lib, self.model, self.branch = lib, model, branch
        self.step_count, self.base_lr, self.warmup = 0, 0.1, 4

    def step(self, x, y):
        self.step_count += 1
        lr = self.base_lr * 0.9 ** self.step_count * (self.step_count / self.warmup)
        if self.branch and self.step_count % 3 == 0:     # needs the value: compiled in
            lr = lr * 0.5
        loss = self.lib.nn.functional.mse_loss(self.model(x), y)
        loss.backward()
        with self.lib.no_grad():
            for p in self.model.parameters():
                p.sub_(lr * p.grad)
                p.grad = None
        return loss


def _trained(lib, compile_fn, branch=False):
    model = _mlp(lib)
    trainer = _Trainer(lib, model, branch)
    step = compile_fn(trainer.step)
    for x, y in _batches(lib):
        step(x, y)
    return _weights(model), trainer, step


def test_a_trainers_step_count_is_fed():
    """The step moves its count itself: fed from the first compile, and the whole-step
    fast path (StateCall) reads it from its place each call."""
    got, trainer, step = _trained(tc, tc.compile)
    eager, _, _ = _trained(tc, lambda f: f)
    want, _, _ = _trained(torch, lambda f: f)
    _same_weights([got, eager, want])
    assert type(trainer.step_count) is int and trainer.step_count == STEPS
    assert step.compiles == 1 and not step.last.eager
    assert [repr(s) for s in step.outside.slots.values()] == ["_Trainer.step_count"]
    assert isinstance(step._fast, StateCall)


def test_a_count_the_code_branches_on_is_compiled_in_per_value(caplog, monkeypatch):
    """`if self.step_count % 3 == 0` needs the value: the count is pinned (compiled in and
    guarded, for good), each step compiles, and the weights are still eager's."""
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    with caplog.at_level(logging.INFO, logger="tracecomp"), pytest.warns(UserWarning):
        got, trainer, step = _trained(tc, tc.compile, branch=True)
    want, _, _ = _trained(torch, lambda f: f, branch=True)
    _same_weights([got, want])
    assert type(trainer.step_count) is int and trainer.step_count == STEPS
    assert step.compiles == STEPS and not step.outside.slots and step.outside.pinned
    assert any("_Trainer.step_count (a branch, a size, int()): compiled in" in r.getMessage()
               for r in caplog.records)


# --- an annealed coefficient on a global -----------------------------------------------------
KL_WEIGHT = 0.0


def _annealed(x):
    return (x * x).sum() * KL_WEIGHT + x.mean() * (1 - KL_WEIGHT)


@pytest.mark.parametrize("dynamic", [None, False])
def test_an_annealed_global_float_is_fed_in_float64(dynamic):
    """A float global changed every step: fed from its first change (as a float64 input,
    Python's precision), the same artifact for every later value; dynamic=False compiles
    each value in."""
    global KL_WEIGHT
    compiled = tc.compile(_annealed, dynamic=dynamic)
    x = tc.tensor(np.linspace(-1.0, 2.0, 6, dtype=np.float32))
    values = [0.0, 1 / 3, 0.1, 0.7, 1e-3]
    try:
        for KL_WEIGHT in values:     # noqa: B007 - _annealed reads it
            got, want = compiled(x), _annealed(x)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
            ref = _annealed(torch.tensor(x.numpy()))
            np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6)
    finally:
        KL_WEIGHT = 0.0
    if dynamic is False:
        assert compiled.compiles == len(values)
        return
    assert compiled.compiles == 2
    assert "f64[]" in str(compiled.graphs["traced"])
