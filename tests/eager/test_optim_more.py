"""The rest of torch.optim against torch 2.13: Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop,
Adafactor and SparseAdam, and the options of SGD/Adam/AdamW/RMSprop/Adagrad that
tests/eager/test_optim.py leaves out (tensor lr and betas, fused, foreach, capturable,
differentiable, named parameters), plus optimizer hooks. Parameters and state follow
torch's over 20 steps with the same gradients; state_dicts have torch's structure, load
torch's own state and round-trip; errors and warnings are torch's."""
import importlib
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.optim as optim
from tests.helpers import assert_close
from tests.optim_pair import Pair, check_state

SHAPES = [(3, 4), (5,), (), (2, 3, 4)]
STEPS = 20

CASES = {
    "Adadelta": [dict(), dict(lr=0.5, rho=0.8, weight_decay=0.1),
                 dict(maximize=True, eps=1e-4)],
    "Adamax": [dict(), dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)),
               dict(maximize=True, eps=1e-6)],
    "NAdam": [dict(), dict(lr=0.01, weight_decay=0.1),
              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                   momentum_decay=0.01),
              dict(maximize=True, betas=(0.8, 0.9))],
    "RAdam": [dict(), dict(lr=0.01, weight_decay=0.1),
              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.8, 0.9)),
              dict(maximize=True)],
    "ASGD": [dict(), dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=5, weight_decay=0.1),
             dict(maximize=True, t0=0)],
    "Rprop": [dict(), dict(lr=0.05, etas=(0.3, 1.7), step_sizes=(1e-3, 0.2)),
              dict(maximize=True)],
    "Adafactor": [dict(), dict(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=2.0,
                               weight_decay=0.1),
                  dict(maximize=True)],
    # options of the optimizers that were there before
    "SGD": [dict(lr=0.1, momentum=0.9, fused=True), dict(lr=0.1, momentum=0.9, foreach=True)],
    "Adam": [dict(lr=0.01, fused=True), dict(lr=0.01, amsgrad=True, foreach=True),
             dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)],
    "AdamW": [dict(lr=0.01, fused=True, amsgrad=True)],
    "Adagrad": [dict(lr=0.1, fused=True)],
    "RMSprop": [dict(lr=0.01, foreach=True, centered=True)],
}
GRID = [(name, kw) for name, kws in CASES.items() for kw in kws]
NEW = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "Adafactor"]


def _ids(case):
    return case[0] + "-" + ",".join(f"{k}={v}" for k, v in case[1].items())


def _data(seed, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("case", GRID, ids=_ids)
def test_steps_match_torch(case):
    name, kwargs = case
    params, grads = _data(1)
    pair = Pair(name, kwargs, params)
    for t, g in enumerate(grads):
        pair.step(g)
        pair.check(f"{_ids(case)} step {t + 1}")


@pytest.mark.parametrize("name", NEW)
def test_state_dict_round_trip_and_loading_torchs_state(name):
    """After 5 steps: a fresh optimizer loads ours (deep copies) and another loads torch's
    own state_dict; both keep following torch."""
    kwargs = CASES[name][1]
    params, grads = _data(2)
    pair = Pair(name, kwargs, params)
    for g in grads[:5]:
        pair.step(g)
    saved = pair.tc.state_dict()
    fresh = getattr(optim, name)(pair.tc_params, **kwargs)
    fresh.load_state_dict(saved)
    for s, f in zip(saved["state"].values(), fresh.state.values()):
        for k, v in s.items():
            assert isinstance(v, tc.Tensor) and f[k] is not v and f[k]._data is not v._data
    theirs = pair.pt.state_dict()
    converted = {"param_groups": theirs["param_groups"],
                 "state": {i: {k: tc.tensor(v.numpy()) for k, v in s.items()}
                           for i, s in theirs["state"].items()}}
    from_torch = getattr(optim, name)(pair.tc_params, **kwargs)
    from_torch.load_state_dict(converted)
    check_state(from_torch.state_dict(), theirs, f"{name} loaded from torch")
    pair.tc = fresh
    for t, g in enumerate(grads[5:10]):
        pair.step(g)
        pair.check(f"{name} after reload, step {t + 6}")


@pytest.mark.parametrize("name", NEW)
def test_param_groups_skipped_grads_and_add_param_group(name):
    params, grads = _data(3)
    kwargs = CASES[name][0]
    groups = [{"params": [0], "lr": 0.03}, {"params": [1, 2]}]
    pair = Pair(name, kwargs, params[:3], groups)
    for t, g in enumerate(grads[:6]):
        g = [g[0], None, g[2]] if t % 2 else g[:3]     # param 1 has no grad on odd steps
        pair.step(g)
        pair.check(f"{name} groups step {t + 1}")
    a = tc.tensor(params[3].copy(), requires_grad=True)
    pair.tc.add_param_group({"params": a, "lr": 0.02})
    pair.pt.add_param_group({"params": torch.tensor(params[3].copy(), requires_grad=True),
                             "lr": 0.02})
    pair.tc_params.append(a)
    pair.pt_params.append(pair.pt.param_groups[-1]["params"][0])
    for t, g in enumerate(grads[6:10]):
        pair.step(g)
        pair.check(f"{name} after add_param_group, step {t + 7}")


@pytest.mark.parametrize("name", NEW)
def test_repr_matches_torch(name):
    ours = getattr(optim, name)([tc.zeros(2, requires_grad=True)], lr=0.5)
    ours.add_param_group({"params": [tc.zeros(1, requires_grad=True)], "lr": 0.25})
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], lr=0.5)
    theirs.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.25})
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", *NEW])
def test_tensor_lr_matches_a_float_lr_in_torch(name):
    params, grads = _data(4, steps=5)
    ours = [tc.tensor(p.copy(), requires_grad=True) for p in params]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    a = getattr(optim, name)(ours, lr=tc.tensor([0.01]))
    b = getattr(torch.optim, name)(theirs, lr=0.01, foreach=False)
    for g in grads:
        for p, q, x in zip(ours, theirs, g):
            p.grad, q.grad = tc.tensor(x), torch.tensor(x)
        a.step()
        b.step()
    for i, (p, q) in enumerate(zip(ours, theirs)):
        assert_close(p, q, rtol=1e-5, atol=1e-6, what=f"{name} tensor lr, param {i}")


