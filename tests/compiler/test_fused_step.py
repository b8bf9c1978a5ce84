"""optimizer.step() as one compiled call (compiler/fused_step.py): for the parameters of a
model given to compile(), and for fused=True. Parameters and optimizer state must follow
torch's step for step; the loop is kept where the compiled update would be wrong or slow
(fused=False, a tensor lr or an lr changed every step where the optimizer cannot feed it as
an input, a step traced by a compiled whole step)."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler import fused_step

OPTIMIZERS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.1}),
    ("Adam", {"lr": 1e-2, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 1e-2, "amsgrad": True}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5}),
]
STEPS = 4


def _models(seed=0):
    """The same small MLP in tracecomp and in torch."""
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 4))
    model = tc.nn.Sequential(tc.nn.Linear(12, 16), tc.nn.Tanh(), tc.nn.Linear(16, 4))
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    return model, ref


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 12)).astype(np.float32), rng.integers(0, 4, 8)


def _train(lib, model, opt, run, steps, schedule=None):
    x, y = (lib.from_numpy(a) for a in _batch())
    for i in range(steps):
        opt.zero_grad()
        lib.nn.functional.cross_entropy(run(x), y).backward()
        opt.step()
        if schedule is not None:
            schedule(opt, i)


def _assert_same(model, ref, opt, ref_opt):
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for p, q in zip(ref.parameters(), model.parameters()):
        assert set(opt.state[q]) == set(ref_opt.state[p])
        for key, want in ref_opt.state[p].items():
            got = opt.state[q][key]
            np.testing.assert_allclose(np.asarray(got.numpy(), np.float64),
                                       np.asarray(want.numpy(), np.float64),
                                       rtol=1e-4, atol=1e-6, err_msg=key)


def _compiled_update(opt):
    """The optimizer's compiled update, or None when its steps ran the loop."""
    entry = fused_step._STEPS.get(opt)
    return None if entry is None or entry.compiled.compiles == 0 else entry


@pytest.mark.parametrize("name,kw", OPTIMIZERS,
                         ids=[f"{n}{k}" for k, (n, _) in enumerate(OPTIMIZERS)])
def test_a_compiled_models_step_is_one_compiled_call_with_torchs_numbers(name, kw):
    model, ref = _models()
    opt = getattr(tc.optim, name)(model.parameters(), **kw)
    ref_opt = getattr(torch.optim, name)(ref.parameters(), **kw)
    _train(tc, model, opt, tc.compile(model), STEPS)
    _train(torch, ref, ref_opt, ref, STEPS)
    entry = _compiled_update(opt)
    assert entry is not None and not entry.off
    assert entry.steps == STEPS and entry.compiled.compiles <= 2   # state appears at step 1
    _assert_same(model, ref, opt, ref_opt)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_true_compiles_the_update_of_an_eager_model(name):
    model, ref = _models(1)
    opt = getattr(tc.optim, name)(model.parameters(), lr=0.01, fused=True)
    ref_opt = getattr(torch.optim, name)(ref.parameters(), lr=0.01, fused=True)
    _train(tc, model, opt, model, STEPS)
    _train(torch, ref, ref_opt, ref, STEPS)
    assert _compiled_update(opt) is not None
    _assert_same(model, ref, opt, ref_opt)


def test_fused_false_and_a_tensor_lr_that_cannot_be_fed_keep_the_loop():
    """Adamax does not feed its lr as an input (Adam does: test_fed_settings.py)."""
    for name, kw in (("Adam", {"fused": False}), ("Adamax", {"lr": tc.tensor(0.01)})):
        model, ref = _models()
        opt = getattr(tc.optim, name)(model.parameters(), **kw)
        ref_kw = {k: torch.tensor(0.01) if k == "lr" else v for k, v in kw.items()}
        ref_opt = getattr(torch.optim, name)(ref.parameters(), **ref_kw)
        _train(tc, model, opt, tc.compile(model), STEPS)
        _train(torch, ref, ref_opt, ref, STEPS)
        assert _compiled_update(opt) is None, kw
        _assert_same(model, ref, opt, ref_opt)


