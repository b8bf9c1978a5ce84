"""Optimizer hyperparameters fed to compiled code as inputs (compiler/hyperparameters.py):
a scheduler stepped every call compiles a whole step, or compile(model)'s fused optimizer
step, once more and then runs the same artifact, with torch's numbers; a tensor lr (torch's
way to keep a compiled step from recompiling) is an input from the first call; a change
the update branches on (momentum to zero) compiles again; a number the step itself reads
is compiled in again. A scheduler stepped inside compiled code: test_scheduler_steps.py."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler import fused_step
from tracecomp.compiler.state_call import StateCall

from helpers import train_step, twin_mlps

STEPS = 8


def _data(seed=1):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    return (tc.from_numpy(x), tc.from_numpy(y)), (torch.from_numpy(x), torch.from_numpy(y))


def _one_cycle(lib, opt):
    # cycles momentum (SGD, RMSprop) or betas[0] (Adam) as well as lr, every step
    return lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=50)


def _train(step, ref_step, sched, ref_sched, data, ref_data, steps=STEPS):
    for _ in range(steps):
        got, want = step(*data), ref_step(*ref_data)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5, atol=1e-6)
        sched.step()
        ref_sched.step()


def _assert_same(model, ref):
    for got, want in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("opt, kw", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.1}),
])
@pytest.mark.parametrize("tensor_lr", [False, True])
def test_a_scheduler_stepped_every_call_compiles_the_whole_step_twice(opt, kw, tensor_lr):
    """The first call compiles; the second (a new lr, and the optimizer state made by the
    first step) compiles with the changed hyperparameters fed; later ones reuse it through
    the whole step's fast path."""
    (model, o), (ref, ref_o) = twin_mlps(opt, kw, tensor_lr)
    cycle = opt not in ("RMSprop", "Adagrad")   # no momentum or betas to cycle
    sched = tc.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=50,
                                             cycle_momentum=cycle)
    ref_sched = torch.optim.lr_scheduler.OneCycleLR(ref_o, max_lr=0.2, total_steps=50,
                                                    cycle_momentum=cycle)
    step = tc.compile(train_step(model, o))
    _train(step, train_step(ref, ref_o, torch), sched, ref_sched, *_data())
    _assert_same(model, ref)
    assert step.compiles == 2
    assert isinstance(step._fast, StateCall)


def test_the_fed_values_are_read_at_each_call_without_the_general_call(monkeypatch):
    """From the third call the whole step repeats through StateCall: the general call
    (patched to fail) never runs, and each call still reads the scheduler's new lr,
    momentum and betas."""
    (model, opt), (ref, ref_opt) = twin_mlps("Adam", {"lr": 0.01})
    sched, ref_sched = _one_cycle(tc, opt), _one_cycle(torch, ref_opt)
    step, ref_step = tc.compile(train_step(model, opt)), train_step(ref, ref_opt, torch)
    data, ref_data = _data()
    _train(step, ref_step, sched, ref_sched, data, ref_data, steps=3)

    def general_call(*args, **kwargs):
        raise AssertionError("the general call ran")
    monkeypatch.setattr(type(step), "_call", general_call)
    _train(step, ref_step, sched, ref_sched, data, ref_data, steps=6)
    _assert_same(model, ref)
    np.testing.assert_allclose(opt.state[model[0].weight]["exp_avg"].numpy(),
                               ref_opt.state[ref[0].weight]["exp_avg"].numpy(), rtol=1e-5,
                               atol=1e-7)


def test_momentum_set_to_zero_compiles_again():
    """SGD branches on momentum != 0: a fed momentum that becomes 0 is a new signature,
    and the steps after it have no momentum, as torch's."""
    (model, opt), (ref, ref_opt) = twin_mlps("SGD", {"lr": 0.1, "momentum": 0.9})
    step, ref_step = tc.compile(train_step(model, opt)), train_step(ref, ref_opt, torch)
    data, ref_data = _data()
    for k, momentum in enumerate([0.9, 0.8, 0.7, 0.0, 0.0, 0.5]):
        for o in (opt, ref_opt):
            o.param_groups[0]["momentum"] = momentum
            o.param_groups[0]["lr"] = 0.1 / (k + 1)
        np.testing.assert_allclose(step(*data).item(), ref_step(*ref_data).item(), rtol=1e-5)
    _assert_same(model, ref)
    assert step.compiles == 3       # 0.9, fed, zero; 0.5 runs the fed nonzero artifact


