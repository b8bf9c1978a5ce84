"""A compiled call's result objects (compiler/result_objects.py): an object whose class
keeps its attributes in __slots__ (its own and its bases', name-mangled ones too) comes back
rebuilt with the computed tensors, as a __dict__ object does; a result that holds computed
tensors where they cannot be taken apart (a callable object) refuses the trace, a graph
break, and the call gives eager's values. Before, both handed the caller the trace's
stand-ins, tensors without values. A module returned whole stays compiled: its stand-ins
are its parameters and the attributes the call writes, which hold values after the call."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import TraceError


class Pair:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


class Labelled(Pair):
    __slots__ = ("__tag",)      # name-mangled: _Labelled__tag

    def __init__(self, a, b, tag):
        super().__init__(a, b)
        self.__tag = tag

    def tag(self):
        return self.__tag


class Mixed:
    __slots__ = ("value", "__dict__")

    def __init__(self, value, extra):
        self.value, self.extra = value, extra


def _values(lib, x):
    return x * 2, lib.tanh(x) + 1


@pytest.mark.parametrize("make", [
    lambda a, b, x: Pair(a, b),
    lambda a, b, x: Labelled(a, b, x.sum()),
    lambda a, b, x: Mixed(a, {"b": b}),
], ids=["slots", "inherited-and-mangled", "slots-and-dict"])
def test_a_slots_object_comes_back_with_the_computed_tensors(make):
    f = tc.compile(lambda x: make(*_values(tc, x), x))
    for seed in range(3):       # the first call traces, the next ones run the compiled code
        data = np.random.default_rng(seed).standard_normal((2, 3)).astype(np.float32)
        got = f(tc.tensor(data))
        want = make(*_values(torch, torch.tensor(data)), torch.tensor(data))
        assert type(got) is type(want)
        for name in ("a", "b", "value", "extra", "_Labelled__tag"):
            if not hasattr(want, name):
                continue
            g, w = getattr(got, name), getattr(want, name)
            g, w = (g["b"], w["b"]) if isinstance(w, dict) else (g, w)
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)


class Scaler:
    """A callable result: not taken apart (a function may hold anything)."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, y):
        return y * self.scale


def test_a_callable_result_holding_computed_tensors_breaks_the_graph():
    x = tc.tensor(np.arange(3, dtype=np.float32))
    with pytest.raises(TraceError, match=r"returns an object of type Scaler holding tensors "
                                         r"it computed.*return the tensors"):
        tc.compile(lambda x: Scaler(x * 2), fullgraph=True)(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = tc.compile(lambda x: Scaler(x * 2))(x)
    assert any("graph break" in str(w.message) for w in caught)
    np.testing.assert_array_equal(out.scale.numpy(), [0, 2, 4])


class ReturnsItself(tc.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = tc.nn.Linear(3, 3)

    def forward(self, x):
        self.cache = x * 2
        return self.lin(x), self


def test_a_module_returned_whole_keeps_its_parameters_and_written_attributes():
    """No graph break: its parameters are its own and the attribute it writes is replayed
    with the computed value after each call."""
    model = ReturnsItself()
    compiled = tc.compile(model, fullgraph=True)
    for k in range(3):
        x = tc.tensor(np.full((2, 3), k, dtype=np.float32))
        y, same = compiled(x)
        assert same is model
        np.testing.assert_array_equal(same.cache.numpy(), 2 * x.numpy())
        np.testing.assert_allclose(y.detach().numpy(), model.lin(x).detach().numpy(), rtol=1e-6)
