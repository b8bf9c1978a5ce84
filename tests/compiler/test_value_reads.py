"""Python values a compiled function reads besides its arguments (compiler/value_reads.py):
a module's attribute, a global or closure number, a scheduler's counter. A change compiles
again, so every call has eager's numbers (it ran the trace's value before); a number seen
to change is fed as an input from then on (outside_numbers.py: tests/compiler/
test_outside_numbers.py), so later values compile nothing; a change to a value the code
never read compiles nothing."""
import argparse
import dataclasses
import logging
import random

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.compiler.module_call import ModuleCall
from tracecomp.compiler.state_call import StateCall

from helpers import mean_square_step

X = np.linspace(-2.0, 2.0, 8, dtype=np.float32).reshape(2, 4)


class _Tempered(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tc.nn.Linear(4, 3)
        self.temperature = 1.0
        self.shift = (0.0, 1.0)
        self.unused = 0

    def forward(self, x):
        return self.fc(x) / self.temperature + self.shift[0] - self.shift[1]


def _same(got, want):
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6,
                               atol=1e-6)


def test_a_module_attribute_that_changes_compiles_again_under_no_grad():
    """The inference fast path (ModuleCall) sees the change too; the temperature is fed
    from its first change on, the tuple compiles again."""
    tc.manual_seed(0)
    model, x = _Tempered(), tc.tensor(X)
    compiled = tc.compile(model)
    with tc.no_grad():
        for k, temperature in enumerate([1.0, 1.0, 2.0, 2.0, 0.5]):
            model.temperature = temperature
            _same(compiled(x), model(x))
            if k == 1:
                assert isinstance(compiled._fast, ModuleCall)
        model.shift = (1.0, 3.0)
        _same(compiled(x), model(x))
    assert compiled._compiled.compiles == 3


def test_an_attribute_the_code_never_reads_compiles_nothing():
    tc.manual_seed(0)
    model, x = _Tempered(), tc.tensor(X)
    compiled = tc.compile(model)
    for epoch in range(4):
        model.unused = epoch
        _same(compiled(x), model(x))
    assert compiled._compiled.compiles == 1


@pytest.mark.parametrize("module,attribute,values", [
    (tc.nn.Dropout(0.5), "p", [0.0, 0.0, 1.0]),
    (tc.nn.LeakyReLU(0.1), "negative_slope", [0.1, 0.3, 0.01]),
    (tc.nn.Softplus(), "beta", [1.0, 2.0, 0.5]),
    (tc.nn.ELU(), "alpha", [1.0, 0.5]),
])
def test_torch_modules_settings_changed_after_a_compile(module, attribute, values):
    """torch code does change these (dropout schedules, a slope sweep): each new value is
    the module's, as in eager mode (Dropout with p 0 or 1 is deterministic); from the
    first change on the number is fed, unless the code branches on it (Dropout's p)."""
    compiled, x = tc.compile(module), tc.tensor(X)
    for v in values:
        setattr(module, attribute, v)
        _same(compiled(x), module(x))
    assert compiled._compiled.compiles == min(len(set(values)), 2)


SCALE = 1.0


def _scaled(x):
    return x * SCALE


def _through_a_helper(x):
    return _scaled(x) + 1


@pytest.mark.parametrize("fn", [_scaled, _through_a_helper], ids=["own", "helper's"])
def test_a_global_number_that_changes_compiles_again(fn):
    """Its own global, or a helper's, read while tracing as its own (before, a helper's
    kept the first value, on the fast path too); fed from its first change on."""
    global SCALE
    compiled, x = tc.compile(fn), tc.tensor(X)
    try:
        for SCALE in (1.0, 1.0, 3.0, 0.25):     # noqa: B007 - _scaled reads it
            _same(compiled(x), fn(x))
    finally:
        SCALE = 1.0
    assert compiled.compiles == 2