def test_a_model_called_by_a_compiled_function_counts_as_compiled():
    """Parameters are marked when compiled code that reads their module compiles (so
    also those bound after compile(model) was called, which compile again)."""
    model, ref = _models()
    opt = tc.optim.Adam(model.parameters(), lr=1e-2)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    forward = tc.compile(lambda x: model(x))
    _train(tc, model, opt, forward, STEPS)
    _train(torch, ref, ref_opt, ref, STEPS)
    assert _compiled_update(opt) is not None
    _assert_same(model, ref, opt, ref_opt)


def test_an_eager_model_keeps_the_loop():
    model, _ = _models()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train(tc, model, opt, model, 2)
    assert _compiled_update(opt) is None


def test_an_lr_changed_every_step_goes_back_to_the_loop_with_the_same_numbers():
    """Adamax compiles its lr in (SGD and Adam feed it: test_fed_settings.py)."""
    def decay(opt, i):
        for group in opt.param_groups:
            group["lr"] *= 0.9
    model, ref = _models()
    opt = tc.optim.Adamax(model.parameters(), lr=0.1)
    ref_opt = torch.optim.Adamax(ref.parameters(), lr=0.1)
    steps = fused_step.MAX_COMPILES + 4
    _train(tc, model, opt, tc.compile(model), steps, decay)
    _train(torch, ref, ref_opt, ref, steps, decay)
    entry = fused_step._STEPS[opt]
    assert entry.off and entry.compiled.compiles == fused_step.MAX_COMPILES + 1
    assert entry.repeat is None         # nor does the fast path run it compiled again
    _assert_same(model, ref, opt, ref_opt)


def test_an_lr_schedule_compiles_again_without_recompile_warnings():
    """A StepLR schedule: the update stays compiled, follows every new lr, and its compiles
    do not set off compile()'s recompile warning, which is about the user's own
    functions."""
    model, ref = _models()
    opt = tc.optim.Adam(model.parameters(), lr=1e-2)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    schedules = (tc.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5),
                 torch.optim.lr_scheduler.StepLR(ref_opt, 2, gamma=0.5))
    steps = 2 * 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train(tc, model, opt, tc.compile(model), steps, lambda *_: schedules[0].step())
    _train(torch, ref, ref_opt, ref, steps, lambda *_: schedules[1].step())
    entry = fused_step._STEPS[opt]
    # the first step, the state it made, then lr fed as an input from its first change
    assert not entry.off and entry.compiled.compiles == 3
    _assert_same(model, ref, opt, ref_opt)


def test_a_step_traced_by_a_compiled_whole_step_is_part_of_its_graph():
    model, ref = _models()
    opt = tc.optim.Adam(model.parameters(), lr=1e-2)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    compiled = tc.compile(model)

    @tc.compile
    def step(x, y):
        opt.zero_grad()
        tc.nn.functional.cross_entropy(compiled(x), y).backward()
        opt.step()

    x, y = (tc.from_numpy(a) for a in _batch())
    for _ in range(STEPS):
        step(x, y)
    _train(torch, ref, ref_opt, ref, STEPS)
    assert _compiled_update(opt) is None and step.compiles == 2
    _assert_same(model, ref, opt, ref_opt)


def test_the_update_is_in_place_as_eagerly():
    """Views and detached aliases of a parameter see the update, its version grows, and a
    value saved for a backward that the step changed is refused as eagerly."""
    model, _ = _models()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    run = tc.compile(model)
    weight = model[0].weight
    alias, row = weight.detach(), weight[0]
    _train(tc, model, opt, run, 2)
    assert _compiled_update(opt) is not None
    np.testing.assert_array_equal(alias.numpy(), weight.detach().numpy())
    np.testing.assert_array_equal(row.detach().numpy(), weight.detach().numpy()[0])
    saved = (weight * tc.ones(16, 12, requires_grad=True)).sum()
    version = weight._version
    _train(tc, model, opt, run, 1)
    assert weight._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        saved.backward()


def test_a_closure_runs_before_the_compiled_update():
    model, ref = _models()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, fused=True)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, fused=True)
    for lib, m, o in ((tc, model, opt), (torch, ref, ref_opt)):
        x, y = (lib.from_numpy(a) for a in _batch())

        def closure(lib=lib, m=m, o=o, x=x, y=y):
            o.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(x), y)
            loss.backward()
            return loss
        for _ in range(3):
            o.step(closure)
    assert _compiled_update(opt) is not None
    _assert_same(model, ref, opt, ref_opt)
