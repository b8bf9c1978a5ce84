"""tracecomp.optim.swa_utils vs torch.optim.swa_utils 2.13: the averaged weights and
buffers, n_averaged and state_dict keys of AveragedModel over several updates (SWA, EMA,
per-tensor and list averaging functions, use_buffers), SWALR's learning rates epoch by
epoch, update_bn's running statistics, and torch's SWA recipe end to end.
"""
import numpy as np
import pytest
import torch
from torch.optim import swa_utils as torch_swa

import tracecomp as tc
from tracecomp.optim import swa_utils as tc_swa

from helpers import assert_close

RNG = np.random.default_rng(0)


def net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def pair():
    """The same small network in both libraries, torch's initial weights in ours."""
    torch.manual_seed(0)
    theirs, ours = net(torch), net(tc)
    load(ours, theirs.state_dict())
    return ours, theirs


def load(ours, state):
    ours.load_state_dict({k: tc.tensor(v.detach().numpy().copy()) for k, v in state.items()})


def new_weights(ours, theirs):
    """Give both models the same new parameters and buffers, as a training step would."""
    state = {}
    for k, v in theirs.state_dict().items():
        if v.dtype == torch.int64:
            state[k] = v + int(RNG.integers(1, 5))
        else:
            values = RNG.standard_normal(tuple(v.shape)).astype(np.float32)
            state[k] = torch.tensor(np.abs(values) if k.endswith("var") else values)
    theirs.load_state_dict(state)
    load(ours, state)


def assert_same_state(ours, theirs):
    got, want = ours.state_dict(), theirs.state_dict()
    assert list(got) == list(want)
    for k in want:
        assert_close(got[k], want[k], rtol=1e-6, atol=1e-7, what=k)


AVERAGING = {
    "swa": lambda swa: {},
    "ema": lambda swa: {"avg_fn": swa.get_ema_avg_fn(0.9)},
    "swa_fn": lambda swa: {"avg_fn": swa.get_swa_avg_fn()},
    "ema_multi": lambda swa: {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.8)},
    "swa_multi": lambda swa: {"multi_avg_fn": swa.get_swa_multi_avg_fn()},
    "custom": lambda swa: {"avg_fn": lambda a, c, n: 0.5 * a + 0.5 * c * (n + 1) / (n + 2)},
}


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("name", sorted(AVERAGING))
def test_averaged_model_follows_torch_over_updates(name, use_buffers):
    ours, theirs = pair()
    avg_ours = tc_swa.AveragedModel(ours, use_buffers=use_buffers, **AVERAGING[name](tc_swa))
    avg_theirs = torch_swa.AveragedModel(theirs, use_buffers=use_buffers,
                                         **AVERAGING[name](torch_swa))
    assert list(avg_ours.state_dict())[:2] == ["n_averaged", "module.0.weight"]
    assert_same_state(avg_ours, avg_theirs)
    if name == "swa_multi" and use_buffers:
        # torch's list SWA divides the integer buffer num_batches_tracked with addcdiv_
        avg_theirs.update_parameters(theirs)
        avg_ours.update_parameters(ours)
        with pytest.raises(RuntimeError) as want:
            avg_theirs.update_parameters(theirs)
        with pytest.raises(RuntimeError, match="Integer division with addcdiv") as got:
            avg_ours.update_parameters(ours)
        assert str(got.value) == str(want.value)
        return
    for _ in range(4):
        new_weights(ours, theirs)
        avg_ours.update_parameters(ours)
        avg_theirs.update_parameters(theirs)
        assert_same_state(avg_ours, avg_theirs)
    assert int(avg_ours.n_averaged) == 4 and avg_ours.n_averaged.dtype == tc.int64
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    avg_ours.eval()
    avg_theirs.eval()
    assert_close(avg_ours(tc.tensor(x)), avg_theirs(torch.tensor(x)), rtol=1e-5)
    assert repr(avg_ours) == repr(avg_theirs)


