"""Attributes of plain Python objects that compiled code stores into (a counter's `self.n
+= 1`, a config's `cfg.n = cfg.n + 1`, a trainer's `self.losses.append(loss.item())`) change
on every call, as eagerly: replayed after each call (kept_values.py), guarded where read
(value_reads.py), or, where no call can repeat the store, a graph break that runs the call
eagerly (object_stores.py). Never once per trace.

Each case runs the same code eagerly and compiled, on a fresh object each, over several
calls, and compares the outputs and the object's state after every call.
"""
import dataclasses
import warnings

import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn

CALLS = 5


def _inputs():
    return [tc.tensor(np.arange(1, 4, dtype=np.float32) * (k + 1)) for k in range(CALLS)]


def _run(make, state, compiled):
    """[(output, state after the call)] of CALLS calls of the function make() returns
    (with the object it works on), compiled or not."""
    fn, obj = make()
    f = tc.compile(fn) if compiled else fn
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # a graph break's warning
        for x in _inputs():
            out.append((f(x).numpy().copy(), state(obj)))
    return out, f


def _same(make, state, max_compiles=None):
    expected, _ = _run(make, state, False)
    got, f = _run(make, state, True)
    for k, ((want, want_state), (have, have_state)) in enumerate(zip(expected, got)):
        np.testing.assert_allclose(have, want, rtol=1e-6,
                                   err_msg=f"call {k}: tracecomp={have} | eager={want}")
        assert have_state == want_state, \
            f"call {k}: state tracecomp={have_state!r} | eager={want_state!r}"
    if max_compiles is not None:
        assert f.compiles <= max_compiles, f"compiled {f.compiles} times in {CALLS} calls"


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self):
        self.n += 1


class Runs:
    n = 0       # a class default that `self.n += 1` then sets on the object

    def bump(self):
        self.n += 1


class Slotted:
    __slots__ = ("n", "log", "last")

    def __init__(self):
        self.n, self.log, self.last = 0, [], None


@dataclasses.dataclass
class Config:
    n: int = 0
    scale: float = 1.0


class Holder:
    def __init__(self, inner):
        self.inner = inner


def _closure(obj, body):
    return (lambda x: body(obj, x)), obj


def _total(t):
    return None if t is None else float(t.sum().item())


def _store_and_read(o, x):
    o.n = o.n + 1
    return x * o.n


def _through_method(o, x):
    o.bump()
    return x * 2


def _dataclass(o, x):
    o.n += 1
    o.scale = o.scale * 0.5
    return x * o.scale


def _slot_counter(o, x):
    o.n += 1
    return x + o.n


def _slot_log(o, x):
    o.log.append((x * 2).sum().item())
    return x + 1


def _slot_tensor(o, x):
    o.last = x * 3
    return x + 1


@pytest.mark.parametrize("make, state", [
    (lambda: _closure(Counter(), _store_and_read), lambda o: o.n),
    (lambda: _closure(Counter(), _through_method), lambda o: o.n),
    (lambda: _closure(Config(), _dataclass), lambda o: (o.n, o.scale)),
], ids=["store_and_read", "method", "dataclass"])
def test_a_counter_in_a_closure_moves_every_call_and_compiles_twice_at_most(make, state):
    # the trace sees the store, feeds the number from then on (outside_numbers.py)
    _same(make, state, max_compiles=2)


def test_a_class_default_the_code_sets_on_the_object_moves_every_call():
    # `n = 0` on the class, `self.n += 1`: read from the class while traced (before: the
    # trace's 1 stored after every call, n stuck at 1)
    _same(lambda: _closure(Runs(), _through_method), lambda o: o.n, max_compiles=2)


def test_a_class_default_on_a_module_moves_every_call():
    class Net(nn.Module):
        calls = 0

        def forward(self, x):
            self.calls += 1
            return x * self.calls
    _same(lambda: _closure(Net(), lambda m, x: m(x)), lambda m: m.calls, max_compiles=2)


