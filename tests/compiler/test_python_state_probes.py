"""Python-side state a compiled function reads or changes, called several times with
changing inputs and state: every call must give eager's numbers (and leave the state as
eager leaves it), or the trace is refused (a graph break, a TraceError under
fullgraph=True); never a graph that silently holds the trace's value.

Probed (each compiled function, nn.Module forward or training step run 3+ times beside the
same code run eagerly): Python's random module, random.choice, a random.Random in a closure,
an argument or a module attribute; time.perf_counter; os.environ[k], os.environ.get,
os.getenv; global and nonlocal counters; appending to an outside list; a dict or list
changed by the caller or by the code; a module's int/float/bool/str attributes; float and
int arguments; len() of a list the caller grows; iterating a set the caller grows;
itertools.count, a generator or a list iterator advanced by the code; id()/hash() of a
tensor; a closure variable rebound; a default mutable argument; a class attribute changed
by the caller or by the code; torch.get_rng_state / set_rng_state inside the code;
.item() and .tolist() driven control flow; numpy arrays read (from_numpy, tensor()) and
written in place.

The cases here are those that gave a wrong number silently before their fix:
  - a random.Random the code reaches draws once, at the trace: refused (outside_streams.py);
  - get_rng_state / set_rng_state inside compiled code ran once, at the trace: refused as
    manual_seed is (generator.py);
  - next() on an iterator from outside (itertools.count, a generator, iter(list)) gave the
    trace's item every call: refused before the trace runs, so no item is used up;
  - a set or frozenset the code iterates or tests, changed by the caller (a module's
    attribute too), was not guarded (frozen_values.frozen, Guards);
  - a class attribute (`Config.scale`, `self.scale` held by the class) changed by the
    caller was not guarded; one the code changes itself (`Model.calls += 1`) is refused
    (value_reads.class_reads, ReadWatch.check_classes);
  - an environment variable the code read was not guarded (environ_reads.py);
  - a numpy array the code writes into was written once, at the trace: refused, and the
    array put back (outside_streams.py);
  - time.perf_counter() (time.time, ...) read inside held the trace's time: refused, as
    torch.compile graph-breaks there (clock_reads.py); reached by a name bound before
    (`from time import perf_counter`, an alias in a closure) or through datetime
    (`datetime.now()`, `date.today()`) it was not seen;
  - a global read by a helper of a helper the function calls was not guarded (helpers
    were followed one level: code_names.helpers);
  - numpy arrays whose numbers the code reads: test_python_state_arrays.py;
  - containers that grow or are long: test_python_state_containers.py.
"""
import datetime as _datetime_module
import itertools
import os
import random
import time
import time as _time_module
from datetime import date, datetime
from time import perf_counter
from time import time as time_of_day

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.errors import TraceError

X = np.arange(4, dtype=np.float32)


def _run(make, calls=4, compiled=True, fullgraph=False):
    """The outputs of `calls` calls of the function make(wrap) builds, wrapped compiled or
    not; make returns (call(i), state()) so each run starts from fresh state."""
    wrap = (lambda f: tc.compile(f, fullgraph=fullgraph)) if compiled else (lambda f: f)
    call, state = make(wrap)
    outs = [call(i).detach().numpy().copy() for i in range(calls)]
    return outs, state()


def _agrees(make, calls=4):
    """Compiled and eager give the same outputs and leave the same state."""
    want, want_state = _run(make, calls, compiled=False)
    got, got_state = _run(make, calls)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, err_msg=f"call {k}")
    np.testing.assert_equal(got_state, want_state)


def _refused(make, match):
    """Under fullgraph=True the trace is refused with a TraceError matching `match`."""
    with pytest.raises(TraceError, match=match):
        _run(make, 1, fullgraph=True)


def _random_instance(wrap):
    rng = random.Random(0)
    f = wrap(lambda x: x + rng.random())
    return (lambda i: f(tc.tensor(X + i))), rng.random