def test_adam_tensor_betas():
    params, grads = _data(5, steps=6)
    pair = Pair("Adam", dict(lr=0.01), params)
    pair.tc = optim.Adam(pair.tc_params, lr=0.01, betas=(tc.tensor([0.8]), tc.tensor(0.9)))
    pair.pt = torch.optim.Adam(pair.pt_params, lr=0.01, foreach=False,
                               betas=(torch.tensor([0.8]), torch.tensor(0.9)))
    for g in grads:
        pair.step(g)
    for p, q in zip(pair.tc_params, pair.pt_params):
        assert_close(p, q, rtol=1e-5, atol=1e-6, what="Adam with tensor betas")


def test_named_parameters_give_torchs_state_dict():
    tc.manual_seed(0)
    model = tc.nn.Linear(3, 2)
    ours = optim.Adam(model.named_parameters(), lr=0.1)
    ref = torch.nn.Linear(3, 2)
    theirs = torch.optim.Adam(ref.named_parameters(), lr=0.1)
    assert ours.state_dict()["param_groups"] == [
        {k: v for k, v in g.items()} for g in theirs.state_dict()["param_groups"]]
    assert ours.param_groups[0]["params"][0] is model.weight
    other = optim.Adam(tc.nn.Linear(3, 2).named_parameters(), lr=0.1)
    other.load_state_dict(ours.state_dict())
    assert other.param_groups[0]["param_names"] == ["weight", "bias"]


# --- errors and warnings in torch's words ------------------------------------------------
def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def _both(build):
    """build(lib, optim_module, make_param) raises the same error in both libraries."""
    got = _error(lambda: build(tc, optim, lambda: tc.zeros(2, requires_grad=True)))
    want = _error(lambda: build(torch, torch.optim, lambda: torch.zeros(2, requires_grad=True)))
    assert issubclass(got[0], want[0]) and got[1] == want[1], f"tracecomp={got} | torch={want}"


ERRORS = [
    ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(eps=-1.0)),
    ("Adamax", dict(betas=(0.9, 1.0))), ("Adamax", dict(weight_decay=-1.0)),
    ("NAdam", dict(momentum_decay=-0.1)), ("NAdam", dict(betas=(-0.1, 0.9))),
    ("RAdam", dict(eps=-1e-8)), ("RAdam", dict(weight_decay=-1)),
    ("ASGD", dict(lr=-0.1)), ("ASGD", dict(weight_decay=-0.5)),
    ("Rprop", dict(etas=(1.1, 1.2))), ("Rprop", dict(etas=(0.5, 0.9))),
    ("Adafactor", dict(lr=-0.1)), ("Adafactor", dict(beta2_decay=0.5)),
    ("Adafactor", dict(eps=(-1.0, 1e-3))), ("Adafactor", dict(eps=(None, -1.0))),
    ("Adafactor", dict(d=0.5)), ("Adafactor", dict(weight_decay=-1.0)),
    ("SparseAdam", dict(lr=0.0)), ("SparseAdam", dict(eps=0.0)),
    ("SparseAdam", dict(betas=(1.0, 0.9))),
    ("SGD", dict(fused=True, foreach=True)), ("Adam", dict(fused=True, differentiable=True)),
    ("Adagrad", dict(fused=True, foreach=True)),
    ("Adam", dict(betas=(0, 0.99))), ("Adam", dict(lr=1.0, betas=(0.9, 0.99),
                                                    weight_decay=-1)),
]


@pytest.mark.parametrize("name,kwargs", ERRORS, ids=[f"{n}-{k}" for n, k in ERRORS])
def test_invalid_options_match_torch(name, kwargs):
    _both(lambda lib, o, mk: getattr(o, name)([mk()], **kwargs))


