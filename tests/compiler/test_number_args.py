"""Number arguments fed to compiled code as inputs (compiler/number_args.py,
tracing/number.py): a number that changes between calls compiles once more and then runs
the same artifact for every value, with eager's (and torch's) numbers; a number whose value
the code reads (a branch, a range, a size, returning it) is compiled in again, per value,
with eager's numbers; dtypes follow torch's rules for a Python number."""

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler.state_call import StateCall

from helpers import twin_mlps

X = np.linspace(-2.0, 3.0, 12, dtype=np.float32).reshape(3, 4)


def _run(fn, values, x=X, **compile_kw):
    """fn compiled, called with tensor(x) and each value; asserts each result equals fn's
    eager one (same dtype); returns the compiled function."""
    compiled = tc.compile(fn, **compile_kw)
    for v in values:
        got, want = compiled(tc.tensor(x), v), fn(tc.tensor(x), v)
        for g, w in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, want))):
            if isinstance(w, tc.Tensor):
                assert g.dtype == w.dtype, (v, g.dtype, w.dtype)
                np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)
            else:
                assert type(g) is type(w) and g == w
    return compiled


@pytest.mark.parametrize("fn", [
    lambda x, b: x * b,
    lambda x, b: b * x + (1 - b) * 2,
    lambda x, b: (x - b / 4).sum() * -b,
    lambda x, b: tc.relu(x) * abs(b) + b * b,
    lambda x, b: tc.where(x > b, x, b),
    lambda x, b: x.clamp(min=-1.0) + 2 * b - b / 3,
    lambda x, b: tc.nn.functional.leaky_relu(x, b),
], ids=["mul", "one-minus", "div-neg", "abs-square", "where", "chain", "leaky-relu"])
def test_a_float_used_in_arithmetic_compiles_twice_for_every_value(fn):
    compiled = _run(fn, [0.5, -1.25, 0.1, 3.0, 0.0, 1e-3])
    assert compiled.compiles == 2
    assert compiled.numbers.fed == {"b"}


def test_an_int_step_counter_is_fed_and_computed_as_python_computes():
    """step / 100, step * 3 and 0.5 * step are computed in float64 / int64 from the int
    input, as Python computes them, before they meet the float32 tensor."""
    compiled = _run(lambda x, step: x * (step / 100) + step * 3 - 0.5 * step, range(7))
    assert compiled.compiles == 2
    text = str(compiled.graphs["traced"])
    assert "%step: i64[]" in text and "f64" in text


@pytest.mark.parametrize("dtype,value", [
    (np.int32, 2.5), (np.int32, 3), (np.float64, 0.1), (np.float16, 0.3), (np.uint8, 2),
    (np.bool_, 3), (np.bool_, 0.5), (np.int64, -4)])
def test_dtypes_are_those_of_a_python_number(dtype, value):
    """An int tensor times a float is float32, an int32 tensor plus an int stays int32, a
    float64 tensor computes with the float's full precision: as torch with the number."""
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    for fn in (lambda x, v: x * v, lambda x, v: v + x, lambda x, v: x * (v * 2) + 1):
        compiled = tc.compile(fn)
        for v in (value, value * 3, value * 5):
            got = compiled(tc.tensor(x), v)
            want = fn(torch.tensor(x), v)
            assert str(got.dtype)[10:] == str(want.dtype)[6:], (v, got.dtype, want.dtype)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert compiled.compiles == 2


def test_a_float64_tensor_computes_with_the_float_unrounded():
    compiled = _run(lambda x, b: x * b, [0.1, 0.7, 1 / 3], x=X.astype(np.float64))
    got = compiled(tc.tensor(X.astype(np.float64)), 1 / 7)
    np.testing.assert_array_equal(got.numpy(), X.astype(np.float64) * (1 / 7))


def _branch(x, n):
    return x * 2 if n % 2 else x + n


def _rows(x, n):
    return x[:n].sum(0)


def _loop(x, n):
    for _ in range(n):
        x = x * 0.5
    return x


def _formatted(x, b):
    return x * float(f"{b:.3f}")


def _returned(x, b):
    return x * b, b


def _setting(x, b):
    return x.clamp(max=b)


def _power(x, n):
    return x * 2 ** n      # an int, or a float for a negative n: read (0.9 ** n is fed)


@pytest.mark.parametrize("fn,values", [
    (_branch, [1, 2, 3, 4]), (_rows, [1, 2, 3, 2]), (_loop, [1, 2, 3]),
    (_formatted, [0.25, 0.5, 0.75]), (_returned, [0.5, 1.5, 2.5]),
    (_setting, [0.1, 0.2, 0.3]), (_power, [1, 2, 3])])
def test_a_number_whose_value_is_read_is_compiled_in_per_value(fn, values):
    """Each read needs the value: the number is compiled in again (pinned), so every call
    has eager's numbers, and each new value compiles."""
    compiled = _run(fn, values)
    assert compiled.numbers.pinned == set(compiled.numbers.seen)
    assert compiled.compiles == len(set(values))


