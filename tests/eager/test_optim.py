"""tracecomp.optim against torch.optim 2.13: the same parameters, the same gradient
sequence, the same hyperparameters, then parameters, state and state_dicts compared after
every step; schedulers' learning rates compared value for value; errors in torch's words."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.optim as optim
from tests.helpers import assert_close
from tests.optim_pair import Pair, check_state
from tracecomp.optim import lr_scheduler

SHAPES = [(3, 4), (5,), ()]
STEPS = 10

CASES = {
    "SGD": [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
            dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1),
            dict(lr=0.1, momentum=0.8, nesterov=True),
            dict(lr=0.1, weight_decay=0.2, maximize=True),
            dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)],
    "Adam": [dict(), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, amsgrad=True),
             dict(lr=0.01, maximize=True), dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6),
             dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)],
    "AdamW": [dict(), dict(lr=0.01, weight_decay=0.1, amsgrad=True),
              dict(lr=0.01, maximize=True, weight_decay=0.0)],
    "RMSprop": [dict(), dict(lr=0.01, momentum=0.9), dict(lr=0.01, centered=True),
                dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, alpha=0.9),
                dict(lr=0.01, maximize=True, eps=1e-4)],
    "Adagrad": [dict(), dict(lr=0.1, lr_decay=0.05), dict(lr=0.1, weight_decay=0.1),
                dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6),
                dict(lr=0.1, maximize=True, lr_decay=0.01)],
}
GRID = [(name, kw) for name, kws in CASES.items() for kw in kws]


def _ids(case):
    return case[0] + "-" + ",".join(f"{k}={v}" for k, v in case[1].items())


def _data(seed, steps=STEPS, shapes=SHAPES, dtype=np.float32):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("case", GRID, ids=_ids)
def test_steps_match_torch(case):
    name, kwargs = case
    params, grads = _data(1)
    pair = Pair(name, kwargs, params)
    for t, g in enumerate(grads):
        pair.step(g)
        pair.check(f"{_ids(case)} step {t + 1}")


@pytest.mark.parametrize("case", GRID, ids=_ids)
def test_state_dict_round_trip(case):
    """Save after 4 steps, load into a fresh optimizer, keep stepping: still torch's path."""
    name, kwargs = case
    params, grads = _data(2)
    pair = Pair(name, kwargs, params)
    for g in grads[:4]:
        pair.step(g)
    saved = pair.tc.state_dict()
    fresh = getattr(optim, name)(pair.tc_params, **kwargs)
    fresh.load_state_dict(saved)
    for s, f in zip(saved["state"].values(), fresh.state.values()):
        for k, v in s.items():   # deep copies: the loaded state owns its tensors
            assert isinstance(v, tc.Tensor) and f[k] is not v and f[k]._data is not v._data
    pair.tc = fresh
    for t, g in enumerate(grads[4:]):
        pair.step(g)
        pair.check(f"{_ids(case)} after reload, step {t + 5}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_closure_quadratic_loss(name):
    """step(closure) recomputes a loss with autograd in both frameworks and returns it."""
    params, _ = _data(3, steps=0)
    kwargs = {"lr": 0.05, "momentum": 0.5} if name == "SGD" else {"lr": 0.05}
    pair = Pair(name, kwargs, params)

    def closure(ps, opt):
        def run():
            opt.zero_grad()
            loss = sum(((p - 0.5) ** 2 * (i + 1)).sum() for i, p in enumerate(ps))
            loss.backward()
            return loss
        return run

    for t in range(8):
        got = pair.tc.step(closure(pair.tc_params, pair.tc))
        want = pair.pt.step(closure(pair.pt_params, pair.pt))
        assert_close(got, want, what=f"{name} loss at step {t}")
        pair.check(f"{name} closure step {t}")


def test_param_groups_with_own_options_and_skipped_grads():
    params, grads = _data(4)
    groups = [{"params": [0], "lr": 0.3, "momentum": 0.5}, {"params": [1, 2]}]
    pair = Pair("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, params, groups)
    assert pair.tc.param_groups[0]["lr"] == 0.3 and pair.tc.param_groups[1]["lr"] == 0.05
    assert pair.tc.param_groups[1]["momentum"] == 0.9
    for t, g in enumerate(grads):
        g = [g[0], None, g[2]] if t % 2 else g      # param 1 has no grad on odd steps
        pair.step(g)
        pair.check(f"groups step {t + 1}")


def test_params_without_grad_are_untouched():
    params, grads = _data(5)
    pair = Pair("Adam", {"lr": 0.1}, params)
    before = pair.tc_params[1].detach().numpy().copy()
    for g in grads[:3]:
        pair.step([g[0], None, g[2]])
    np.testing.assert_array_equal(pair.tc_params[1].detach().numpy(), before)
    assert 1 not in pair.tc.state_dict()["state"]
    pair.check("Adam with a grad-less param")


def test_add_param_group():
    params, grads = _data(6)
    pair = Pair("Adam", {"lr": 0.01}, params[:1])
    for g in grads[:3]:
        pair.step(g[:1])
    a, b = tc.tensor(params[1].copy(), requires_grad=True), tc.tensor(params[2].copy(),
                                                                       requires_grad=True)
    pair.tc.add_param_group({"params": [a, b], "lr": 0.1, "amsgrad": True})
    pair.pt.add_param_group({"params": [torch.tensor(params[1].copy(), requires_grad=True),
                                        torch.tensor(params[2].copy(), requires_grad=True)],
                             "lr": 0.1, "amsgrad": True})
    pair.tc_params += [a, b]
    pair.pt_params += pair.pt.param_groups[1]["params"]
    for t, g in enumerate(grads[3:]):
        pair.step(g)
        pair.check(f"after add_param_group, step {t + 4}")


def test_step_leaves_parameters_as_leaves():
    p = tc.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert not opt.state[p]["momentum_buffer"].requires_grad
    assert tc.is_grad_enabled()


def test_zero_grad():
    p = tc.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * 3).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and p.grad.tolist() == [0.0, 0.0]
    (p * 3).sum().backward()
    assert p.grad.tolist() == [3.0, 3.0]
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()            # no grads at all: nothing to do
    assert p.grad is None


def test_zero_grad_detaches_a_grad_with_history():
    p = tc.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p ** 3).sum().backward(create_graph=True)
    assert p.grad.requires_grad
    opt.zero_grad(set_to_none=False)
    assert not p.grad.requires_grad and p.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name", list(CASES))
