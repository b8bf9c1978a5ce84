"""A compiled whole training step's fast path (compiler/state_call.py): the latest call
again runs without the general compiled call, and every change it does not cover (a new
lr, a rebound global, a replaced parameter or state, eval(), a new shape) goes back to
the general call, with torch's numbers."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler import state_call
from tracecomp.compiler import state_walk as compile_state

STEPS = 4


def _pair(seed=0, opt="SGD", kw=None):
    kw = kw or {"lr": 0.1, "momentum": 0.9}
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.0),
                              torch.nn.Linear(8, 3))
    model = tc.nn.Sequential(tc.nn.Linear(6, 8), tc.nn.ReLU(), tc.nn.Dropout(0.0),
                             tc.nn.Linear(8, 3))
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    return (model, getattr(tc.optim, opt)(model.parameters(), **kw)), \
        (ref, getattr(torch.optim, opt)(ref.parameters(), **kw))


def _data(n=5, seed=1):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n)
    return (tc.from_numpy(x), tc.from_numpy(y)), (torch.from_numpy(x), torch.from_numpy(y))


def _step_fn(lib, where):
    """A step reading its model and optimizer from `where` (a dict standing for globals)."""
    def step(x, y):
        where["opt"].zero_grad()
        loss = lib.nn.functional.cross_entropy(where["model"](x), y)
        loss.backward()
        where["opt"].step()
        return loss
    return step


def _global_step(lib):
    """A step of module-level names, as a script writes it: globals are what it reads."""
    scope = {"lib": lib}
    exec("def step(x, y):\n"
         "    opt.zero_grad()\n"
         "    loss = lib.nn.functional.cross_entropy(model(x), y)\n"
         "    loss.backward()\n"
         "    opt.step()\n"
         "    return loss\n", scope)
    return scope


def _assert_same(model, ref, opt=None, ref_opt=None):
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for p, q in zip(ref.parameters(), model.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-6)
        for key, want in (ref_opt.state[p].items() if ref_opt else ()):
            np.testing.assert_allclose(opt.state[q][key].numpy(), want.numpy(), rtol=1e-4,
                                       atol=1e-6, err_msg=key)


def _forbid_general_call(monkeypatch):
    """From now on a call that walks the modules (the general call) fails the test."""
    def walked(*_):
        raise AssertionError("the step took the general compiled call")
    monkeypatch.setattr(compile_state, "collect", walked)


def _compiled(scope):
    scope["compiled"] = tc.compile(scope["step"])
    return scope["compiled"]


def _run(n, ours, theirs, data):
    (x, y), (rx, ry) = data
    for _ in range(n):
        loss = ours(x, y)
        want = theirs(rx, ry)
        np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-5)


@pytest.mark.parametrize("opt,kw", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                    ("Adam", {"lr": 1e-2})])
def test_repeated_steps_skip_the_general_call_with_torchs_numbers(opt, kw, monkeypatch):
    (model, tc_opt), (ref, ref_opt) = _pair(opt=opt, kw=kw)
    ours = _global_step(tc)
    ours.update(model=model, opt=tc_opt)
    step = _compiled(ours)
    theirs = _step_fn(torch, {"model": ref, "opt": ref_opt})
    data = _data()
    _run(3, step, theirs, data)     # step 1 makes the state, step 2 the gradients
    assert isinstance(step._fast, state_call.StateCall)
    _forbid_general_call(monkeypatch)
    _run(STEPS, step, theirs, data)
    _assert_same(model, ref, tc_opt, ref_opt)


def test_a_step_returning_none_runs_once_per_call():
    (model, opt), (ref, ref_opt) = _pair()
    scope = {"model": model, "opt": opt, "lib": tc}
    exec("def step(x, y):\n"
         "    opt.zero_grad()\n"
         "    lib.nn.functional.cross_entropy(model(x), y).backward()\n"
         "    opt.step()\n", scope)
    step = tc.compile(scope["step"])
    theirs = _step_fn(torch, {"model": ref, "opt": ref_opt})
    (x, y), (rx, ry) = _data()
    for _ in range(3 + STEPS):
        assert step(x, y) is None
        theirs(rx, ry)
    assert isinstance(step._fast, state_call.StateCall)
    _assert_same(model, ref, opt, ref_opt)


def _changes():
    """(what changes between two steps, in both libraries) -> whether the step must then
    leave the fast path for the general call once."""
    def new_lr(ours, theirs):
        for o in (ours["opt"], theirs["opt"]):
            o.param_groups[0]["lr"] = 0.05

    def rebound_optimizer(ours, theirs):
        for scope, lib in ((ours, tc), (theirs, torch)):
            scope["opt"] = lib.optim.SGD(scope["model"].parameters(), lr=0.2)

    def state_cleared(ours, theirs):
        for o in (ours["opt"], theirs["opt"]):
            o.state.clear()

    def grads_dropped(ours, theirs):     # set_to_none: the next step reads no .grad
        for scope in (ours, theirs):
            for p in scope["model"].parameters():
                p.grad = None

    def eval_mode(ours, theirs):
        ours["model"].eval()
        theirs["model"].eval()

    def replaced_parameter(ours, theirs):
        for scope, lib in ((ours, tc), (theirs, torch)):
            layer, opt = scope["model"][0], scope["opt"]
            with lib.no_grad():
                fresh = lib.nn.Parameter(layer.weight.detach().clone() * 0.5)
            layer.weight = fresh
            opt.param_groups[0]["params"][0] = fresh
            opt.state.pop(next(iter(opt.state)), None)

    def parameter_in_place_of_another(ours, theirs):     # the list changes, not the module
        for scope in (ours, theirs):
            params = scope["opt"].param_groups[0]["params"]
            params[0], params[2] = params[2], params[0]
            scope["opt"].state.clear()

    def group_holds_another_tensor(ours, theirs):     # the list only: the module keeps it
        for scope, lib in ((ours, tc), (theirs, torch)):
            scope["opt"].param_groups[0]["params"][0] = lib.nn.Parameter(lib.ones(8, 6))

    return [new_lr, rebound_optimizer, state_cleared, grads_dropped, eval_mode,
            replaced_parameter, parameter_in_place_of_another, group_holds_another_tensor]


@pytest.mark.parametrize("change", _changes(), ids=lambda f: f.__name__)
def test_every_change_goes_back_to_the_general_call_with_torchs_numbers(change):
    (model, opt), (ref, ref_opt) = _pair()
    ours, theirs = _global_step(tc), {"model": ref, "opt": ref_opt}
    ours.update(model=model, opt=opt)
    step, their_step = _compiled(ours), _step_fn(torch, theirs)
    data = _data()
    _run(3, step, their_step, data)
    assert isinstance(step._fast, state_call.StateCall)
    walks = []
    real = compile_state.collect

    def counted(*args):
        walks.append(1)
        return real(*args)
    compile_state.collect = counted
    try:
        change(ours, theirs)
        _run(STEPS, step, their_step, data)
    finally:
        compile_state.collect = real
    assert walks, "the change was not seen: the fast path ran the latest step"
    _assert_same(ours["model"], ref, ours["opt"], theirs["opt"])


def test_new_shapes_and_tensors_of_the_arguments_miss():
    (model, opt), (ref, ref_opt) = _pair()
    ours = _global_step(tc)
    ours.update(model=model, opt=opt)
    step, theirs = _compiled(ours), _step_fn(torch, {"model": ref, "opt": ref_opt})
    _run(3, step, theirs, _data())
    _run(2, step, theirs, _data(n=7, seed=2))     # another batch size
    (x, y), (rx, ry) = _data()
    x.requires_grad_(True)
    rx.requires_grad_(True)
    _run(2, step, theirs, ((x, y), (rx, ry)))      # an argument that needs its gradient
    np.testing.assert_allclose(x.grad.numpy(), rx.grad.numpy(), rtol=1e-5, atol=1e-7)
    _assert_same(model, ref, opt, ref_opt)


def test_parameter_data_swapped_between_steps_is_read():
    (model, opt), (ref, ref_opt) = _pair()
    ours = _global_step(tc)
    ours.update(model=model, opt=opt)
    step, theirs = _compiled(ours), _step_fn(torch, {"model": ref, "opt": ref_opt})
    data = _data()
    _run(3, step, theirs, data)
    new = np.linspace(-1, 1, 8 * 6, dtype=np.float32).reshape(8, 6)
    model[0].weight.data = tc.from_numpy(new.copy())     # same shape: no attribute rebound
    ref[0].weight.data = torch.from_numpy(new.copy())
    compiles = ours["compiled"].compiles
    _run(STEPS, step, theirs, data)
    assert ours["compiled"].compiles == compiles
    _assert_same(model, ref, opt, ref_opt)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_a_gradient_given_to_a_parameter_that_had_none_is_cleared(set_to_none):
    """zero_grad() clears every gradient there is: one that appears between steps (on a
    parameter the loss does not reach) must be an input again, set to None or zeroed
    (set_to_none=False, which also zeroes the gradients in place before every backward)."""
    (body, _), (ref_body, _) = _pair()
    model, ref = _with_unused_layer(tc, body), _with_unused_layer(torch, ref_body)
    model.extra.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                                 for k, v in ref.extra.state_dict().items()})
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    scope = {"model": model, "opt": opt, "lib": tc, "set_to_none": set_to_none}
    exec("def step(x, y):\n"
         "    opt.zero_grad(set_to_none=set_to_none)\n"
         "    loss = lib.nn.functional.cross_entropy(model(x), y)\n"
         "    loss.backward()\n"
         "    opt.step()\n"
         "    return loss\n", scope)
    step = tc.compile(scope["step"])

    def theirs(x, y):
        ref_opt.zero_grad(set_to_none=set_to_none)
        loss = torch.nn.functional.cross_entropy(ref(x), y)
        loss.backward()
        ref_opt.step()
        return loss
    data = _data()
    _run(3, step, theirs, data)
    assert model.extra.weight.grad is None
    model.extra.weight.grad = tc.ones(2, 2)
    ref.extra.weight.grad = torch.ones(2, 2)
    _run(2, step, theirs, data)
    want = ref.extra.weight.grad
    got = model.extra.weight.grad
    assert (got is None) == (want is None)
    if want is not None:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)


def _with_unused_layer(lib, body):
    """body, inside a module that also holds a layer its forward never calls."""
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.extra = body, lib.nn.Linear(2, 2)

        def forward(self, x):
            return self.body(x)
    return Net()