def test_tensor_option_errors_match_torch():
    _both(lambda lib, o, mk: o.SGD([mk()], lr=lib.tensor([0.1, 0.2])))
    _both(lambda lib, o, mk: o.NAdam([mk()], lr=lib.tensor(-0.5)))
    _both(lambda lib, o, mk: o.Adam([mk()], lr=lib.tensor(0.1), foreach=True))
    _both(lambda lib, o, mk: o.Adam([mk()], betas=(lib.tensor(0.9), 0.99)))


CAPTURABLE = ["Adam", "AdamW", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD",
              "Rprop"]


@pytest.mark.parametrize("name", CAPTURABLE)
def test_capturable_step_is_torchs_cpu_error(name):
    def build(lib, o, mk):
        p = mk()
        opt = getattr(o, name)([p], capturable=True)
        p.grad = lib.ones(2)
        opt.step()
    _both(build)


def test_differentiable_step_on_a_leaf_is_torchs_error():
    def build(lib, o, mk):
        p = mk()
        opt = o.SGD([p], lr=0.1, differentiable=True)
        p.grad = lib.ones(2)
        opt.step()
    got = _error(lambda: build(tc, optim, lambda: tc.zeros(2, requires_grad=True)))
    assert issubclass(got[0], RuntimeError)
    assert "a leaf Variable that requires grad is being used in an in-place operation" in got[1]
    # differentiable optimizers take non-leaf parameters, as in torch
    w = tc.ones(2, requires_grad=True)
    assert optim.SGD([w * 2], lr=0.1, differentiable=True).param_groups[0]["differentiable"]
    _both(lambda lib, o, mk: o.SGD([mk() * 2], lr=0.1))


def test_sparse_adam_refuses_dense_gradients_as_torch_does():
    def build(lib, o, mk):
        p, q = mk(), mk()
        opt = o.SparseAdam([p, q], lr=0.01)
        opt.step()                      # no gradients yet: nothing to do
        assert len(opt.state) == 0
        q.grad = lib.ones(2)
        opt.step()
    _both(build)
    p = tc.zeros(2, requires_grad=True)
    opt = optim.SparseAdam([p])
    assert opt.state_dict()["param_groups"] == torch.optim.SparseAdam(
        [torch.zeros(2, requires_grad=True)]).state_dict()["param_groups"]


def test_duplicate_parameters_warn_as_torch_does():
    p = tc.zeros(2, requires_grad=True)
    with pytest.warns(UserWarning, match="optimizer contains a parameter group with duplicate"):
        optim.SGD([p, p], lr=0.1)


def test_named_and_unnamed_parameters_do_not_mix():
    _both(lambda lib, o, mk: o.SGD([("a", mk()), mk()], lr=0.1))
    _both(lambda lib, o, mk: o.SGD([("a", mk())], lr=0.1).add_param_group({"params": [mk()]}))


# --- hooks ---------------------------------------------------------------------------------
def _hook_log(lib, o):
    """What the hooks see and do in one library, as comparable values."""
    log = []
    p = lib.ones(2, requires_grad=True)
    opt = o.SGD([p], lr=0.5)

    def pre(opt_, args, kwargs):
        log.append(("pre", len(args), sorted(kwargs)))
        return args, {"closure": lambda: log.append("closure") or 7.0}

    h1 = opt.register_step_pre_hook(pre)
    opt.register_step_post_hook(lambda o_, a, k: log.append(("post", sorted(k))))
    g = importlib.import_module(o.__name__ + ".optimizer")
    h2 = g.register_optimizer_step_pre_hook(lambda o_, a, k: log.append("global pre"))
    opt.register_state_dict_pre_hook(lambda o_: log.append("sd pre"))
    opt.register_state_dict_post_hook(lambda o_, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o_, sd: log.append(("load pre", sorted(sd))))
    opt.register_load_state_dict_post_hook(lambda o_: log.append("load post"), prepend=True)
    p.grad = lib.ones(2)
    log.append(opt.step())
    sd = opt.state_dict()
    log.append(sorted(sd))
    opt.load_state_dict(sd)
    h1.remove()
    h2.remove()
    opt.step()
    log.append(p.tolist())
    return log


def test_hooks_match_torch():
    assert _hook_log(tc, optim) == _hook_log(torch, torch.optim)


def test_zero_grad_on_a_new_optimizer():
    params, grads = _data(6, steps=1)
    pair = Pair("NAdam", {}, params)
    pair.step(grads[0])
    pair.tc.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in pair.tc_params)
    pair.tc.zero_grad()
    assert all(p.grad is None for p in pair.tc_params)


def test_scalar_state_saved_as_numbers_is_converted_on_load():
    """Old torch checkpoints keep 'step' (and NAdam's mu_product) as Python numbers."""
    p = tc.zeros(2, requires_grad=True)
    opt = optim.NAdam([p])
    p.grad = tc.ones(2)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"], sd["state"][0]["mu_product"] = 1.0, float(
        sd["state"][0]["mu_product"])
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]["step"], tc.Tensor) and opt.state[p]["step"].item() == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert opt.state[p]["step"].item() == 2.0
