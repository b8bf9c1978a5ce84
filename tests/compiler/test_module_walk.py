"""A compiled call keeps its walk over the modules it reads while nothing they hold changes
(nn/structure.py counts the changes): every way of changing what a module holds must still
reach the next call, which then gives eager's result."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn
from tracecomp.nn import structure


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.register_buffer("shift", tc.ones(2))
        self.scale = tc.tensor(2.0)          # a tensor kept as a plain attribute
        self.padding = [1, 2]                # numbers: the walk is still kept

    def forward(self, x):
        return self.fc(x) * self.scale + self.shift


class WithList(Scaled):
    def __init__(self):
        super().__init__()
        self.extras = []                     # tensors appended later, no setattr

    def forward(self, x):
        out = super().forward(x)
        for t in self.extras:
            out = out + t
        return out


def _replace_weight(m):
    m.fc.weight = nn.Parameter(tc.full((2, 3), 0.5))


def _replace_through_registry(m):
    m.fc._parameters["bias"] = nn.Parameter(tc.tensor([5.0, -5.0]))


def _rebind_buffer(m):
    m.shift = tc.tensor([10.0, 20.0])


def _rebind_attribute(m):
    m.scale = tc.tensor(-1.0)


def _append_to_list(m):
    m.extras.append(tc.tensor([100.0, 0.0]))


def _swap_submodule(m):
    m.fc = nn.Linear(3, 2)


def _delete_and_register(m):
    del m.shift
    m.register_buffer("shift", tc.zeros(2))


CHANGES = [_replace_weight, _replace_through_registry, _rebind_buffer, _rebind_attribute,
           _append_to_list, _swap_submodule, _delete_and_register]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__[1:] for c in CHANGES])
def test_a_change_to_what_a_module_holds_reaches_the_next_call(change):
    tc.manual_seed(0)
    model = WithList() if change is _append_to_list else Scaled()
    compiled = tc.compile(model)
    x = tc.randn(4, 3)
    with tc.no_grad():
        for _ in range(2):      # the second call finds the walk kept
            np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-6)
        change(model)
        np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_train_and_eval_switch_what_a_kept_walk_says():
    tc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    compiled = tc.compile(model)
    x = tc.ones(8, 4)
    with tc.no_grad():
        compiled(x), compiled(x)
        model.eval()
        np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-6)
        model.train()
        assert (compiled(x).numpy() == 0).any()     # dropout is back


def test_the_registries_count_every_kind_of_change():
    m = nn.Linear(2, 2)
    for mutate in (lambda r: r.__setitem__("x", None), lambda r: r.pop("x"),
                   lambda r: r.update(y=None), lambda r: r.setdefault("z", None),
                   lambda r: r.move_to_end("y"), lambda r: r.popitem(),
                   lambda r: r.__delitem__("z"), lambda r: r.clear()):
        before = structure.version()
        mutate(m._buffers)
        assert structure.version() > before, mutate
