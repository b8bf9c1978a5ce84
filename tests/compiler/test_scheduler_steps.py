"""A learning-rate scheduler stepped inside compiled code (compiler/scheduler_steps.py): the
compiled call steps it after the graph has run, every call, the scheduler found again where
the function reaches it, with torch's numbers; anything the step changes that the traced
code reads after it, and a step with arguments, is a TraceError that leaves the optimizer
as it was."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler.state_call import StateCall
from tracecomp.errors import TraceError

from helpers import twin_mlps


def _data():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    return (tc.from_numpy(x), tc.from_numpy(y)), (torch.from_numpy(x), torch.from_numpy(y))


def _lr(opt):
    lr = opt.param_groups[0]["lr"]
    return float(lr) if isinstance(lr, float) else lr.item()


def _assert_same(model, ref, opt, ref_opt):
    for got, want in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert _lr(opt) == pytest.approx(_lr(ref_opt), rel=1e-6)


# compiles: the first call's; the second's, where the optimizer state and the gradients
# appear and (but StepLR's) lr changes, so it is fed; StepLR's first change, at the third
@pytest.mark.parametrize("opt, kw, schedule, compiles", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, ("OneCycleLR", {"max_lr": 0.2, "total_steps": 50}),
     2),
    ("Adam", {"lr": 0.01}, ("OneCycleLR", {"max_lr": 0.02, "total_steps": 50}), 2),
    ("SGD", {"lr": 0.1}, ("StepLR", {"step_size": 2, "gamma": 0.5}), 3),
    ("AdamW", {"lr": 0.01}, ("CosineAnnealingLR", {"T_max": 6}), 2),
])
def test_a_whole_step_that_steps_its_scheduler_follows_torch(opt, kw, schedule, compiles):
    """opt.step(); sched.step() at the end of the compiled step: the scheduler steps after
    every call, through the fast path too, and the fed lr of the next call is its new
    one."""
    (model, o), (ref, ref_o) = twin_mlps(opt, kw)
    name, options = schedule
    sched = getattr(tc.optim.lr_scheduler, name)(o, **options)
    ref_sched = getattr(torch.optim.lr_scheduler, name)(ref_o, **options)

    def step(lib, model, o, sched):
        def run(x, y):
            o.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            o.step()
            sched.step()
            return loss
        return run
    compiled, ref_step = tc.compile(step(tc, model, o, sched)), step(torch, ref, ref_o, ref_sched)
    data, ref_data = _data()
    for _ in range(8):
        np.testing.assert_allclose(compiled(*data).item(), ref_step(*ref_data).item(),
                                   rtol=1e-5, atol=1e-6)
        assert sched.last_epoch == ref_sched.last_epoch
        _assert_same(model, ref, o, ref_o)
    assert compiled.compiles == compiles and isinstance(compiled._fast, StateCall)


def test_torchs_compiled_optimizer_with_a_scheduler():
    """torch's tutorial: a tensor lr, and `opt.step(); sched.step()` compiled together."""
    (model, opt), (ref, ref_opt) = twin_mlps("Adam", {"lr": 0.01}, tensor_lr=True)
    for p, q in zip(model.parameters(), ref.parameters()):
        p.grad = tc.ones(p.shape)
        q.grad = torch.ones(q.shape)
    sched = tc.optim.lr_scheduler.LinearLR(opt, total_iters=5)
    ref_sched = torch.optim.lr_scheduler.LinearLR(ref_opt, total_iters=5)

    @tc.compile
    def fn():
        opt.step()
        sched.step()
    for _ in range(5):
        fn()
        ref_opt.step()
        ref_sched.step()
        _assert_same(model, ref, opt, ref_opt)
    assert fn.compiles <= 2


def test_the_scheduler_is_found_again_where_the_function_reads_it():
    """A trainer's method steps self.sched: a new scheduler put there is the one stepped
    (its own schedule, from its own count), with no compile."""
    (model, opt), _ = twin_mlps("SGD", {"lr": 0.1})

    class Trainer:
        def __init__(self):
            self.sched = tc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

        def step(self, x, y):
            opt.zero_grad()
            loss = tc.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            self.sched.step()
            return loss
    trainer = Trainer()
    compiled = tc.compile(trainer.step)
    data, _ = _data()
    for _ in range(3):
        compiled(*data)
    assert _lr(opt) == pytest.approx(0.1 / 8)
    compiles = compiled.compiles
    old = trainer.sched
    trainer.sched = tc.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1)   # lr stays 0.0125
    compiled(*data)
    assert _lr(opt) == pytest.approx(0.1 / 8 * 0.1) and old.last_epoch == 3
    assert compiled.compiles == compiles


@pytest.mark.parametrize("after", ["optimizer step", "lr returned", "get_last_lr",
                                   "lr computed with"])
def test_what_the_scheduler_changes_read_after_its_step_is_refused(after):
    """The step runs after the call, so a read after it would see the old value: refused
    by name, and the groups and the scheduler are as they were."""
    (model, opt), _ = twin_mlps("SGD", {"lr": 0.1, "momentum": 0.9})
    sched = tc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def step(x, y):
        opt.zero_grad()
        loss = tc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        sched.step()
        if after == "optimizer step":
            opt.step()
        elif after == "lr returned":
            return loss, opt.param_groups[0]["lr"]
        elif after == "get_last_lr":
            return loss, sched.get_last_lr()
        elif after == "lr computed with":
            return loss * opt.param_groups[0]["lr"]
        return loss
    with pytest.raises(TraceError, match=r"read (optimizer group 0's \w+|StepLR.get_last_lr"
                                         r"\(\)) after the scheduler's step\(\)"):
        tc.compile(step, fullgraph=True)(*_data()[0])
    group = opt.param_groups[0]
    assert type(group["lr"]) is float and group["lr"] == 0.1 and type(group["momentum"]) is float
    assert sched.last_epoch == 0 and type(sched.get_last_lr()[0]) is float
    assert not opt.state


def test_a_scheduler_step_with_a_metric_is_refused():
    """ReduceLROnPlateau's step takes the loss, a value of the compiled code."""
    (model, opt), _ = twin_mlps("SGD", {"lr": 0.1})
    sched = tc.optim.lr_scheduler.ReduceLROnPlateau(opt)

    def step(x, y):
        loss = tc.nn.functional.cross_entropy(model(x), y)
        sched.step(loss)
        return loss
    with pytest.raises(TraceError, match=r"ReduceLROnPlateau.step\(...\) ran inside compiled "
                                         r"code with arguments.*after the compiled function"):
        tc.compile(step, fullgraph=True)(*_data()[0])
