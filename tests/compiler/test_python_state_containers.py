"""Python containers a compiled function reads, changed between calls (by the caller or by
the code's own appends): every call must give eager's numbers and leave the containers as
eager leaves them. Each case gave a wrong number silently before its fix:
  - len() of a list or dict of nothing but tensors or objects, a list the code appends to
    and reads (`len(log)`, `log[-1]`), and a list, dict or set of more than 64 items
    (frozen_values.MAX_ITEMS) were not guarded: held whole now (frozen_values.Whole);
  - a list the code only appends to is still not guarded, so its growth compiles nothing
    again (code_names.read_names).
The harness (_agrees: compiled against eager over several calls) is
test_python_state_probes.py's.
"""
import numpy as np
import pytest
from test_python_state_probes import X, _agrees

import tracecomp as tc


def _tensors_the_caller_adds(wrap):
    parts = [tc.ones(4)]
    f = wrap(lambda x: x * len(parts))

    def call(i):
        parts.append(tc.ones(4))    # nothing but tensors: the list was not guarded
        return f(tc.tensor(X))
    return call, (lambda: len(parts))


def _objects_in_a_dict(wrap):
    seen = {"a": object()}
    f = wrap(lambda x: x + len(seen))

    def call(i):
        seen[i] = object()
        return f(tc.tensor(X))
    return call, (lambda: len(seen))


def _appended_and_read(wrap):
    log = [1.0]

    def g(x):
        y = x * len(log) + log[-1]
        log.append(float(len(log)))     # the code grows it: replayed after each call
        return y
    f = wrap(g)
    return (lambda i: f(tc.tensor(X))), (lambda: list(log))


def _tensors_appended_and_counted(wrap):
    outs = []

    def g(x):
        outs.append(x * 2)
        return x * len(outs)
    f = wrap(g)
    return (lambda i: f(tc.tensor(X + i))), (lambda: len(outs))


class _Recorder(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.outs = []

    def forward(self, x):
        self.outs.append(x + 1)
        return x * len(self.outs)


def _module_appends_and_counts(wrap):
    model = _Recorder()
    f = wrap(model)
    return (lambda i: f(tc.tensor(X + i))), (lambda: len(model.outs))


@pytest.mark.parametrize("make", [_tensors_the_caller_adds, _objects_in_a_dict,
                                  _appended_and_read, _tensors_appended_and_counted,
                                  _module_appends_and_counts])
def test_a_container_that_grows_is_guarded_by_its_length(make):
    """len() of a list or dict of nothing but tensors or objects was not guarded, nor a
    list the code appends to (its stores replayed after each call) and reads too:
    each held the trace's length (or last item) every call."""
    _agrees(make)


class _Appender(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.outs = []

    def forward(self, x):
        self.outs.append(x + 1)
        return x * 2


def test_a_list_the_code_only_appends_to_is_not_guarded(caplog, monkeypatch):
    """Appending alone reads nothing of the list (code_names.read_names): no guard, so the
    list growing by the code's own doing compiles nothing again."""
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    log, model = [], _Appender()
    f, m = tc.compile(lambda x: log.append(x.sum()) or x * 3), tc.compile(model)
    with caplog.at_level("DEBUG"):
        for i in range(4):
            f(tc.tensor(X + i))
            m(tc.tensor(X + i))
    assert len(log) == len(model.outs) == 4
    assert caplog.text.count("<lambda> (llvm)") == 1, caplog.text
    assert "attribute outs" not in caplog.text, caplog.text


def _long_list(wrap):
    weights = [float(k) for k in range(100)]
    f = wrap(lambda x: x * weights[70] + sum(weights))

    def call(i):
        weights[70] = i + 0.5       # in place, one item past the first 64
        return f(tc.tensor(X))
    return call, (lambda: list(weights))


def _long_dict(wrap):
    table = {k: float(k) for k in range(100)}
    f = wrap(lambda x: x * table[90])

    def call(i):
        table[90] = i * 2.0
        return f(tc.tensor(X))
    return call, (lambda: dict(table))


def _long_set(wrap):
    ids = set(range(100))
    f = wrap(lambda x: x + len(ids))

    def call(i):
        ids.add(1000 + i)
        return f(tc.tensor(X))
    return call, (lambda: len(ids))


def _long_list_of_pairs(wrap):
    bounds = [[0.0, 1.0] for _ in range(80)]
    f = wrap(lambda x: x.clamp(bounds[75][0], bounds[75][1]))

    def call(i):
        bounds[75][1] = i + 2.0     # inside an item: the list's items are the same
        return f(tc.tensor(X))
    return call, (lambda: bounds[75])


class _Weighted(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = [1.0] * 100

    def forward(self, x):
        return x * self.weights[99]


def _long_attribute(wrap):
    model = _Weighted()
    f = wrap(model)

    def call(i):
        model.weights[99] = i + 3.0
        return f(tc.tensor(X))
    return call, (lambda: list(model.weights))


@pytest.mark.parametrize("make", [_long_list, _long_dict, _long_set, _long_list_of_pairs,
                                  _long_attribute])
def test_a_container_of_more_than_64_items_is_guarded(make):
    """Past frozen_values.MAX_ITEMS items a list, dict or set was not guarded at all: a
    change of one item was ignored. It is held whole (frozen_values.Whole)."""
    _agrees(make)


def test_a_long_list_unchanged_compiles_once(caplog, monkeypatch):
    """A list of 1000 numbers rebuilt with the same values (new float objects) keeps its
    graph: the items compare by value once their identities differ."""
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    holder = {"w": [k * 0.5 for k in range(1000)]}
    f = tc.compile(lambda x: x * holder["w"][999])
    with caplog.at_level("DEBUG"):
        for _ in range(3):
            holder["w"] = [float(k) * 0.5 for k in range(1000)]
            np.testing.assert_allclose(f(tc.tensor(X)).numpy(), X * 499.5)
    assert caplog.text.count("compiling") == 1, caplog.text
