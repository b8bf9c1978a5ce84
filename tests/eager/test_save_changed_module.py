"""`tracecomp.save(model)` of a model changed after its constructor returned (the
finetuning pattern: `net.fc = nn.Linear(8, 100)`, `vgg.classifier[6] = ...`) loads with
the changes, as torch.load(weights_only=False) of torch's pickle does: each case builds,
changes, saves and loads the same model in both libraries and compares the loaded
structure with torch's and the loaded outputs with the saved model's. Before, loading
rebuilt the constructor's layers and stopped on a size mismatch naming a model the user
never made."""
import copy
import io

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _define(lib):
    """Net, Stack and Wrapper for lib, at module level (both loaders find classes there)."""
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width))
            self.fc = nn.Linear(width, 1000)

        def forward(self, x):
            return self.fc(self.body(x))

    class Stack(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.layers = nn.ModuleList()
            for _ in range(n):          # appended inside the constructor: not a change
                self.layers.append(nn.Linear(4, 4))
            self.head = nn.Linear(4, 4, bias=False)
            self.head.weight = self.layers[0].weight        # tied

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).tanh()
            return self.head(x)

    class Wrapper(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) * 2

    suffix = lib.__name__.split(".")[0]
    for cls in (Net, Stack, Wrapper):
        cls.__qualname__ = f"{cls.__name__}_{suffix}"
        globals()[cls.__qualname__] = cls
    return Net, Stack, Wrapper


CLASSES = {torch: _define(torch), tc: _define(tc)}


def _replace_the_head(lib, Net, Stack, Wrapper):
    net = Net()
    net.fc = lib.nn.Linear(8, 100)
    return net


def _replace_in_a_sequential(lib, Net, Stack, Wrapper):
    net = Net(width=6)
    net.body[2] = lib.nn.Linear(6, 8)
    net.fc = lib.nn.Sequential(lib.nn.Dropout(0.0), lib.nn.Linear(8, 3))
    return net


def _delete_and_append(lib, Net, Stack, Wrapper):
    stack = Stack(3)
    del stack.layers[0]
    stack.layers.append(lib.nn.Linear(4, 4))
    stack.layers.insert(0, lib.nn.Identity())
    return stack


def _delete_a_child(lib, Net, Stack, Wrapper):
    net = Net()
    del net.fc
    net.fc = lib.nn.Identity()
    return net


def _same_module_twice(lib, Net, Stack, Wrapper):
    net = Net()
    shared = lib.nn.Linear(8, 8)
    net.body[2] = shared
    net.body.append(shared)
    return net


def _changed_then_wrapped(lib, Net, Stack, Wrapper):
    inner = Net()
    inner.fc = lib.nn.Linear(8, 5)          # changed before the wrapper is built
    outer = Wrapper(inner)
    outer.inner.body[1] = lib.nn.Tanh()     # and after
    return outer


CASES = [_replace_the_head, _replace_in_a_sequential, _delete_and_append, _delete_a_child,
         _same_module_twice, _changed_then_wrapped]


def _round_trip(lib, case, path):
    lib.manual_seed(0)
    model = case(lib, *CLASSES[lib])
    model.eval()
    lib.save(model, path)
    loaded = lib.load(path, weights_only=False) if lib is torch else lib.load(path)
    x = lib.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    with lib.no_grad():
        return model, loaded, model(x), loaded(x)


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[1:] for c in CASES])
def test_changes_after_construction_survive_save_and_load(case, tmp_path):
    _, want, _, _ = _round_trip(torch, case, tmp_path / "torch.pt")
    model, loaded, before, after = _round_trip(tc, case, tmp_path / "tc.pt")
    assert repr(loaded) == repr(want)
    assert list(loaded.state_dict()) == list(want.state_dict())
    assert_close(after, before)


def test_a_module_at_two_paths_stays_one_module():
    model = _same_module_twice(tc, *CLASSES[tc])
    buffer = io.BytesIO()
    tc.save(model, buffer)
    buffer.seek(0)
    loaded = tc.load(buffer)
    assert loaded.body[2] is loaded.body[3]


def test_what_the_constructor_builds_is_no_change(tmp_path):
    """Layers the constructor appends are its own: rebuilt by it, so the weight it ties
    stays tied (were they saved as changes, the loaded layer would be another module)."""
    stack = CLASSES[tc][1](2)
    tc.save(stack, tmp_path / "stack.pt")
    loaded = tc.load(tmp_path / "stack.pt")
    assert loaded.head.weight is loaded.layers[0].weight
    assert_close(loaded.head.weight, stack.head.weight)


def test_a_deep_copy_keeps_its_changes(tmp_path):
    net = _replace_the_head(tc, *CLASSES[tc])
    twin = copy.deepcopy(net)
    tc.save(twin, tmp_path / "twin.pt")
    assert tc.load(tmp_path / "twin.pt").fc.out_features == 100
    plain = copy.deepcopy(CLASSES[tc][0]())
    tc.save(plain, tmp_path / "plain.pt")
    assert tc.load(tmp_path / "plain.pt").fc.out_features == 1000
