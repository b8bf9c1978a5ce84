"""numpy arrays whose numbers compiled code reads as constants (`float(w[0])`, a lookup
table's `float(TABLE[i])`), changed in place by the caller between calls: every call must
give eager's numbers (test_python_state_probes.py's harness).

  - an argument was keyed by identity: one of at most signature.ARRAY_BYTES is keyed by its
    numbers (signature.static_value, array_key), a larger one is refused;
  - one the code names (closure, global, module attribute) was not guarded: one of at most
    ARRAY_BYTES is, by its numbers (frozen_values.frozen), a larger one the code reads is
    refused (frozen_values.refuse_large_array): a graph break, so each call runs eagerly.
"""
import numpy as np
import pytest
from test_python_state_probes import X, _agrees, _refused

import tracecomp as tc


def _array_argument(wrap):
    weights = np.ones(4, dtype=np.float32)
    f = wrap(lambda x, w: x * float(w[0]))

    def call(i):
        weights[0] = i + 2      # in place: the same array object each call
        return f(tc.tensor(X), weights)
    return call, weights.copy


def test_a_small_numpy_array_argument_is_keyed_by_its_numbers(caplog, monkeypatch):
    _agrees(_array_argument)
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    f = tc.compile(lambda x, w: x * float(w[0]))
    with caplog.at_level("DEBUG"):
        f(tc.tensor(X), np.array([1.0, 2.0]))
        f(tc.tensor(X), np.array([3.0, 2.0]))
    assert "argument w: array([1.0, 2.0]) -> array([3.0, 2.0])" in caplog.text


def _large_array_argument(wrap):
    table = np.ones(500, dtype=np.float32)
    f = wrap(lambda x, t: x * float(t[100]))

    def call(i):
        table[100] = i + 2      # in place: the same array object each call
        return f(tc.tensor(X), table)
    return call, table.copy


def test_a_numpy_array_argument_over_max_items_is_keyed_by_its_numbers():
    _agrees(_large_array_argument)


def _array_in_closure(wrap):
    weights = np.ones(2, dtype=np.float32)
    f = wrap(lambda x: x * float(weights[1]))

    def call(i):
        weights[1] = i + 2
        return f(tc.tensor(X))
    return call, weights.copy


class _Masked(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)

    def forward(self, x):
        return x * float(self.mask.sum())


def _array_attribute(wrap):
    model = _Masked()
    f = wrap(model)

    def call(i):
        model.mask[i % 4] = 5.0     # in place: Module.__setattr__ does not see it
        return f(tc.tensor(X))
    return call, model.mask.copy


@pytest.mark.parametrize("make", [_array_in_closure, _array_attribute])
def test_a_small_numpy_array_the_code_reads_is_guarded_by_its_numbers(make):
    _agrees(make)


TABLE = np.arange(1000, dtype=np.float64)


def _large_array_global(wrap):
    """A lookup table of more than frozen_values.MAX_ITEMS numbers, read as a number: it was
    not guarded, so its first value held every call."""
    TABLE[:] = np.arange(1000)
    f = wrap(lambda x: x + float(TABLE[3]))

    def call(i):
        TABLE[3] = 100.0 * i
        return f(tc.tensor(X))
    return call, TABLE.copy


def _large_array_in_closure(wrap):
    table = np.zeros(200, dtype=np.float32)
    f = wrap(lambda x: x * table[150])

    def call(i):
        table[150] = i + 2
        return f(tc.tensor(X))
    return call, table.copy


class _Tabled(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.table = np.ones((10, 10), dtype=np.float32)

    def forward(self, x):
        return x * float(self.table[7, 7])


def _large_array_attribute(wrap):
    model = _Tabled()
    f = wrap(model)

    def call(i):
        model.table[7, 7] = i + 3.0
        return f(tc.tensor(X))
    return call, model.table.copy


@pytest.mark.parametrize("make", [_large_array_global, _large_array_in_closure,
                                  _large_array_attribute])
def test_a_numpy_array_over_max_items_the_code_reads_is_guarded_by_its_numbers(make):
    _agrees(make)


HUGE = np.zeros(1 << 21)    # 16 MB: over signature.ARRAY_BYTES


def _huge_array_global(wrap):
    HUGE[:4] = 0
    f = wrap(lambda x: x + float(HUGE[3]))

    def call(i):
        HUGE[3] = i + 1.0
        return f(tc.tensor(X))
    return call, (lambda: HUGE[:4].copy())


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
def test_a_numpy_array_too_large_to_compare_is_refused():
    """Over ARRAY_BYTES a guard would cost more than most calls: refused (a graph break,
    so each call runs eagerly and agrees)."""
    _refused(_huge_array_global, r"reads the numpy array HUGE \(16777216 bytes")
    _agrees(_huge_array_global)


def _huge_array_argument(wrap):
    table = np.zeros(1 << 21)
    f = wrap(lambda x, t: x + float(t[3]))

    def call(i):
        table[3] = i + 1.0      # in place: the same array object each call
        return f(tc.tensor(X), table)
    return call, (lambda: table[:4].copy())


@pytest.mark.filterwarnings("ignore:tracecomp.compile")
def test_a_numpy_array_argument_too_large_to_compare_is_refused():
    """Keyed by identity, its change in place ran the graph holding the trace's numbers."""
    _refused(_huge_array_argument, r"reads the numpy array argument t \(16777216 bytes")
    _agrees(_huge_array_argument)
