"""Fed numbers (tracing/number.py, number_functions.py) stay fed through division, `//` and
`%` (of floats too, with Python's signed zeros), math.sqrt / cos / exp / log and min /
max: a hand-written Adam with bias correction, a cosine schedule and a linear warmup
compile twice, not once per step, and train as eagerly and as torch does; where Python
would raise (a division by 0, the square root of a negative number) the compiled call
raises Python's error too. A numpy scalar on a module (CategoricalVAE's annealed
temperature) is guarded, then fed, as a float is."""
import math

import numpy as np
import pytest
import torch
from test_number_args import _run
from test_outside_numbers import _batches, _mlp, _same_weights, _weights

import tracecomp as tc

COUNT = 0       # a global counter the compiled code reads (and the test moves)


class _Trainer:
    """A hand-written training step whose learning rate comes from its own step count:
    Adam's bias correction (kind "adam"), a cosine schedule ("cosine"), or a linear warmup
    clipped by min and floored by max ("warmup")."""

    def __init__(self, lib, model, kind):
        self.lib, self.model, self.kind, self.t = lib, model, kind, 0
        self.m = {p: lib.zeros_like(p.data) for p in model.parameters()}
        self.v = {p: lib.zeros_like(p.data) for p in model.parameters()}

    def rate(self):
        t = self.t
        if self.kind == "adam":
            return 0.05 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        if self.kind == "cosine":
            return 0.1 * 0.5 * (1 + math.cos(math.pi * t / 8))
        return 0.1 * min(1.0, t / 3) * max(0.25, 1 - t // 2 * 0.125) * math.exp(-t / 20)

    def step(self, x, y):
        self.t += 1
        lr = self.rate()
        loss = self.lib.nn.functional.mse_loss(self.model(x), y)
        loss.backward()
        with self.lib.no_grad():
            for p in self.model.parameters():
                if self.kind == "adam":
                    self.m[p] = 0.9 * self.m[p] + 0.1 * p.grad
                    self.v[p] = 0.999 * self.v[p] + 0.001 * p.grad * p.grad
                    p.sub_(lr * self.m[p] / (self.v[p].sqrt() + 1e-8))
                else:
                    p.sub_(lr * p.grad)
                p.grad = None
        return loss


def _trained(lib, compile_fn, kind):
    model = _mlp(lib)
    trainer = _Trainer(lib, model, kind)
    step = compile_fn(trainer.step)
    losses = [step(x, y).item() for x, y in _batches(lib)]
    return _weights(model) + [np.array(losses)], trainer, step


@pytest.mark.parametrize("kind", ["adam", "cosine", "warmup"])
def test_a_schedule_computed_from_a_fed_count_compiles_once(kind):
    """The step moves its own count (`self.t += 1`): the first trace sees that, feeds the
    count and traces again before compiling (outside_numbers.CallChanges)."""
    got, trainer, step = _trained(tc, tc.compile, kind)
    eager, _, _ = _trained(tc, lambda f: f, kind)
    want, _, _ = _trained(torch, lambda f: f, kind)
    _same_weights([got, eager, want])
    assert type(trainer.t) is int and trainer.t == len(_batches(tc))
    assert step.compiles == 1 and not step.outside.pinned and not step.last.eager
    assert [repr(s) for s in step.outside.slots.values()] == ["_Trainer.t"]


def _warmup(x, step):
    return x * min(1.0, step / 4)


def _cosine(x, b):
    return x * math.cos(b) + math.sqrt(b) - math.log(b) * max(b, 0.75, 0.5)


def _divided_by(x, n):
    return x + 1 / n + (n * 7 - 20) // 3 + (n * 7 - 20) % 3 + (-7) // n + 5 % n


@pytest.mark.parametrize("fn,values", [
    (_warmup, [1, 2, 5, 6]), (_cosine, [0.5, 1.0, 1.5, 0.25]), (_divided_by, [1, 2, 4, -3])])
def test_a_number_argument_divided_or_in_math_functions_stays_fed(fn, values):
    """Each call has eager's numbers (_run compares), from one artifact after the first."""
    compiled = _run(fn, values)
    assert compiled.compiles == 2 and not compiled.numbers.pinned
    assert "f64[]" in str(compiled.graphs["traced"])


def _float_floor_and_mod(x, b):
    # the sign of a zero remainder shows through copysign: -5.0 % 2.5 is 0.0 in Python,
    # where torch's remainder gives -0.0
    return (x.abs().copysign(b % 2.5) * (b // 0.1) + (7.5 // b) - (b * 3) % -0.7,
            x.abs().copysign(-b % 2.5))


def test_floor_division_and_modulo_of_fed_floats_stay_fed_with_pythons_signs():
    """`b // 0.1` of 0.3 is 2.0 (not 3.0) and the remainder's zero takes the divisor's
    sign, as Python computes them; each value is one call of one artifact."""
    values = [1.0, 0.3, -5.0, 5.0, -0.35, 2.5]
    compiled = _run(_float_floor_and_mod, values)
    assert compiled.compiles == 2 and not compiled.numbers.pinned
    x = tc.tensor(np.array([1.0, -2.0], np.float32))
    for b in values:
        got = compiled(x, b)[0].numpy()
        python = [abs(v) * (1 if math.copysign(1, b % 2.5) > 0 else -1) * (b // 0.1)
                  + 7.5 // b - (b * 3) % -0.7 for v in (1.0, -2.0)]
        np.testing.assert_allclose(got, python, rtol=1e-6)
        assert np.array_equal(np.signbit(compiled(x, b)[1].numpy()),
                              [math.copysign(1, -b % 2.5) < 0] * 2)


def _scaled_updates(x, s):
    y = x.clone()
    y.add_(x, alpha=-s)
    y.addcdiv_(x, x + 2, value=s)
    y.addcmul_(x, x, value=-s)
    y.sub_(x, alpha=s)
    return y + x.add(x, alpha=s) + tc.sub(x, x * 3, alpha=s) + tc.addcmul(x, x, x, value=s)


def test_a_fed_number_as_alpha_or_value_stays_fed():
    """`p.add_(grad, alpha=-lr)`, `addcdiv_(m, v, value=-step_size)`: a hand-written update
    scaled by a fed number compiles once for every float (comparing alpha with 1 to skip
    the product used to read it, compiling each value in)."""
    compiled = _run(_scaled_updates, [0.1, 0.2, 0.3, 1.0, -2.5])
    assert compiled.compiles == 2 and not compiled.numbers.pinned


def _divides(x):
    return x * (1 / (3 - COUNT))


def _square_root(x):
    return x + math.sqrt(2 - COUNT / 2)


@pytest.mark.parametrize("fn,last,error", [(_divides, 3, ZeroDivisionError),
                                           (_square_root, 5, ValueError)])
def test_where_python_raises_the_compiled_call_raises(fn, last, error):
    """1 / (3 - COUNT) for COUNT 3, math.sqrt of a negative number for COUNT 5: the graph
    would give inf or NaN; the call checks its fed number first, compiles it in and meets
    Python's error, as eagerly (the values before it are eager's)."""
    global COUNT
    compiled = tc.compile(fn)
    x = tc.tensor(np.array([1.0, -2.0], np.float32))
    try:
        for COUNT in range(last):       # noqa: B007 - fn reads it
            np.testing.assert_allclose(compiled(x).numpy(), fn(x).numpy(), rtol=1e-6)
        assert compiled.compiles == 2 and compiled.outside.slots
        COUNT = last
        with pytest.raises(error):
            fn(x)
        with pytest.raises(error):
            compiled(x)
        assert compiled.outside.pinned and not compiled.outside.slots
    finally:
        COUNT = 0


def _rounded(x, b):
    return x * round(b * 3) + math.floor(b) * 0.5 + math.ceil(-b) + math.trunc(b / 2)


def test_round_floor_ceil_and_trunc_of_a_fed_float_are_ints_in_the_graph():
    """Half to even as Python's round (1.5 * 3 -> 4, 2.5 * 3 -> 8), floors of negatives."""
    compiled = _run(_rounded, [0.5, 1.5, 2.5, -0.75, 5 / 6])
    assert compiled.compiles == 2 and not compiled.numbers.pinned
    assert "i64[]" in str(compiled.graphs["traced"])


@pytest.mark.parametrize("fn,values,error", [
    (lambda x, b: x * (1 / b), [1.0, 2.0, 0.0], ZeroDivisionError),
    (_rounded, [0.5, 1.5, float("inf")], OverflowError),
    (lambda x, n: x * (7 % n), [2, 3, 0], ZeroDivisionError)])
def test_a_number_argument_that_makes_python_raise_raises(fn, values, error):
    """The fast path (the latest call's signature) meets the failed condition too: the
    number is compiled in, once (it used to go round for ever), and Python's error is
    raised."""
    compiled = _run(fn, values[:-1])
    with pytest.raises(error):
        fn(tc.ones(2), values[-1])
    with pytest.raises(error):
        compiled(tc.ones(2), values[-1])
    assert compiled.numbers.pinned


def test_min_of_an_int_and_a_float_reads_the_value():
    """min(2, b) is the int 2 or the float b as b goes: its type rests on the value, so b
    is compiled in (per value), with eager's numbers."""
    compiled = _run(lambda x, b: x * min(2, b) + max(b, 1) / 2, [0.5, 1.5, 3.0])
    assert compiled.numbers.pinned == {"b"} and compiled.compiles == 3


def test_the_math_module_is_itself_again_after_a_trace():
    """The wrappers are there only while a trace runs."""
    before = math.sqrt, math.cos, min, max
    _run(_cosine, [0.5, 1.0])
    assert (math.sqrt, math.cos, min, max) == before
    assert math.sqrt.__module__ == "math" and min.__module__ == "builtins"


# --- a numpy scalar on a module (AntixK's CategoricalVAE anneals `self.temp` so) ------------
def _annealing(lib, compile_fn, start, branch):
    """A module whose forward anneals its numpy temperature (np.maximum(temp *
    np.exp(-rate * 2), min_temp), from `start`) and divides by it; branch: only every
    other call (a count the code branches on, compiled in per value)."""
    class Annealed(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(3, 2)
            self.temp, self.min_temp, self.rate, self.calls = start, 0.3, 0.1, 0
            with lib.no_grad():
                self.lin.weight.copy_(lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)))
                self.lin.bias.zero_()

        def forward(self, x):
            self.calls += 1
            if not branch or self.calls % 2 == 0:
                self.temp = np.maximum(self.temp * np.exp(-self.rate * 2), self.min_temp)
            return lib.softmax(self.lin(x) / self.temp, -1) * (1 - self.temp)
    module = Annealed()
    compiled = compile_fn(module)
    x = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    return [compiled(x).detach() for _ in range(6)], module, compiled


@pytest.mark.parametrize("start,branch,compiles", [
    (np.float64(0.5), False, 1), (np.float32(0.5), False, 2), (np.float64(0.5), True, 6)])
def test_a_numpy_scalar_on_a_module_is_fed_once_it_changes(start, branch, compiles):
    """Not a graph break: the np.float64 is guarded as a float is, and fed as a 0-d
    float64 input as it changes (here the forward changes it itself, so from the first
    compile: np.maximum, np.exp and * computed in the graph, in numpy's dtypes), stored
    back as an np.float64; a float32 tensor divided by it stays float32, as torch's does.
    An np.float32 that becomes an np.float64 (numpy's promotion) compiles once more; with
    a branch on the count, each call compiles (the count's values), still with torch's
    numbers."""
    got, module, compiled = _annealing(tc, tc.compile, start, branch)
    want, reference, _ = _annealing(torch, lambda f: f, start, branch)
    for g, w in zip(got, want):
        assert str(g.dtype) == str(w.dtype).replace("torch", "tracecomp")
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)
    assert type(module.temp) is np.float64 and module.temp == reference.temp
    inner = compiled._compiled
    assert inner.compiles == compiles and not inner.last.eager
    assert "Annealed.temp" in [repr(s) for s in inner.outside.slots.values()]
