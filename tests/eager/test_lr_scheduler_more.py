"""The learning-rate schedulers that tests/eager/test_optim.py does not cover, against torch 2.13:
CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts, PolynomialLR, SequentialLR and
ChainedScheduler, value for value (learning rates and the momenta/betas they cycle), with
state_dict round trips; tensor learning rates; step(epoch); torch's warnings and errors."""
import warnings

import pytest
import torch

import tracecomp as tc
import tracecomp.optim as optim
from tracecomp.optim import lr_scheduler

STEPS = 40


class Triangle:
    """A callable object: CyclicLR saves its __dict__ in state_dict."""

    def __init__(self):
        self.decay = 0.7

    def __call__(self, x):
        return self.decay ** (x - 1)


def _optimizers(kind="SGD"):
    """The same two-group optimizer in both libraries."""
    def build(lib, o):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)
        groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
        if kind == "SGD":
            return o.SGD(groups, lr=0.1, momentum=0.9)
        return o.Adam(groups, lr=0.1, betas=(0.9, 0.99))
    return build(tc, optim), build(torch, torch.optim)


def _chained(lib, opt, sched):
    return sched.ChainedScheduler([sched.ConstantLR(opt, factor=0.5, total_iters=4),
                                   sched.ExponentialLR(opt, gamma=0.9)])


def _sequential(lib, opt, sched):
    return sched.SequentialLR(opt, [sched.LinearLR(opt, start_factor=0.1, total_iters=5),
                                    sched.StepLR(opt, step_size=3, gamma=0.5),
                                    sched.CosineAnnealingLR(opt, T_max=10)],
                              milestones=[5, 15])


def _nested(lib, opt, sched):
    # a ChainedScheduler can only come first: at a milestone SequentialLR restarts the next
    # scheduler from its closed form, which a ChainedScheduler lacks (in torch too)
    inner = sched.ChainedScheduler([sched.ExponentialLR(opt, gamma=0.95),
                                    sched.MultiStepLR(opt, milestones=[3, 6], gamma=0.5)])
    return sched.SequentialLR(opt, [inner, sched.ConstantLR(opt, factor=0.2, total_iters=3)],
                              milestones=[8])


def _make(name, kwargs):
    def build(lib, opt, sched):
        return getattr(sched, name)(opt, **kwargs)
    return build