@pytest.mark.parametrize("body, state", [
    (_slot_counter, lambda o: o.n),
    (_slot_log, lambda o: list(o.log)),
    (_slot_tensor, lambda o: _total(o.last)),
], ids=["counter", "appended_item", "tensor"])
def test_an_object_with_slots(body, state):
    # a slot's store is a graph break (nothing compares slots before and after); a list
    # held in a slot is watched as one in a __dict__ (before: the trace's TracedNumber or
    # graph tensor stayed in the object, its counter moved once)
    _same(lambda: _closure(Slotted(), body), state)


def test_a_trainer_step_keeps_its_count_losses_and_last_loss():
    class Trainer:
        def __init__(self):
            self.step, self.losses, self.last = 0, [], None

        def train_step(self, x):
            y = (x * 2).sum()
            self.step += 1
            self.losses.append(y.item())
            self.last = y
            return x * y
    t = Trainer()

    def state(o):
        return o.step, list(o.losses), _total(o.last)
    # the appended list is not guarded (before: compiled again on every call); the first
    # stored tensor is read on the next call's trace: two compiles
    expected, got = Trainer(), t
    f = tc.compile(got.train_step)
    for x in _inputs():
        np.testing.assert_allclose(f(x).numpy(), expected.train_step(x).numpy(), rtol=1e-6)
        assert state(got) == state(expected)
    assert f.compiles <= 2, f.compiles


def test_a_counter_deep_inside_what_the_code_names_is_a_graph_break():
    # four attributes down: KeptWatch does not look there (before: moved once)
    def make():
        return _closure(Holder(Holder(Holder(Counter()))),
                        lambda o, x: (o.inner.inner.inner.bump(), x * 2)[1])
    _same(make, lambda o: o.inner.inner.inner.n)


def test_a_nested_config_counter_through_self():
    class Trainer:
        def __init__(self):
            self.cfg = Holder(Counter())

        def step(self, x):
            self.cfg.inner.n += 1
            return x * self.cfg.inner.n
    _same(lambda: ((t := Trainer()).step, t), lambda t: t.cfg.inner.n, max_compiles=2)


def test_an_object_the_code_makes_and_stores_is_a_graph_break():
    # a new list every eager call: no call could store the trace's one again (before: the
    # trace's list kept for good, history stuck at one entry)
    def body(o, x):
        o.history = o.history + [o.n]
        o.n += 1
        return x + 1

    def make():
        c = Counter()
        c.history = []
        return _closure(c, body)
    _same(make, lambda o: (o.n, list(o.history)))


def test_an_attribute_bound_to_another_object_compiles_again():
    # the guards hold the attributes of the object traced: another object where the code
    # found it is another graph (before: its scale ignored, the old object's counter moved)
    holder = Holder(Config(scale=1.0))

    def fn(x):
        holder.inner.n += 1
        return x * holder.inner.scale
    f = tc.compile(fn)
    x = tc.ones(2)
    f(x)
    old = holder.inner
    holder.inner = Config(scale=3.0)
    np.testing.assert_allclose(f(x).numpy(), [3.0, 3.0])
    np.testing.assert_allclose(f(x).numpy(), [3.0, 3.0])
    assert (old.n, holder.inner.n) == (1, 2)


CFG = Config(scale=1.0)


def test_a_global_bound_to_another_object_compiles_again():
    global CFG

    def fn(x):
        CFG.n += 1
        return x * CFG.scale
    f = tc.compile(fn)
    x = tc.ones(2)
    f(x)
    old = CFG
    CFG = Config(scale=2.0)
    try:
        np.testing.assert_allclose(f(x).numpy(), [2.0, 2.0])
        np.testing.assert_allclose(f(x).numpy(), [2.0, 2.0])
        assert (old.n, CFG.n) == (1, 2)
    finally:
        CFG = Config(scale=1.0)