def test_averaged_model_is_a_copy_and_checks_its_arguments():
    ours, _ = pair()
    avg = tc_swa.AveragedModel(ours)
    assert avg.module is not ours
    assert avg.module[0].weight is not ours[0].weight
    for lib, swa in ((tc, tc_swa), (torch, torch_swa)):
        with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
            swa.AveragedModel(net(lib), avg_fn=swa.get_swa_avg_fn(),
                              multi_avg_fn=swa.get_swa_multi_avg_fn())
        for make in (swa.get_ema_avg_fn, swa.get_ema_multi_avg_fn):
            with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided. Please "
                                                 r"provide a value in \[0,1\] range."):
                make(1.5)


def test_averaged_model_state_dict_loads_into_torchs():
    ours, theirs = pair()
    avg_ours, avg_theirs = tc_swa.AveragedModel(ours), torch_swa.AveragedModel(theirs)
    for _ in range(3):
        new_weights(ours, theirs)
        avg_ours.update_parameters(ours)
    avg_theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in
                                avg_ours.state_dict().items()})
    assert int(avg_theirs.n_averaged) == 3
    assert_same_state(avg_ours, avg_theirs)


# --- SWALR ------------------------------------------------------------------------------------
def optimizers(lib):
    params = [lib.nn.Parameter(lib.zeros(2)), lib.nn.Parameter(lib.zeros(3))]
    return lib.optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.3}], lr=0.1)


SCHEDULES = [
    {"swa_lr": 0.05},
    {"swa_lr": [0.01, 0.5], "anneal_epochs": 3, "anneal_strategy": "linear"},
    {"swa_lr": 0.02, "anneal_epochs": 0},
    {"swa_lr": [0.2, 0.02], "anneal_epochs": 1, "anneal_strategy": "cos"},
]


@pytest.mark.parametrize("kwargs", SCHEDULES)
def test_swalr_learning_rates_per_epoch_match_torch(kwargs):
    runs = []
    for lib, swa in ((tc, tc_swa), (torch, torch_swa)):
        opt = optimizers(lib)
        sched = swa.SWALR(opt, **kwargs)
        lrs = [sched.get_last_lr()]
        for _ in range(14):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
            assert [g["lr"] for g in opt.param_groups] == lrs[-1]
        runs.append((lrs, [g["swa_lr"] for g in opt.param_groups], sched.state_dict()))
    (got, got_swa, got_state), (want, want_swa, want_state) = runs
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got_swa == want_swa
    assert sorted(got_state) == sorted(want_state)
    for k in ("anneal_epochs", "_anneal_strategy", "last_epoch", "_step_count", "base_lrs"):
        assert got_state[k] == want_state[k], k


def test_swalr_after_another_scheduler_and_from_a_state_dict():
    """torch's recipe: CosineAnnealingLR until swa_start, then SWALR from the lr reached;
    a SWALR loaded from a state_dict continues the same schedule."""
    runs = []
    for lib, swa in ((tc, tc_swa), (torch, torch_swa)):
        opt = optimizers(lib)
        cosine = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        swa_sched = swa.SWALR(opt, swa_lr=0.05, anneal_epochs=4)
        lrs = []
        for epoch in range(12):
            opt.step()
            (swa_sched if epoch >= 5 else cosine).step()
            lrs.append([g["lr"] for g in opt.param_groups])
        resumed = swa.SWALR(optimizers(lib), swa_lr=0.9, anneal_strategy="linear")
        resumed.load_state_dict(swa_sched.state_dict())
        assert resumed.anneal_func(0.5) == swa_sched.anneal_func(0.5)
        runs.append(lrs)
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12)