def test_isinstance_answers_as_for_the_number():
    def fn(x, b):
        return x * b if isinstance(b, float) and not isinstance(b, int) else x
    compiled = _run(fn, [0.5, 1.5, 2.5])
    assert compiled.compiles == 2


def test_a_trace_failing_on_the_stand_in_compiles_the_number_in():
    """Feeding is never why a function fails: code that needs a real float (here it
    says so) is traced again with the number compiled in."""
    def fn(x, b):
        if type(b) is not float:
            raise TypeError("a float, please")
        return x * b
    compiled = _run(fn, [0.5, 1.5, 2.5])
    assert compiled.numbers.pinned == {"b"} and compiled.compiles == 3


def test_dynamic_true_feeds_from_the_first_call_and_false_never():
    assert _run(lambda x, b: x * b, [0.5, 1.5, 2.5], dynamic=True).compiles == 1
    assert _run(lambda x, b: x * b, [0.5, 1.5, 2.5], dynamic=False).compiles == 3


def test_a_number_that_turns_from_int_to_float_compiles_once_more():
    compiled = _run(lambda x, b: x * b, [1, 2, 3, 0.5, 1.5, 4])
    assert compiled.compiles == 3


def test_bools_and_other_statics_stay_constants():
    compiled = _run(lambda x, b: x * 2 if b else x, [True, False, True, False])
    assert compiled.compiles == 2 and not compiled.numbers.fed


def test_repeated_calls_take_the_latest_signature_without_the_full_lookup(monkeypatch):
    compiled = _run(lambda x, b: x * b, [0.5, 1.5])

    def lookup(*args, **kwargs):
        raise AssertionError("the full signature was built")
    monkeypatch.setattr(type(compiled), "_lookup", lookup)
    x = tc.tensor(X)
    for b in (2.5, -1.0, 7.25):
        np.testing.assert_array_equal(compiled(x, b).numpy(), X * np.float32(b))


def test_the_miss_says_the_number_is_fed(caplog, monkeypatch):
    import logging
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        _run(lambda x, b: x * b, [0.5, 1.5, 2.5])
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "argument b: 0.5 -> a float fed each call" in text


def _annealed_step(lib, model, opt):
    def step(x, y, epoch, beta):
        opt.zero_grad()
        out = model(x)
        loss = lib.nn.functional.cross_entropy(out, y) * (1 + 0.1 * epoch) \
            + beta * out.pow(2).mean()
        loss.backward()
        opt.step()
        return loss
    return step


def test_a_whole_training_step_with_a_step_counter_matches_torch_and_repeats(monkeypatch):
    """A training step taking the epoch and an annealed weight: 2 compiles, torch's
    numbers, and from the third call the whole-step fast path (StateCall) feeds the
    numbers without the general call."""
    (model, opt), (ref, ref_opt) = twin_mlps("SGD", {"lr": 0.1, "momentum": 0.9})
    step = tc.compile(_annealed_step(tc, model, opt))
    ref_step = _annealed_step(torch, ref, ref_opt)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
    data, ref_data = (tc.tensor(x), tc.tensor(y)), (torch.tensor(x), torch.tensor(y))

    def train(epochs):
        for epoch in epochs:
            beta = 0.01 * epoch
            got, want = step(*data, epoch, beta), ref_step(*ref_data, epoch, beta)
            np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    train(range(3))
    assert isinstance(step._fast, StateCall)

    def general_call(*args, **kwargs):
        raise AssertionError("the general call ran")
    monkeypatch.setattr(type(step), "_call", general_call)
    train(range(3, 9))
    assert step.compiles == 2
    for (key, want), got in zip(ref.state_dict().items(), model.state_dict().values()):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)


class _Scaled(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tc.nn.Linear(4, 3)

    def forward(self, x, t):
        return self.fc(x) * (1 - t / 1000)


def test_a_compiled_module_taking_a_timestep():
    tc.manual_seed(0)
    model = _Scaled()
    compiled = tc.compile(model)
    x = tc.tensor(X)
    for t in (10, 500, 999, 3):
        np.testing.assert_allclose(compiled(x, t).detach().numpy(),
                                   model(x, t).detach().numpy(), rtol=1e-6, atol=1e-6)
    assert compiled._compiled.compiles == 2


def test_a_compiled_module_taking_a_timestep_repeats_through_its_fast_path(monkeypatch):
    """ModuleCall feeds the number too: the general call (patched to fail) never runs."""
    from tracecomp.compiler.module_call import ModuleCall
    tc.manual_seed(0)
    model = _Scaled()
    compiled = tc.compile(model)
    x = tc.tensor(X)
    with tc.no_grad():
        for t in (10, 500, 999):
            compiled(x, t)
        assert isinstance(compiled._fast, ModuleCall)

        def general_call(*args, **kwargs):
            raise AssertionError("the general call ran")
        monkeypatch.setattr(type(compiled._compiled), "_call", general_call)
        for t in (3, 250, 700):
            np.testing.assert_allclose(compiled(x, t).numpy(), model(x, t).numpy(),
                                       rtol=1e-6, atol=1e-6)