def test_a_closure_helpers_number_that_changes_compiles_again():
    scale = 1.0

    def helper(x):
        return x * scale
    compiled, x = tc.compile(lambda x: helper(x) - 1), tc.tensor(X)
    for scale in (1.0, 2.0, 2.0, -1.0):     # noqa: B007 - the helper's closure reads it
        _same(compiled(x), helper(x) - 1)
    assert compiled.compiles == 2


def test_a_closure_number_that_changes_compiles_again():
    scale = 1.0

    def fn(x):
        return x * scale
    compiled, x = tc.compile(fn), tc.tensor(X)
    for scale in (1.0, 2.0, 2.0, -1.0):     # noqa: B007 - the closure reads it
        _same(compiled(x), fn(x))
    assert compiled.compiles == 2


class _Sizes(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.sizes = [1, 3]

    def forward(self, x):
        return x[:, self.sizes[0]:self.sizes[1]].sum(1)


def test_a_list_attribute_changed_in_place_compiles_again():
    model, x = _Sizes(), tc.tensor(X)
    compiled = tc.compile(model)
    _same(compiled(x), model(x))
    model.sizes[1] = 4      # no setattr: compared on every call
    _same(compiled(x), model(x))
    assert compiled._compiled.compiles == 2


def test_a_whole_step_reading_a_module_attribute_follows_it(monkeypatch):
    """The whole-step fast path (StateCall) runs while the attribute holds, and a change
    compiles again, with eager's numbers."""
    def make():
        tc.manual_seed(0)
        model = _Tempered()
        return model, mean_square_step(model, tc.optim.SGD(model.parameters(), lr=0.1))
    (model, step), (ref, ref_step) = make(), make()
    compiled, x = tc.compile(step), tc.tensor(X)
    for k, temperature in enumerate([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 4.0]):
        model.temperature = ref.temperature = temperature
        np.testing.assert_allclose(compiled(x).item(), ref_step(x).item(), rtol=1e-6)
        if k == 2:
            assert isinstance(compiled._fast, StateCall)
    assert compiled.compiles == 3     # the first step makes the momentum-free state: 2
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7,
                                   err_msg=key)


def test_a_scheduler_read_before_its_step_gives_each_calls_values():
    """get_last_lr() and last_epoch read in a step that then steps the scheduler: each call
    returns that call's, as eagerly (they were the first call's before)."""
    def make():
        tc.manual_seed(0)
        model = tc.nn.Linear(4, 2)
        opt = tc.optim.SGD(model.parameters(), lr=0.1)
        sched = tc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

        def step(x):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            lr, epoch = sched.get_last_lr()[0], sched.last_epoch
            sched.step()
            return loss * lr + epoch
        return step
    compiled, eager, x = tc.compile(make()), make(), tc.tensor(X)
    for _ in range(5):
        np.testing.assert_allclose(compiled(x).item(), eager(x).item(), rtol=1e-6)