def test_repr_matches_torch(name):
    ours = getattr(optim, name)([tc.zeros(2, requires_grad=True)], lr=0.5)
    ours.add_param_group({"params": [tc.zeros(1, requires_grad=True)], "lr": 0.25})
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], lr=0.5)
    theirs.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.25})
    assert repr(ours) == repr(theirs)


def test_state_dict_format_and_float64_params():
    params, grads = _data(7, dtype=np.float64)
    pair = Pair("RMSprop", {"momentum": 0.9, "centered": True}, params,
                [{"params": [2, 0]}, {"params": [1], "lr": 0.1}])
    for g in grads[:3]:
        pair.step(g)
    got, want = pair.tc.state_dict(), pair.pt.state_dict()
    assert [g["params"] for g in got["param_groups"]] == [[0, 1], [2]]
    assert got["state"][0]["step"].dtype == tc.float32
    assert got["state"][0]["square_avg"].dtype == tc.float64
    check_state(got, want, "RMSprop float64")


def test_load_state_dict_casts_to_param_dtype():
    p = tc.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p])
    p.grad = tc.tensor([0.5, -0.5])
    opt.step()
    q = tc.tensor([1.0, 2.0], dtype=tc.float64, requires_grad=True)
    other = optim.Adam([q])
    other.load_state_dict(opt.state_dict())
    assert other.state[q]["exp_avg"].dtype == tc.float64
    assert other.state[q]["step"].dtype == tc.float32


ERRORS = [
    ("SGD", dict(lr=-0.1)), ("SGD", dict(momentum=-0.5)), ("SGD", dict(weight_decay=-1.0)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adam", dict(lr=-1e-3)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-0.1)),
    ("AdamW", dict(lr=-0.1)), ("RMSprop", dict(alpha=-0.5)), ("RMSprop", dict(momentum=-1)),
    ("RMSprop", dict(eps=-1e-8)), ("Adagrad", dict(lr_decay=-0.1)),
    ("Adagrad", dict(initial_accumulator_value=-1.0)), ("Adagrad", dict(eps=-1.0)),
]


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name,kwargs", ERRORS, ids=[f"{n}-{k}" for n, k in ERRORS])
def test_invalid_hyperparameters_match_torch(name, kwargs):
    got = _error(lambda: getattr(optim, name)([tc.zeros(2, requires_grad=True)], **kwargs))
    want = _error(lambda: getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)],
                                                     **kwargs))
    assert issubclass(got[0], want[0]) and got[1] == want[1], f"tracecomp={got} | torch={want}"


def _both(build):
    """build(lib, optim_module, make_param) -> callable raising; errors of both libs."""
    got = _error(lambda: build(tc, optim, lambda: tc.zeros(2, requires_grad=True)))
    want = _error(lambda: build(torch, torch.optim, lambda: torch.zeros(2, requires_grad=True)))
    assert issubclass(got[0], want[0]) and got[1] == want[1], f"tracecomp={got} | torch={want}"


def test_construction_errors_match_torch():
    _both(lambda lib, o, mk: o.SGD([], lr=0.1))
    _both(lambda lib, o, mk: o.SGD([mk(), 3], lr=0.1))
    _both(lambda lib, o, mk: o.SGD([{"params": {mk()}}], lr=0.1))
    _both(lambda lib, o, mk: o.SGD([mk() * 2], lr=0.1))

    def shared(lib, o, mk):
        p = mk()
        return o.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    _both(shared)

    def bad_group(lib, o, mk):
        o.SGD([mk()], lr=0.1).add_param_group([mk()])
    _both(bad_group)