class _RandomModule(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.rng = random.Random(1)

    def forward(self, x):
        return x * self.rng.random()


def _random_module(wrap):
    m = _RandomModule()
    f = wrap(m)
    return (lambda i: f(tc.tensor(X + i))), m.rng.random


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("make", [_random_instance, _random_module])
def test_a_python_random_instance_the_code_reaches_draws_anew_each_call(make):
    _agrees(make)
    _refused(make, "random numbers from a Random")


def _rng_state(wrap):
    tc.manual_seed(0)

    def g(x):
        saved = tc.get_rng_state()
        a = tc.rand(4)
        tc.set_rng_state(saved)
        return x + a - tc.rand(4)       # eagerly x: the same draws twice

    f = wrap(g)
    return (lambda i: f(tc.tensor(X + i))), (lambda: tc.rand(2).numpy())


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
def test_saving_and_restoring_the_rng_state_inside_compiled_code():
    _agrees(_rng_state)
    _refused(_rng_state, r"get_rng_state\(\) was called inside compiled code")


def _count(wrap):
    counter = itertools.count()
    f = wrap(lambda x: x + next(counter))
    return (lambda i: f(tc.tensor(X))), (lambda: next(counter))


def _generator(wrap):
    items = (k * 1.5 for k in range(100))
    f = wrap(lambda x: x + next(items))
    return (lambda i: f(tc.tensor(X))), (lambda: next(items))


def _list_iterator(wrap):
    items = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    f = wrap(lambda x: x + next(items))
    return (lambda i: f(tc.tensor(X))), (lambda: next(items))


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("make", [_count, _generator, _list_iterator])
def test_an_iterator_from_outside_advanced_inside(make):
    """Refused before the trace runs: the state after (the next item) is eager's."""
    _agrees(make)
    _refused(make, "reaches the iterator")


def _bound_next(wrap):
    counter = itertools.count()
    bump = counter.__next__         # the iterator reached through its bound method
    f = wrap(lambda x: x + bump())
    return (lambda i: f(tc.tensor(X))), (lambda: next(counter))


def _bound_draw(wrap):
    draw = np.random.default_rng(0).standard_normal     # a Generator's bound method
    f = wrap(lambda x: x + float(draw()))
    return (lambda i: f(tc.tensor(X))), (lambda: draw())


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("make", [_bound_next, _bound_draw])
def test_a_stream_reached_through_its_bound_method(make):
    """`bump = it.__next__`, `draw = rng.standard_normal`: the stream behind the method is
    refused as the stream itself is (its draws were baked into the graph)."""
    _agrees(make)
    _refused(make, "reaches the iterator|random numbers from a")


def _set(wrap):
    offsets = {3, 1}

    def g(x):
        for v in offsets:
            x = x * 2 + v
        return x

    f = wrap(g)

    def call(i):
        offsets.add(i + 10)
        return f(tc.tensor(X))
    return call, (lambda: sorted(offsets))


class _Tagged(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.ids, self.tags = {1, 2}, frozenset({"a"})

    def forward(self, x):
        for v in self.ids:
            x = x * 2 + v
        return x * (3 if "b" in self.tags else 1)


def _set_attributes(wrap):
    model = _Tagged()
    f = wrap(model)

    def call(i):
        model.ids.add(i + 5)                        # in place
        model.tags = frozenset({"a", "b"} if i % 2 else {"a"})   # rebound
        return f(tc.tensor(X))
    return call, (lambda: sorted(model.ids))


@pytest.mark.parametrize("make", [_set, _set_attributes])
def test_a_set_the_caller_changes_is_guarded(make):
    _agrees(make)


class _Config:
    scale = 1.0


def _class_attribute(wrap):
    _Config.scale = 1.0
    f = wrap(lambda x: x * _Config.scale)

    def call(i):
        _Config.scale = i + 1.5
        return f(tc.tensor(X))
    return call, (lambda: _Config.scale)


class _Scaled(tc.nn.Module):
    scale = 2.0         # a class attribute read through self

    def forward(self, x):
        return x * self.scale


def _class_attribute_through_self(wrap):
    _Scaled.scale = 2.0
    f = wrap(_Scaled())

    def call(i):
        _Scaled.scale = i * 0.5
        return f(tc.tensor(X))
    return call, (lambda: _Scaled.scale)


@pytest.mark.parametrize("make", [_class_attribute, _class_attribute_through_self])
def test_a_class_attribute_the_caller_changes_is_guarded(make):
    _agrees(make)


class _Counted(tc.nn.Module):
    calls = 0

    def forward(self, x):
        _Counted.calls += 1
        return x * _Counted.calls


def _class_counter(wrap):
    _Counted.calls = 0
    f = wrap(_Counted())
    return (lambda i: f(tc.tensor(X))), (lambda: _Counted.calls)


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
def test_a_class_attribute_the_code_moves_is_refused_and_moved_once_a_call():
    _agrees(_class_counter)
    _refused(_class_counter, r"changed the class attribute _Counted.calls \(0 -> 1\)")
    assert _Counted.calls == 0      # the refused trace put it back


def _environ_item(wrap):
    os.environ["TC_PROBE_SCALE"] = "1"
    f = wrap(lambda x: x * float(os.environ["TC_PROBE_SCALE"]))

    def call(i):
        os.environ["TC_PROBE_SCALE"] = str(i + 1)
        return f(tc.tensor(X))
    return call, (lambda: 0)


def _getenv(wrap):
    os.environ.pop("TC_PROBE_FLAG", None)
    f = wrap(lambda x: x * 2 if os.getenv("TC_PROBE_FLAG") == "1" else x)

    def call(i):
        if i % 2:
            os.environ["TC_PROBE_FLAG"] = "1"
        else:
            os.environ.pop("TC_PROBE_FLAG", None)     # unset again: guarded too
        return f(tc.tensor(X))
    return call, (lambda: 0)


@pytest.mark.parametrize("make", [_environ_item, _getenv])
def test_an_environment_variable_the_code_reads_is_guarded(make):
    try:
        _agrees(make)
    finally:
        os.environ.pop("TC_PROBE_SCALE", None)
        os.environ.pop("TC_PROBE_FLAG", None)


def _array_counter(wrap):
    counts = np.zeros(4, dtype=np.float32)

    def g(x):
        counts[:] += 1
        return x + 1
    f = wrap(g)
    return (lambda i: f(tc.tensor(X + i))), counts.copy


def _array_counter_in_a_step(wrap):
    tc.manual_seed(0)
    model = tc.nn.Linear(4, 1)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)
    seen = np.zeros(1)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        seen[0] += 1
        return loss * seen[0]
    f = wrap(step)
    return (lambda i: f(tc.tensor(X + i) / 10)), \
        (lambda: (model.weight.detach().numpy().copy(), seen.copy()))


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("make", [_array_counter, _array_counter_in_a_step])
def test_a_numpy_array_the_code_writes_into(make):
    _agrees(make)
    _refused(make, "wrote into the numpy array")


def _clock(wrap, read=time.perf_counter):
    f = wrap(lambda x: x * 0 + read())
    times = []

    def call(i):
        before = time.perf_counter()
        out = f(tc.tensor(X))
        times.append((before, time.perf_counter()))
        return out
    return call, (lambda: times)


def _clock_by_module(wrap):         # time.perf_counter() (the module's attribute)
    return _clock(wrap, lambda: time.perf_counter())


def _clock_module_alias(wrap):      # import time as t; t.perf_counter()
    return _clock(wrap, lambda: _time_module.perf_counter())


def _clock_imported(wrap):          # from time import perf_counter; perf_counter()
    return _clock(wrap, lambda: perf_counter())


def _clock_in_a_closure(wrap):      # clock = time.perf_counter, read through a closure
    clock = time.perf_counter
    return _clock(wrap, lambda: clock())


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("make", [_clock_by_module, _clock_module_alias, _clock_imported,
                                  _clock_in_a_closure])
def test_the_clock_read_inside_compiled_code_is_each_calls(make):
    """Each call's value lies within that call (the trace's time held every call did
    not); eager and compiled times differ, so each is checked against its own call. A
    name bound before (`from time import perf_counter`, a closure's alias) was not seen."""
    outs, times = _run(make, 3)
    for out, (before, after) in zip(outs, times):
        slack = 1e-3 + before * 2e-7        # the float32 the tensor holds it in
        assert before - slack <= float(out[0]) <= after + slack
    _refused(make, r"read the clock \(time.perf_counter\(\)\)")


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("read, name", [
    (lambda: datetime.now().microsecond, "datetime.now"),
    (lambda: _datetime_module.datetime.now().microsecond, "datetime.now"),
    (lambda: date.today().day, "date.today"),
    (lambda: time_of_day() % 1000, "time.time"),
    (lambda: _time_module.monotonic_ns() % 1000, "time.monotonic_ns")],
    ids=["datetime.now", "datetime.datetime.now", "date.today", "time-as-name", "t.monotonic_ns"])
def test_a_clock_reached_by_any_name_is_refused(read, name):
    """`from datetime import datetime; datetime.now()`, `from time import time`: refused
    as time.perf_counter() is (they compiled, holding the trace's time every call)."""
    _refused(lambda wrap: _clock(wrap, read), rf"read the clock \({name}\(\)\)")


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
@pytest.mark.parametrize("read, name", [
    (lambda: time.localtime().tm_sec, "time.localtime"),
    (lambda: time.gmtime().tm_sec, "time.gmtime"),
    (lambda: len(time.ctime()), "time.ctime"),
    (lambda: len(time.asctime()), "time.asctime"),
    (lambda: int(time.strftime("%S")), "time.strftime"),
    (lambda: datetime.utcnow().second, "datetime.utcnow")],
    ids=["localtime", "gmtime", "ctime", "asctime", "strftime", "utcnow"])
def test_a_calendar_function_reading_the_clock_is_refused(read, name):
    """time.localtime() and the other calendar functions given no time read the clock:
    they compiled, holding the trace's second (or date) every call."""
    _refused(lambda wrap: _clock(wrap, read), rf"read the clock \({name}\(\)\)")


def test_a_calendar_function_given_its_time_is_not_refused():
    """Given the time (`time.localtime(t)`, `time.strftime(fmt, t)`), they read no clock:
    compiled as constants, as any pure function of constants."""
    f = tc.compile(lambda x: x + time.localtime(0).tm_year + int(
        time.strftime("%Y", time.gmtime(0))), fullgraph=True)
    expected = X + time.localtime(0).tm_year + 1970
    np.testing.assert_array_equal(f(tc.tensor(X)).numpy(), expected.astype(np.float32))


def test_a_clock_read_outside_compiled_code_is_not_refused():
    """The hook sees the user's calls inside the trace only: a clock read before the call,
    and tracecomp's own timings, are not the code's."""
    start = perf_counter()
    f = tc.compile(lambda x: x * 2, fullgraph=True)
    np.testing.assert_array_equal(f(tc.tensor(X)).numpy(), X * 2)
    assert perf_counter() >= start


SCALE = 1.0


def _scaled(x):
    return x * SCALE


def _shifted_and_scaled(x):
    return _scaled(x) + 1


def _helpers_helper(wrap):
    global SCALE
    SCALE = 1.0
    f = wrap(lambda x: _shifted_and_scaled(x))

    def call(i):
        global SCALE
        SCALE = i + 2.0     # rebound each call: the fast path's binding check sees it too
        return f(tc.tensor(X))
    return call, (lambda: SCALE)


def test_a_global_of_a_helpers_helper_is_guarded():
    _agrees(_helpers_helper, calls=5)
