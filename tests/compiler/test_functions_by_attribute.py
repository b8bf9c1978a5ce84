"""Functions a compiled function reaches by attribute, not by name (one stored on an
object, on a class, a library function monkeypatched): the Python state they read or
change must be guarded and replayed as a named helper's is, over several calls beside
eager; never a graph that holds what the trace saw.

Before ran_functions.py, the guards and the side-effect replay looked only at the functions
found by name (code_names.traced_functions): a list such a function pops, a global tensor
or number it reads, a list it appends to, were baked into the graph at the trace.
"""
import types
import warnings

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.errors import TraceError

Q = []
LOG = []
W = tc.tensor(2.0)
SCALE = 2.0


class NS:
    pass


class Holder:
    draw = staticmethod(lambda x: Q.pop(0))


class Noise:
    def scaled(self, x):
        return x * SCALE


def _run(compiled, fill, calls=3):
    """[(compiled result, eager result)] over calls, `fill(i)` setting the state first."""
    out = []
    for i in range(calls):
        fill(i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = compiled(tc.ones(2)).numpy().copy()
        out.append(got)
    return out


def _queue(i):
    Q[:] = [tc.tensor(float(i + 1))]


def _check_queue(g):
    eager = []
    for i in range(3):
        _queue(i)
        eager.append(g(tc.ones(2)).numpy().copy())
    got = _run(tc.compile(g), _queue)
    for a, b in zip(got, eager):
        np.testing.assert_allclose(a, b)
    assert [b[0] for b in eager] == [1.0, 2.0, 3.0]


def test_function_on_an_object_attribute_pops_a_global_list():
    ns = NS()
    ns.draw = lambda x: Q.pop(0)
    _check_queue(lambda x: x * ns.draw(x))


def test_function_on_a_class_attribute_pops_a_global_list():
    _check_queue(lambda x: x * Holder.draw(x))


def test_monkeypatched_library_function_pops_a_global_list(monkeypatch):
    monkeypatch.setattr(tc, "randn_like", lambda x: Q.pop(0))
    _check_queue(lambda x: x * tc.randn_like(x))


def test_function_by_attribute_reads_a_global_tensor_the_caller_replaces():
    global W
    ns = NS()
    ns.scale = lambda x: x * W
    f = tc.compile(lambda x: ns.scale(x) + 1)
    for value in (2.0, 3.0, 5.0):
        W = tc.tensor(value)
        np.testing.assert_allclose(f(tc.ones(2)).numpy(), [value + 1] * 2)


def test_method_of_a_plain_object_reads_a_global_number():
    global SCALE
    noise = Noise()
    f = tc.compile(lambda x: noise.scaled(x) + 1)
    for value in (2.0, 3.0, 5.0):
        SCALE = value
        np.testing.assert_allclose(f(tc.ones(2)).numpy(), [value + 1] * 2)


def test_function_by_attribute_appends_to_a_global_list():
    ns = types.SimpleNamespace(log=lambda y: LOG.append(y * 2) or y)
    g = lambda x: ns.log(x + 1)     # noqa: E731
    f = tc.compile(g)
    LOG.clear()
    for i in range(3):
        g(tc.ones(2) * i)
    eager = [t.numpy().copy() for t in LOG]
    LOG.clear()
    for i in range(3):
        f(tc.ones(2) * i)
    assert len(LOG) == 3
    for a, b in zip(LOG, eager):
        np.testing.assert_allclose(a.numpy(), b)


def test_closure_made_by_a_factory_pops_the_list_it_closes_over():
    def make(q):
        return lambda x: q.pop(0)
    ns = NS()
    ns.draw = make(Q)
    ns.other = make([tc.tensor(9.0)] * 4)   # the same code, another closure: not the one run
    _check_queue(lambda x: x * ns.draw(x))


def test_function_by_attribute_counts_in_a_global_as_eager():
    global COUNT
    COUNT = 0

    def bump(x):
        global COUNT
        COUNT += 1
        return x * COUNT

    ns = NS()
    ns.bump = bump
    f = tc.compile(lambda x: ns.bump(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [f(tc.ones(1)).item() for _ in range(3)]
    assert got == [1.0, 2.0, 3.0] and COUNT == 3


def test_function_by_attribute_keeping_a_traced_tensor_in_a_tuple_is_refused():
    log = []
    ns = types.SimpleNamespace(keep=lambda y: log.append((y, 1)) or y)
    f = tc.compile(lambda x: ns.keep(x * 2), fullgraph=True)
    with pytest.raises(TraceError, match="tuple, list or dict holding a tensor"):
        f(tc.ones(2))
    assert log == []        # put back: no traced tensor left behind