def test_the_recompile_reason_names_the_value(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    tc.manual_seed(0)
    model, x = _Tempered(), tc.tensor(X)
    compiled = tc.compile(model)
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        compiled(x)
        model.temperature = 2.0
        compiled(x)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "attribute temperature of _Tempered: 1.0 -> 2.0" in text


def test_the_read_hook_is_gone_after_the_trace():
    compiled = tc.compile(_Tempered())
    compiled(tc.tensor(X))
    assert "__getattribute__" not in vars(tc.nn.Module)
    assert "__getattribute__" not in vars(tc.optim.lr_scheduler.LRScheduler)


def test_a_script_loop_variable_named_like_an_attribute_is_not_guarded():
    """`opt.step()` names `step` as an attribute, not the script's global loop variable
    `step`: that changing every call neither compiles again nor leaves the fast path."""
    tc.manual_seed(0)
    model = tc.nn.Linear(4, 2)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    scope = {"model": model, "opt": opt, "step": 0}
    exec("def train(x):\n"
         "    opt.zero_grad()\n"
         "    loss = model(x).pow(2).mean()\n"
         "    loss.backward()\n"
         "    opt.step()\n"
         "    return loss\n", scope)
    compiled, x = tc.compile(scope["train"]), tc.tensor(X)
    for step in range(5):
        scope["step"] = step
        compiled(x)
        if step >= 2:
            assert isinstance(compiled._fast, StateCall)
    assert compiled.compiles == 2


class _Table(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = {"a": 1.0, "b": 2.0}

    def forward(self, x):
        return x * self.weights["a"] + self.weights["b"]


def test_a_dict_attribute_changed_in_place_compiles_again(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    model, x = _Table(), tc.tensor(X)
    compiled = tc.compile(model)
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        _same(compiled(x), model(x))
        model.weights["b"] = -1.0
        _same(compiled(x), model(x))
    assert compiled._compiled.compiles == 2
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "attribute weights of _Table: {'a': 1.0, 'b': 2.0} -> {'a': 1.0, 'b': -1.0}" in text


def test_the_default_dtype_is_part_of_the_signature():
    """torch.set_default_dtype after a compile: what the code creates (ones(), a float
    literal's dtype) follows it, through the fast paths too, as torch.compile guards it."""
    def fn(x):
        return x.sum() + tc.ones(3)
    class Counts(tc.nn.Module):
        def forward(self, x):
            return x.sum(1) + tc.ones(1)
    compiled, model = tc.compile(fn), tc.compile(Counts())
    x = tc.ones(3, dtype=tc.int64)
    try:
        for default in (tc.float32, tc.float32, tc.float64, tc.float64, tc.float32):
            tc.set_default_dtype(default)
            for _ in range(2):
                assert compiled(x).dtype == fn(x).dtype == default
                with tc.no_grad():
                    assert model(x.view(1, 3)).dtype == default
    finally:
        tc.set_default_dtype(tc.float32)
    assert compiled.compiles == 2


@pytest.mark.parametrize("draw", [lambda: random.random(), lambda: random.randint(1, 9),
                                  lambda: float(np.random.rand())],
                         ids=["random", "randint", "np.random"])
def test_python_random_draws_inside_compiled_code_are_refused(draw):
    """The graph would hold the trace's draws, the same every call: a TraceError saying
    what to do instead (before, every call silently reused the first draw)."""
    compiled = tc.compile(lambda x: x * draw(), fullgraph=True)
    with pytest.raises(tc.errors.TraceError, match=r"drew random numbers .* pass the value "
                                                   r"as an argument"):
        compiled(tc.tensor(X))


def test_a_refused_or_failed_trace_leaves_the_programs_random_streams_as_they_were():
    """fallback='eager' runs a call eagerly after its trace failed; the trace's draws must
    not have used up the program's (bentrevett's seq2seq flipped its teacher-forcing coins
    differently from the uncompiled run: first-step gradients 75 % off)."""
    def flips(x):
        return x * (1.0 if random.random() < 0.5 else 2.0) + float(np.random.rand())

    def run(fn, calls=6):
        random.seed(0)
        np.random.seed(0)
        return [fn(tc.tensor(X)).numpy().copy() for _ in range(calls)]

    eager = run(flips)
    for got, want in zip(run(tc.compile(flips, fallback="eager")), eager):
        np.testing.assert_array_equal(got, want)
    random.seed(1)
    np.random.seed(1)
    before = random.random(), float(np.random.rand())
    random.seed(1)
    np.random.seed(1)
    with pytest.raises(tc.errors.TraceError):
        tc.compile(flips, fullgraph=True)(tc.tensor(X))
    assert (random.random(), float(np.random.rand())) == before


def test_a_python_random_number_passed_as_an_argument_is_fed():
    compiled, x = tc.compile(lambda x, r: x * r), tc.tensor(X)
    rng = random.Random(0)
    for _ in range(4):
        r = rng.random()
        _same(compiled(x, r), x * r)
    assert compiled.compiles == 2


ARGS = argparse.Namespace(scale=2.0, unused=0)


def _namespace_scaled(x):
    return x * ARGS.scale


@dataclasses.dataclass
class _Config:
    scale: float = 1.0
    offset: tuple = (0.0,)


class _Configured(tc.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config

    def forward(self, x):
        return x * self.config.scale + self.config.offset[0]


class _Trainer:
    def __init__(self):
        self.weight = 1.0

    def step(self, x):
        return x * self.weight


def test_attributes_of_plain_objects_it_reaches_are_guarded():
    """An argparse Namespace in a global, a dataclass config held by a module, a trainer
    whose method is compiled: a change of what was read compiles again; of what was not,
    nothing."""
    compiled, x = tc.compile(_namespace_scaled), tc.tensor(X)
    for scale in (2.0, 2.0, 5.0):
        ARGS.scale, ARGS.unused = scale, ARGS.unused + 1
        _same(compiled(x), _namespace_scaled(x))
    assert compiled.compiles == 2
    config = _Config()
    model = _Configured(config)
    compiled = tc.compile(model)
    for scale, offset in ((1.0, (0.0,)), (3.0, (0.0,)), (3.0, (1.0,))):
        config.scale, config.offset = scale, offset
        _same(compiled(x), model(x))
    assert compiled._compiled.compiles == 3
    trainer = _Trainer()
    compiled = tc.compile(trainer.step)
    for weight in (1.0, 4.0):
        trainer.weight = weight
        _same(compiled(x), trainer.step(x))
    assert compiled.compiles == 2
    assert "__getattribute__" not in vars(_Config) and "__getattribute__" not in vars(_Trainer)


def _add_then_read(a, b):
    a.add_(1)
    return b * 2


def test_the_same_tensor_passed_twice_is_one_input():
    """f(x, x) updating `a` in place: `b` is the same tensor, so it reads the update, as
    eagerly (the trace used to treat them as two tensors: b read the old value)."""
    compiled = tc.compile(_add_then_read)
    for aliased in (False, True, True, False):
        x, y = tc.zeros(3), tc.zeros(3)
        if aliased:
            got, want = compiled(x, x), _add_then_read(y, y)
        else:
            got, want = compiled(x, tc.zeros(3)), _add_then_read(y, tc.zeros(3))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert compiled.compiles == 2


def test_arguments_sharing_memory_with_an_in_place_update_are_refused():
    x = tc.zeros(4)
    with pytest.raises(tc.errors.TraceError, match="share memory"):
        tc.compile(_add_then_read, fullgraph=True)(x[1:], x[:3])
    x = tc.zeros(4)     # disjoint views of one tensor: fine
    np.testing.assert_array_equal(tc.compile(_add_then_read)(x[2:], x[:2]).numpy(), [0, 0])
    np.testing.assert_array_equal(x.numpy(), [0, 0, 1, 1])


def test_a_whole_step_called_with_a_tensor_and_its_detached_copy_leaves_the_fast_path():
    """StateCall compares how its arguments share memory, as the signature does: x and
    x.detach(), where the step updates x in place, is refused (it ran the graph of two
    separate tensors before)."""
    tc.manual_seed(0)
    model = tc.nn.Linear(3, 3)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        x.mul_(0.5)
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        opt.step()
        return loss
    compiled = tc.compile(step, fullgraph=True)
    for _ in range(3):
        compiled(tc.ones(2, 3), tc.ones(2, 3))
    assert isinstance(compiled._fast, StateCall)
    x = tc.ones(2, 3)
    with pytest.raises(tc.errors.TraceError, match="share memory"):
        compiled(x, x.detach())


def test_seeding_inside_compiled_code_is_refused():
    """Each eager call would reseed; a trace seeds once (later calls drew on)."""
    def fn(x):
        tc.manual_seed(0)
        return x + tc.rand(2)
    with pytest.raises(tc.errors.TraceError, match=r"manual_seed\(\) was called inside"):
        tc.compile(fn, fullgraph=True)(tc.zeros(2))
    tc.manual_seed(3)
    first = tc.compile(lambda x: x + tc.rand(2), fullgraph=True)(tc.zeros(2))
    tc.manual_seed(3)
    np.testing.assert_array_equal(first.numpy(), tc.rand(2).numpy())



class _Scaled(tc.nn.Module):
    def forward(self, x):
        return x * SCALE


class _WithScaledBlock(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tc.nn.Linear(4, 4)
        self.block = _Scaled()

    def forward(self, x):
        return self.block(self.fc(x))


def test_a_submodules_global_number_that_changes_compiles_again():
    """A global read in a submodule's forward, compile(model) and a whole step: before,
    both kept the first value."""
    global SCALE
    model = _WithScaledBlock()
    compiled, x = tc.compile(model), tc.tensor(X)
    step = tc.compile(lambda x: model(x).sum())
    try:
        with tc.no_grad():
            for SCALE in (1.0, 1.0, -2.0):     # noqa: B007 - _Scaled reads it
                _same(compiled(x), model(x))
                _same(step(x), model(x).sum())
    finally:
        SCALE = 1.0
    assert compiled._compiled.compiles == 2 and step.compiles == 2


class _Run:
    pass


class _ModelCfg:
    pass


class _ActCfg:
    pass


def test_a_number_three_objects_deep_that_changes_compiles_again():
    """cfg.model.act.slope, each object of its own class: the classes are watched down
    to value_reads.PLAIN_DEPTH (before, one level: the graph kept the first slope)."""
    cfg = _Run()
    cfg.model = _ModelCfg()
    cfg.model.act = _ActCfg()
    cfg.model.act.slope = 0.1

    def f(x):
        return tc.where(x > 0, x, x * cfg.model.act.slope)
    compiled, x = tc.compile(f), tc.tensor(X)
    for slope in (0.1, 0.5, 0.5):
        cfg.model.act.slope = slope
        _same(compiled(x), f(x))
    assert compiled.compiles == 2


OPTIONS = [0.5]
CONFIG = {"scale": 2.0, "mask": tc.ones(4), "sizes": [1, 2]}


def test_a_global_list_of_numbers_changed_in_place_compiles_again():
    """The plain function's fast path compared only what the name holds: the list, the
    same object after `OPTIONS[0] = 3.0`, ran with 0.5 (silently)."""
    compiled, x = tc.compile(lambda x: x * OPTIONS[0]), tc.tensor(X)
    try:
        for value in (0.5, 0.5, 3.0):
            OPTIONS[0] = value
            _same(compiled(x), x * value)
            _same(compiled(x), x * value)
    finally:
        OPTIONS[0] = 0.5
    assert compiled.compiles == 2


def test_numbers_beside_a_tensor_in_a_config_dict_are_guarded():
    """A dict of numbers and a tensor was not guarded at all (a tensor is not compared):
    its numbers now are, the tensor by where it lies (outside_tensors.py)."""
    compiled, x = tc.compile(lambda x: x * CONFIG["scale"] * CONFIG["mask"]), tc.tensor(X)
    try:
        _same(compiled(x), x * 2.0)
        CONFIG["scale"] = 5.0
        _same(compiled(x), x * 5.0)
        CONFIG["mask"] = tc.zeros(4)
        _same(compiled(x), x * 0.0)
        CONFIG["sizes"].append(3)       # unread, but the dict's entries are compared
        _same(compiled(x), x * 0.0)
    finally:
        CONFIG.update(scale=2.0, mask=tc.ones(4), sizes=[1, 2])


class _PostScaled(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tc.nn.Linear(4, 4)

    def _post(self, x):         # a method forward calls: its globals are read too
        return x * SCALE

    def forward(self, x):
        return self._post(self.fc(x))


def test_a_global_number_read_in_a_method_forward_calls_compiles_again():
    global SCALE
    model = _PostScaled()
    compiled, x = tc.compile(model), tc.tensor(X)
    try:
        with tc.no_grad():
            for SCALE in (1.0, 4.0):     # noqa: B007 - _post reads it
                _same(compiled(x), model(x))
    finally:
        SCALE = 1.0
