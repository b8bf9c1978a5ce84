"""The modules and optimizers a compiled function reads (compiler/state.py roots_of): found
in its arguments, closure, globals and the parameter defaults a call leaves out, and one
level inside them (a trainer's attributes,
a list or dict of optimizers, an optimizer kept by a module), so their parameters and state
are inputs: a training step written as a trainer's method matches torch. Deeper ones are
refused with an error that says where to keep them, and the whole step's fast path
(state_call.py) notices when one of them is replaced."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler import state as compile_state
from tracecomp.compiler import state_call
from tracecomp.errors import TraceError


def _models():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = tc.nn.Sequential(tc.nn.Linear(6, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3))
    model.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})
    return model, ref


def _data():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    return (tc.from_numpy(x), tc.from_numpy(y)), (torch.from_numpy(x), torch.from_numpy(y))


class Trainer:
    def __init__(self, lib, model, opt=None):
        self.lib, self.model = lib, model
        self.opt = opt or lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(self, x, y):
        self.opt.zero_grad()
        loss = self.lib.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss


def _same(model, ref):
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)


def _run(steps, ours, theirs):
    (x, y), (rx, ry) = _data()
    for _ in range(steps):
        np.testing.assert_allclose(ours(x, y).item(), theirs(rx, ry).item(), rtol=1e-5)


@pytest.mark.parametrize("how", ["bound method", "self as argument"])
def test_a_trainers_step_method_matches_torch(how):
    model, ref = _models()
    ours, theirs = Trainer(tc, model), Trainer(torch, ref)
    if how == "bound method":
        step = tc.compile(ours.step)
    else:
        compiled = tc.compile(Trainer.step)

        def step(x, y):
            return compiled(ours, x, y)
    _run(5, step, theirs.step)
    _same(model, ref)
    for p, q in zip(ours.opt.state.values(), theirs.opt.state.values()):
        np.testing.assert_allclose(p["momentum_buffer"].numpy(),
                                   q["momentum_buffer"].numpy(), rtol=1e-5, atol=1e-6)


def test_an_optimizer_replaced_on_the_trainer_is_the_one_used():
    model, ref = _models()
    ours, theirs = Trainer(tc, model), Trainer(torch, ref)
    step = tc.compile(ours.step)
    _run(3, step, theirs.step)
    assert isinstance(step._fast, state_call.StateCall)
    for trainer, lib in ((ours, tc), (theirs, torch)):    # a new lr, a fresh momentum
        trainer.opt = lib.optim.SGD(trainer.model.parameters(), lr=0.3, momentum=0.5)
    _run(3, step, theirs.step)
    _same(model, ref)


def test_optimizers_and_models_in_a_list_and_a_dict():
    model, ref = _models()
    opts = [tc.optim.SGD(model.parameters(), lr=0.1)]
    nets = {"net": model}
    theirs = Trainer(torch, ref, torch.optim.SGD(ref.parameters(), lr=0.1))

    def step(x, y):
        opts[0].zero_grad()
        loss = tc.nn.functional.cross_entropy(nets["net"](x), y)
        loss.backward()
        opts[0].step()
        return loss

    step = tc.compile(step)
    _run(3, step, theirs.step)
    opts[0] = tc.optim.SGD(model.parameters(), lr=0.05)    # the list changes, not the name
    theirs.opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    _run(3, step, theirs.step)
    _same(model, ref)


def test_a_model_and_optimizer_bound_as_parameter_defaults():
    """`def step(x, y, model=model, opt=opt)` binds a loop's objects at definition: the
    defaults a call leaves out are read as its closure is; one passed explicitly, or
    defaults replaced on the function, are the ones used."""
    model, ref = _models()
    theirs = Trainer(torch, ref)
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y, model=model, *, opt=opt):
        opt.zero_grad()
        loss = tc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    compiled = tc.compile(step)
    _run(3, compiled, theirs.step)
    _same(model, ref)
    assert isinstance(compiled._fast, state_call.StateCall)
    for trainer, lib in ((None, tc), (theirs, torch)):    # a new lr, a fresh momentum
        new = lib.optim.SGD((model if trainer is None else ref).parameters(), lr=0.3,
                            momentum=0.5)
        if trainer is None:
            step.__kwdefaults__ = {"opt": new}
        else:
            trainer.opt = new
    _run(3, compiled, theirs.step)
    _same(model, ref)
    (x, y), (rx, ry) = _data()       # the model passed explicitly: the default is not read
    other, other_ref = _models()
    got = compiled(x, y, other).item()
    want = torch.nn.functional.cross_entropy(other_ref(rx), ry).item()
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_a_module_that_keeps_its_optimizer():
    model, ref = _models()

    class Net(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model
            self.opt = tc.optim.Adam(self.parameters(), lr=1e-2)

        def training_step(self, x, y):
            self.opt.zero_grad()
            loss = tc.nn.functional.cross_entropy(self.body(x), y)
            loss.backward()
            self.opt.step()
            return loss
    theirs = Trainer(torch, ref, torch.optim.Adam(ref.parameters(), lr=1e-2))
    _run(4, tc.compile(Net().training_step), theirs.step)
    _same(model, ref)


def test_an_optimizer_two_levels_down_is_refused_by_name():
    model, _ = _models()

    class Box:
        pass
    box = Box()
    box.inner = Box()
    box.inner.opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        box.inner.opt.zero_grad()
        tc.nn.functional.cross_entropy(model(x), y).backward()
        box.inner.opt.step()
    (x, y), _ = _data()
    with pytest.raises(TraceError, match=r"step of an optimizer \(SGD\) it was not given.*"
                                         r"attribute or list element"):
        tc.compile(step, fullgraph=True)(x, y)
    assert not box.inner.opt.state      # nothing of the trace was left in its state


def test_large_containers_are_data_not_looked_into():
    model, _ = _models()
    models = [model] * (compile_state.INSIDE_MAX + 1)
    found, _, _ = compile_state.roots_of(lambda x: models[0](x), ())
    assert found == []
    few = models[:2]
    found, _, links = compile_state.roots_of(lambda x: few[0](x), ())
    assert found == [model] and links == [(few, "item", 0, model)]
