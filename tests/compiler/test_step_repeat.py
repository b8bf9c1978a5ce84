"""The fused optimizer step's fast path (compiler/step_repeat.py): the latest step again
runs without the general compiled call, and every change it does not cover (a new lr, a
parameter without a gradient, a new group, replaced state) goes back to the general call
with torch's numbers."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler import fused_step

STEPS = 5


def _models(seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = tc.nn.Sequential(tc.nn.Linear(6, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3))
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    return model, ref


def _setup(name, kw):
    model, ref = _models()
    opt = getattr(tc.optim, name)(model.parameters(), **kw)
    ref_opt = getattr(torch.optim, name)(ref.parameters(), **kw)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    return (model, opt, tc.compile(model), tc.from_numpy(x), tc.from_numpy(y)), \
        (ref, ref_opt, ref, torch.from_numpy(x), torch.from_numpy(y))


def _step(lib, model, opt, run, x, y, between=None):
    opt.zero_grad()
    lib.nn.functional.cross_entropy(run(x), y).backward()
    if between is not None:
        between(model, opt)
    opt.step()


def _assert_same(ours, theirs):
    (model, opt, *_), (ref, ref_opt, *_) = ours, theirs
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for p, q in zip(ref.parameters(), model.parameters()):
        for key, want in ref_opt.state[p].items():
            np.testing.assert_allclose(np.asarray(opt.state[q][key].numpy(), np.float64),
                                       np.asarray(want.numpy(), np.float64), rtol=1e-4,
                                       atol=1e-6, err_msg=key)


def _run_both(ours, theirs, steps, between=None, at=None):
    """`steps` steps of both; `between(model, opt)` after the backward of step `at`."""
    for i in range(steps):
        for lib, pair in ((tc, ours), (torch, theirs)):
            _step(lib, *pair, between=between if i == at else None)


def _no_general_call(opt, monkeypatch):
    """From now on a step that reaches the general compiled call fails the test."""
    entry = fused_step._STEPS[opt]

    def general(_):
        raise AssertionError("the step took the general compiled call")
    monkeypatch.setattr(entry, "compiled", general)


@pytest.mark.parametrize("name,kw", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                     ("Adam", {"lr": 1e-2, "weight_decay": 1e-2})])
def test_repeated_steps_skip_the_general_call_with_torchs_numbers(name, kw, monkeypatch):
    ours, theirs = _setup(name, kw)
    _run_both(ours, theirs, 3)      # the state appears at step 1: compiles twice
    assert fused_step._STEPS[ours[1]].repeat is not None
    _no_general_call(ours[1], monkeypatch)
    # an equal hyperparameter that is another object is the same step
    ours[1].param_groups[0]["lr"] = float(str(kw["lr"]))
    _run_both(ours, theirs, STEPS)
    _assert_same(ours, theirs)


def _new_lr(model, opt):
    opt.param_groups[0]["lr"] = 0.03


def _drop_last_grad(model, opt):
    list(model.parameters())[-1].grad = None


def _zero_momentum(model, opt):
    for p in model.parameters():
        buf = opt.state[p]["momentum_buffer"]
        lib = tc if isinstance(buf, tc.Tensor) else torch
        opt.state[p]["momentum_buffer"] = lib.zeros_like(buf)


@pytest.mark.parametrize("change", [_new_lr, _drop_last_grad, _zero_momentum])
def test_a_changed_step_follows_torch(change):
    ours, theirs = _setup("SGD", {"lr": 0.1, "momentum": 0.9})
    _run_both(ours, theirs, STEPS, between=change, at=3)
    _assert_same(ours, theirs)


def test_a_new_group_is_stepped_too():
    ours, theirs = _setup("SGD", {"lr": 0.1, "momentum": 0.9})
    _run_both(ours, theirs, 3)
    extra = np.ones(3, np.float32)
    mine, ref = tc.nn.Parameter(tc.from_numpy(extra.copy())), torch.nn.Parameter(
        torch.from_numpy(extra.copy()))
    ours[1].add_param_group({"params": [mine], "lr": 0.5})
    theirs[1].add_param_group({"params": [ref], "lr": 0.5})
    for lib, pair, p in ((tc, ours, mine), (torch, theirs, ref)):
        model, opt, run, x, y = pair
        opt.zero_grad()
        (lib.nn.functional.cross_entropy(run(x), y) + (p * p).sum()).backward()
        opt.step()
    np.testing.assert_allclose(mine.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    _assert_same(ours, theirs)


def test_hyperparameters_compare_by_value_and_tensors_by_identity():
    from tracecomp.compiler.step_repeat import _same
    a, b = tc.ones(3), tc.ones(3)
    assert _same(0.1, float("0.1")) and _same((0.9, 0.999), (0.9, 0.999))
    assert not _same(1, 1.0) and not _same((0.9, 0.99), (0.9, 0.999))
    assert _same((a,), (a,)) and not _same((a,), (b,))     # never elementwise ==