def test_load_state_dict_errors_match_torch():
    def mismatch_size(lib, o, mk):
        a = o.Adam([mk(), mk()])
        o.Adam([mk()]).load_state_dict(a.state_dict())

    def mismatch_groups(lib, o, mk):
        a = o.Adam([{"params": [mk()]}, {"params": [mk()]}])
        o.Adam([mk(), mk()]).load_state_dict(a.state_dict())
    _both(mismatch_size)
    _both(mismatch_groups)


# --- learning-rate schedulers ---------------------------------------------------------
class Halving:
    """A callable object: its __dict__ goes into LambdaLR's state_dict."""

    def __init__(self):
        self.base = 0.5

    def __call__(self, epoch):
        return self.base ** (epoch // 4)


SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 8, 8, 20], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=9, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=30)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e))),
    ("LambdaLR", dict(lr_lambda=Halving())),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.97)),
    ("ConstantLR", dict(factor=0.25, total_iters=6)),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=12)),
]


def _sched_ids(case):
    return case[0] + "-" + ",".join(f"{k}={v}" for k, v in case[1].items() if k != "lr_lambda")


def _two_group_optimizers():
    a, b = tc.zeros(2, requires_grad=True), tc.zeros(3, requires_grad=True)
    x, y = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    ours = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD([{"params": [x]}, {"params": [y], "lr": 0.05}], lr=0.1,
                             momentum=0.9)
    return ours, theirs


@pytest.mark.parametrize("case", SCHEDULERS, ids=_sched_ids)
def test_scheduler_matches_torch(case):
    name, kwargs = case
    ours, theirs = _two_group_optimizers()
    s = getattr(lr_scheduler, name)(ours, **kwargs)
    t = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    assert s.get_last_lr() == t.get_last_lr() and s.base_lrs == t.base_lrs
    for epoch in range(30):
        ours.step()
        theirs.step()
        s.step()
        t.step()
        assert s.get_last_lr() == t.get_last_lr(), \
            f"{name} epoch {epoch + 1}: tracecomp={s.get_last_lr()} | torch={t.get_last_lr()}"
        assert [g["lr"] for g in ours.param_groups] == t.get_last_lr()
        if epoch == 14:    # halfway: round-trip the scheduler's state into a fresh one
            saved = s.state_dict()
            assert set(saved) == set(t.state_dict())
            ours_sd = ours.state_dict()
            ours, _ = _two_group_optimizers()
            s = getattr(lr_scheduler, name)(ours, **kwargs)
            ours.load_state_dict(ours_sd)     # after the scheduler, as torch's docs say
            s.load_state_dict(saved)


def test_scheduler_step_epoch_uses_closed_form():
    ours, theirs = _two_group_optimizers()
    s, t = lr_scheduler.StepLR(ours, 3, 0.5), torch.optim.lr_scheduler.StepLR(theirs, 3, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (5, 2, 9):
            s.step(epoch)
            t.step(epoch)
            assert s.get_last_lr() == t.get_last_lr()


def test_scheduler_warns_when_stepped_before_optimizer():
    ours, _ = _two_group_optimizers()
    s = lr_scheduler.ExponentialLR(ours, 0.9)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    ours, _ = _two_group_optimizers()
    s = lr_scheduler.ExponentialLR(ours, 0.9)
    ours.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86] * 3
    for kw in (dict(patience=2, factor=0.5), dict(mode="max", patience=1, cooldown=2,
                                                  threshold_mode="abs", threshold=0.01,
                                                  min_lr=[0.02, 0.01])):
        ours, theirs = _two_group_optimizers()
        s = lr_scheduler.ReduceLROnPlateau(ours, **kw)
        t = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kw)
        for i, m in enumerate(metrics):
            s.step(m)
            t.step(m)
            assert s.get_last_lr() == t.get_last_lr(), f"{kw} epoch {i}"
            assert s.num_bad_epochs == t.num_bad_epochs and s.best == t.best


def test_scheduler_errors_match_torch():
    def build(name, *args, **kw):
        return lambda lib, opt, mk: getattr(opt.lr_scheduler, name)(
            opt.SGD([mk()], lr=0.1), *args, **kw)
    _both(build("LinearLR", start_factor=0))
    _both(build("ConstantLR", factor=2.0))
    _both(build("ReduceLROnPlateau", factor=1.0))
    _both(build("ReduceLROnPlateau", mode="up"))
    _both(build("LambdaLR", [lambda e: 1.0, lambda e: 2.0]))
    _both(lambda lib, opt, mk: opt.lr_scheduler.StepLR(object(), 3))