def test_swalr_errors_and_warning_match_torch():
    for lib, swa in ((tc, tc_swa), (torch, torch_swa)):
        opt = optimizers(lib)
        with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or "
                                             "'linear', instead got cosine"):
            swa.SWALR(opt, 0.1, anneal_strategy="cosine")
        for epochs in (-1, 2.0):
            with pytest.raises(ValueError, match=f"anneal_epochs must be equal or greater "
                                                 f"than 0, got {epochs}"):
                swa.SWALR(opt, 0.1, anneal_epochs=epochs)
        with pytest.raises(ValueError, match="swa_lr must have the same length as "
                                             "optimizer.param_groups. swa_lr has 3 values, "
                                             "param_groups has 2."):
            swa.SWALR(opt, [0.1, 0.2, 0.3])
        with pytest.warns(UserWarning, match="please use `get_last_lr"):
            swa.SWALR(opt, 0.1).get_lr()


# --- update_bn --------------------------------------------------------------------------------
def bn_net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6, momentum=0.3), nn.ReLU(),
                         nn.Linear(6, 5), nn.BatchNorm1d(5),
                         nn.Unflatten(1, (1, 5)), nn.InstanceNorm1d(1, track_running_stats=True))


@pytest.mark.parametrize("tuples", [False, True])
def test_update_bn_recomputes_running_stats_as_torch(tuples):
    torch.manual_seed(0)
    theirs, ours = bn_net(torch), bn_net(tc)
    load(ours, theirs.state_dict())
    batches = [RNG.standard_normal((n, 4)).astype(np.float32) for n in (8, 5, 11)]
    runs = []
    for lib, swa, model in ((tc, tc_swa, ours), (torch, torch_swa, theirs)):
        with lib.no_grad():      # stale statistics and one stale instance-norm statistic
            model[1].running_mean.fill_(7.0)
            model[6].running_mean.fill_(3.0)
        model.eval()
        loader = [(lib.tensor(b), lib.tensor([0])) if tuples else lib.tensor(b)
                  for b in batches]
        swa.update_bn(loader, model)
        assert not model.training
        assert model[1].momentum == 0.3 and model[4].momentum == 0.1
        runs.append(model)
    # the InstanceNorm (no BatchNorm in torch) kept its statistics and momentum, and the
    # pass moved them as training moves them: torch's values
    assert_same_state(*runs)
    assert int(ours[1].num_batches_tracked) == 3


def test_update_bn_without_batch_norm_reads_no_batch():
    def loader():
        raise AssertionError("update_bn read the loader")
        yield
    model = tc.nn.Sequential(tc.nn.Linear(2, 2))
    tc_swa.update_bn(loader(), model)


def test_swa_recipe_end_to_end_matches_torch():
    """torch.optim.swa_utils' documented recipe: train, average from swa_start on with
    SWALR, then update_bn; the averaged model predicts as torch's."""
    ours, theirs = pair()
    data = [(RNG.standard_normal((8, 4)).astype(np.float32), RNG.integers(0, 3, 8))
            for _ in range(4)]
    preds = []
    for lib, swa, model in ((tc, tc_swa, ours), (torch, torch_swa, theirs)):
        loader = [(lib.tensor(x), lib.tensor(y)) for x, y in data]
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        swa_model = swa.AveragedModel(model)
        scheduler = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
        swa_scheduler = swa.SWALR(opt, swa_lr=0.05, anneal_epochs=2)
        for epoch in range(6):
            for x, y in loader:
                opt.zero_grad()
                lib.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
            if epoch >= 3:
                swa_model.update_parameters(model)
                swa_scheduler.step()
            else:
                scheduler.step()
        swa.update_bn(loader, swa_model)
        swa_model.eval()
        preds.append((swa_model(loader[0][0]), swa_model))
    assert_close(preds[0][0], preds[1][0], rtol=1e-4, atol=1e-5)
    got, want = preds[0][1].state_dict(), preds[1][1].state_dict()
    assert list(got) == list(want)
    for k in want:
        assert_close(got[k], want[k], rtol=1e-4, atol=1e-5, what=k)