def test_a_number_fed_before_stays_fed_for_a_new_value_and_counts_once():
    """lr changed once by hand (a StepLR-like drop) is fed from then on: later drops reuse
    the artifact; the miss that fed it names the change."""
    (model, opt), _ = twin_mlps("SGD", {"lr": 0.1})
    step = tc.compile(train_step(model, opt))
    data, _ = _data()
    step(*data)
    for lr in (0.05, 0.01, 0.001):
        opt.param_groups[0]["lr"] = lr
        step(*data)
    assert step.compiles == 2


@pytest.mark.parametrize("opt, kw", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                     ("Adam", {"lr": 0.01})])
@pytest.mark.parametrize("tensor_lr", [False, True])
def test_compile_model_fused_step_stays_compiled_under_a_scheduler(opt, kw, tensor_lr):
    """compile(model) with opt.step() and the scheduler eager: the fused update compiles
    twice, stays on (it used to go back to its loop after MAX_COMPILES) and repeats
    through StepRepeat, with torch's numbers."""
    (model, o), (ref, ref_o) = twin_mlps(opt, kw, tensor_lr)
    sched, ref_sched = _one_cycle(tc, o), _one_cycle(torch, ref_o)
    compiled = tc.compile(model)
    _train(train_step(compiled, o), train_step(ref, ref_o, torch), sched, ref_sched, *_data(),
           steps=fused_step.MAX_COMPILES + 4)
    _assert_same(model, ref)
    fused = fused_step._STEPS[o]
    assert fused.compiled.compiles == 2 and not fused.off and fused.repeat is not None


def test_an_optimizer_that_cannot_feed_a_changed_value_compiles_it_in():
    """RMSprop feeds lr only; a momentum that changes (CyclicLR's cycle) is compiled in
    each time, with torch's numbers."""
    (model, opt), (ref, ref_opt) = twin_mlps("RMSprop", {"lr": 0.01, "momentum": 0.9})
    step, ref_step = tc.compile(train_step(model, opt)), train_step(ref, ref_opt, torch)
    data, ref_data = _data()
    for momentum in (0.9, 0.8, 0.7):
        opt.param_groups[0]["momentum"] = ref_opt.param_groups[0]["momentum"] = momentum
        np.testing.assert_allclose(step(*data).item(), ref_step(*ref_data).item(), rtol=1e-5)
    _assert_same(model, ref)
    assert step.compiles == 3


@pytest.mark.parametrize("use", ["returned", "computed with", "formatted"])
def test_a_fed_number_the_step_itself_reads_is_compiled_in_again(use):
    """A step that returns lr, computes with it or formats it would keep the trace's value
    if lr were fed: the function compiles again with lr compiled in, from then on, and
    every call sees the lr of its own step, as eagerly."""
    (model, opt), _ = twin_mlps("SGD", {"lr": 0.1})
    group = opt.param_groups[0]

    def step(x, y):
        loss = train_step(model, opt)(x, y)
        if use == "returned":
            return loss, group["lr"]
        if use == "computed with":
            return loss, loss * (group["lr"] * 10)
        return loss, f"{group['lr']:.3f}"
    compiled = tc.compile(step)
    data, _ = _data()
    for lr in [0.1, 0.05, 0.02, 0.01]:
        group["lr"] = lr
        loss, seen = compiled(*data)
        want = {"returned": lr, "computed with": loss.item() * lr * 10,
                "formatted": f"{lr:.3f}"}[use]
        got = seen.item() if use == "computed with" else seen
        assert got == pytest.approx(want, rel=1e-6) if use == "computed with" else got == want
    assert compiled.compiles == 4       # every lr compiled in, as before feeding
    assert (0, 0, "lr") in compiled.fed.pinned