CASES = [
    ("CyclicLR-triangular", "SGD", _make("CyclicLR", dict(base_lr=0.01, max_lr=0.1,
                                                          step_size_up=4))),
    ("CyclicLR-triangular2", "SGD", _make("CyclicLR", dict(
        base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, step_size_down=5,
        mode="triangular2", base_momentum=[0.7, 0.75], max_momentum=0.95))),
    ("CyclicLR-exp_range-adam", "Adam", _make("CyclicLR", dict(
        base_lr=0.001, max_lr=0.01, step_size_up=5, mode="exp_range", gamma=0.97))),
    ("CyclicLR-scale_fn", "SGD", _make("CyclicLR", dict(
        base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=Triangle(), cycle_momentum=False))),
    ("CyclicLR-scale_iterations", "SGD", _make("CyclicLR", dict(
        base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda x: 0.99 ** x,
        scale_mode="iterations"))),
    ("OneCycleLR-cos", "SGD", _make("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS))),
    ("OneCycleLR-linear-3phase-adam", "Adam", _make("OneCycleLR", dict(
        max_lr=[0.5, 0.2], epochs=4, steps_per_epoch=10, pct_start=0.25,
        anneal_strategy="linear", three_phase=True, div_factor=10.0))),
    ("OneCycleLR-no-momentum", "SGD", _make("OneCycleLR", dict(
        max_lr=0.3, total_steps=STEPS + 5, cycle_momentum=False, final_div_factor=100.0))),
    ("CosineAnnealingWarmRestarts", "SGD", _make("CosineAnnealingWarmRestarts",
                                                 dict(T_0=7, eta_min=0.001))),
    ("CosineAnnealingWarmRestarts-mult", "SGD", _make("CosineAnnealingWarmRestarts",
                                                      dict(T_0=3, T_mult=2))),
    ("PolynomialLR", "SGD", _make("PolynomialLR", dict(total_iters=12, power=2.0))),
    ("PolynomialLR-linear", "SGD", _make("PolynomialLR", dict(total_iters=30))),
    # the schedulers tests/eager/test_optim.py checks for values, here with warnings and Adam
    ("StepLR-adam", "Adam", _make("StepLR", dict(step_size=4, gamma=0.5))),
    ("MultiStepLR", "SGD", _make("MultiStepLR", dict(milestones=[2, 9, 9], gamma=0.3))),
    ("ExponentialLR", "Adam", _make("ExponentialLR", dict(gamma=0.9))),
    ("CosineAnnealingLR", "SGD", _make("CosineAnnealingLR", dict(T_max=7, eta_min=0.01))),
    ("LambdaLR", "SGD", _make("LambdaLR", dict(lr_lambda=[lambda e: 0.9 ** e, Triangle()]))),
    ("MultiplicativeLR", "Adam", _make("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95))),
    ("ConstantLR", "SGD", _make("ConstantLR", dict(factor=0.3, total_iters=5))),
    ("LinearLR", "SGD", _make("LinearLR", dict(start_factor=0.2, end_factor=0.7,
                                               total_iters=9))),
    ("ChainedScheduler", "SGD", _chained),
    ("SequentialLR", "SGD", _sequential),
    ("SequentialLR-of-chained", "SGD", _nested),
]


def _warned(fn):
    """(fn(), the messages of the warnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught]


def _warnings(fn):
    return _warned(fn)[1]


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_scheduler_matches_torch(case):
    name, kind, build = case
    ours, theirs = _optimizers(kind)
    s, ours_warned = _warned(lambda: build(tc, ours, lr_scheduler))
    t, torch_warned = _warned(lambda: build(torch, theirs, torch.optim.lr_scheduler))
    assert ours_warned == torch_warned, f"{name}: warnings at construction"
    assert s.get_last_lr() == t.get_last_lr()
    assert _momenta(ours) == _momenta(theirs)
    for epoch in range(STEPS):
        ours.step()
        theirs.step()
        what = f"{name} step {epoch + 1}"
        assert _warnings(s.step) == _warnings(t.step), f"{what}: warnings differ"
        assert s.get_last_lr() == t.get_last_lr(), \
            f"{what}: tracecomp={s.get_last_lr()} | torch={t.get_last_lr()}"
        assert [g["lr"] for g in ours.param_groups] == t.get_last_lr(), what
        assert _momenta(ours) == _momenta(theirs), \
            f"{what} momenta: tracecomp={_momenta(ours)} | torch={_momenta(theirs)}"
        if epoch == STEPS // 2:    # round-trip both states into fresh objects, then go on
            saved, want = s.state_dict(), t.state_dict()
            assert set(saved) == set(want), f"{name} state_dict keys"
            ours_sd = ours.state_dict()
            ours, _ = _optimizers(kind)
            s, _ = _warned(lambda opt=ours: build(tc, opt, lr_scheduler))
            ours.load_state_dict(ours_sd)         # after the scheduler, as torch's docs say
            s.load_state_dict(saved)


def test_cyclic_state_dict_saves_a_callable_objects_dict_not_a_function():
    ours, _ = _optimizers()
    fn = Triangle()
    s = lr_scheduler.CyclicLR(ours, 0.01, 0.1, scale_fn=fn, cycle_momentum=False)
    fn.decay = 0.5
    saved = s.state_dict()
    assert saved["_scale_fn_custom"] == {"decay": 0.5} and "_scale_fn_ref" not in saved
    other = Triangle()
    fresh = lr_scheduler.CyclicLR(_optimizers()[0], 0.01, 0.1, scale_fn=other,
                                  cycle_momentum=False)
    fresh.load_state_dict(saved)
    assert other.decay == 0.5
    s = lr_scheduler.CyclicLR(ours, 0.01, 0.1, scale_fn=lambda x: 1.0, cycle_momentum=False)
    assert s.state_dict()["_scale_fn_custom"] is None


def test_warm_restarts_fractional_epochs_match_torch():
    ours, theirs = _optimizers()
    s = lr_scheduler.CosineAnnealingWarmRestarts(ours, T_0=4, T_mult=2, eta_min=0.01)
    t = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs, T_0=4, T_mult=2,
                                                             eta_min=0.01)
    for epoch in (0.5, 1.25, 3.999, 4.0, 7.5, 12.0, 25.3, 2.0):
        s.step(epoch)
        t.step(epoch)
        assert s.get_last_lr() == t.get_last_lr(), f"epoch {epoch}"
        assert (s.T_cur, s.T_i, s.last_epoch) == (t.T_cur, t.T_i, t.last_epoch)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        s.step(-1)


@pytest.mark.parametrize("name,kwargs", [("PolynomialLR", dict(total_iters=6, power=0.5)),
                                         ("LinearLR", dict(total_iters=6)),
                                         ("CosineAnnealingLR", dict(T_max=6))])
def test_step_with_an_epoch_uses_the_closed_form(name, kwargs):
    ours, theirs = _optimizers()
    s = getattr(lr_scheduler, name)(ours, **kwargs)
    t = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (3, 1, 9, 4):
            s.step(epoch)
            t.step(epoch)
            assert s.get_last_lr() == t.get_last_lr(), f"{name} epoch {epoch}"


def test_tensor_lr_is_updated_in_place_and_read_back_as_copies():
    p, q = tc.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    ours = optim.SGD([p], lr=tc.tensor(0.1), momentum=0.9)
    theirs = torch.optim.SGD([q], lr=torch.tensor(0.1), momentum=0.9)
    lr = ours.param_groups[0]["lr"]
    s = lr_scheduler.StepLR(ours, step_size=2, gamma=0.5)
    t = torch.optim.lr_scheduler.StepLR(theirs, step_size=2, gamma=0.5)
    for _ in range(5):
        p.grad, q.grad = tc.ones(2), torch.ones(2)
        ours.step()
        theirs.step()
        s.step()
        t.step()
        assert ours.param_groups[0]["lr"] is lr           # filled in place, never replaced
        assert isinstance(s.get_last_lr()[0], tc.Tensor)
        assert s.get_last_lr()[0] is not lr                # a copy
        assert s.get_last_lr()[0].item() == t.get_last_lr()[0].item()
        assert p.tolist() == pytest.approx(q.tolist(), rel=1e-6)


def test_get_lr_outside_step_warns():
    ours, _ = _optimizers()
    s = lr_scheduler.PolynomialLR(ours)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        s.get_lr()


def test_replacing_optimizer_step_after_the_scheduler_warns():
    ours, _ = _optimizers()
    s = lr_scheduler.ExponentialLR(ours, 0.9)
    ours.step = lambda closure=None: None
    with pytest.warns(UserWarning, match="has been overridden after learning rate scheduler"):
        s.step()


def test_resuming_without_initial_lr_is_torchs_key_error():
    got = _error(lambda: lr_scheduler.StepLR(_optimizers()[0], 3, last_epoch=4))
    want = _error(lambda: torch.optim.lr_scheduler.StepLR(_optimizers()[1], 3, last_epoch=4))
    assert got == want


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def _both(build, kind="SGD"):
    ours, theirs = _optimizers(kind)
    got = _error(lambda: build(ours, lr_scheduler))
    want = _error(lambda: build(theirs, torch.optim.lr_scheduler))
    assert issubclass(got[0], want[0]) and got[1] == want[1], f"tracecomp={got} | torch={want}"


ERRORS = [
    ("cyclic bad mode", lambda o, s: s.CyclicLR(o, 0.01, 0.1, mode="zigzag")),
    ("cyclic base_lr list", lambda o, s: s.CyclicLR(o, [0.01], 0.1)),
    ("onecycle no length", lambda o, s: s.OneCycleLR(o, 0.1)),
    ("onecycle total_steps", lambda o, s: s.OneCycleLR(o, 0.1, total_steps=0)),
    ("onecycle epochs", lambda o, s: s.OneCycleLR(o, 0.1, epochs=2.5, steps_per_epoch=3)),
    ("onecycle steps_per_epoch", lambda o, s: s.OneCycleLR(o, 0.1, epochs=2,
                                                           steps_per_epoch=0)),
    ("onecycle pct_start", lambda o, s: s.OneCycleLR(o, 0.1, total_steps=9, pct_start=1)),
    ("onecycle anneal", lambda o, s: s.OneCycleLR(o, 0.1, total_steps=9,
                                                  anneal_strategy="exp")),
    ("warm restarts T_0", lambda o, s: s.CosineAnnealingWarmRestarts(o, T_0=0)),
    ("warm restarts T_mult", lambda o, s: s.CosineAnnealingWarmRestarts(o, 3, T_mult=1.5)),
    ("warm restarts eta_min", lambda o, s: s.CosineAnnealingWarmRestarts(o, 3, eta_min="0")),
    ("sequential empty", lambda o, s: s.SequentialLR(o, [], milestones=[])),
    ("sequential milestones", lambda o, s: s.SequentialLR(
        o, [s.ConstantLR(o), s.ExponentialLR(o, 0.9)], milestones=[])),
    ("sequential plateau", lambda o, s: s.SequentialLR(
        o, [s.ConstantLR(o), s.ReduceLROnPlateau(o)], milestones=[3])),
    ("chained empty", lambda o, s: s.ChainedScheduler([])),
    ("chained no optimizer", lambda o, s: s.ChainedScheduler([object()], optimizer=o)),
]


@pytest.mark.parametrize("name,build", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, build):
    _both(build)


def test_cycling_momentum_needs_an_optimizer_with_momentum():
    def build(lib, o):
        return o.Adagrad([lib.zeros(2, requires_grad=True)], lr=0.1)
    got = _error(lambda: lr_scheduler.OneCycleLR(build(tc, optim), 0.1, total_steps=5))
    want = _error(lambda: torch.optim.lr_scheduler.OneCycleLR(build(torch, torch.optim), 0.1,
                                                              total_steps=5))
    assert got == want


def test_onecycle_past_its_total_steps_is_torchs_error():
    ours, theirs = _optimizers()
    s = lr_scheduler.OneCycleLR(ours, 0.1, total_steps=3)
    t = torch.optim.lr_scheduler.OneCycleLR(theirs, 0.1, total_steps=3)
    for sched in (s, t):
        for _ in range(3):
            sched.optimizer.step()
            sched.step()
    got, want = _error(s.step), _error(t.step)
    assert got == want


def test_chained_scheduler_of_different_optimizers_is_torchs_error():
    a, b = _optimizers()[0], _optimizers()[0]
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same "):
        lr_scheduler.ChainedScheduler([lr_scheduler.ExponentialLR(a, 0.9),
                                       lr_scheduler.ExponentialLR(b, 0.9)])


def test_reduce_lr_on_plateau_state_dict_matches_torch():
    ours, theirs = _optimizers()
    s = lr_scheduler.ReduceLROnPlateau(ours, patience=1, cooldown=1, factor=0.5)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, patience=1, cooldown=1, factor=0.5)
    metrics = [1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.2, 0.3, 0.4]
    for i, m in enumerate(metrics):
        s.step(m)
        t.step(m)
        if i == 4:
            saved = s.state_dict()
            assert saved == {k: v for k, v in t.state_dict().items()}
            s = lr_scheduler.ReduceLROnPlateau(ours)
            s.load_state_dict(saved)
        assert s.get_last_lr() == t.get_last_lr(), f"epoch {i}"
