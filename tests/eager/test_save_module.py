"""`tracecomp.save(model)` / `tracecomp.load(path)` of whole modules, the way torch programs
save checkpoints (`torch.save(model, "model.pt")`), without pickle: the class, its
constructor arguments and its state_dict are stored; loading rebuilds the model from a
class the program already has, and never imports anything a file names."""
import io
import sys
import types

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn as nn
from tracecomp.errors import SerializationError

from helpers import assert_close


class Net(nn.Module):
    def __init__(self, n_in, hidden=8, *, act="relu"):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, 2)
        self.act = act

    def forward(self, x):
        h = self.bn(self.fc1(x))
        return self.fc2(h.relu() if self.act == "relu" else h.tanh())


class Wrapper(nn.Module):
    def __init__(self, inner, scale=2.0):
        super().__init__()
        self.inner, self.scale = inner, scale

    def forward(self, x):
        return self.inner(x) * self.scale


def test_whole_model_round_trips_with_weights_buffers_and_mode(tmp_path):
    model = Net(5, hidden=6, act="tanh")
    model(tc.randn(4, 5))                    # running statistics move
    model.eval()
    tc.save(model, tmp_path / "model.pt")
    loaded = tc.load(tmp_path / "model.pt")
    assert type(loaded) is Net and loaded is not model
    assert loaded.act == "tanh" and loaded.fc1.out_features == 6
    assert not loaded.training and not loaded.bn.training
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        assert_close(b, a, what=k)
    x = tc.randn(3, 5)
    assert_close(loaded(x), model(x))


def test_modules_as_constructor_arguments_and_in_containers(tmp_path):
    model = Wrapper(Net(3), scale=0.5)
    path = tmp_path / "ckpt.pt"
    tc.save({"model": model, "epoch": 3, "layers": nn.Sequential(nn.Linear(2, 2), nn.ReLU())},
            path)
    ckpt = tc.load(path)
    assert ckpt["epoch"] == 3 and isinstance(ckpt["layers"][1], nn.ReLU)
    assert ckpt["model"].scale == 0.5
    x = tc.randn(2, 3)
    model.eval()
    ckpt["model"].eval()
    assert_close(ckpt["model"](x), model(x))
    assert_close(ckpt["layers"][0].weight, dict(ckpt["layers"].named_parameters())["0.weight"])


def test_loading_never_imports_a_module_the_file_names(tmp_path):
    name = "tracecomp_test_not_imported_yet"
    holder = types.ModuleType(name)

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(tc.ones(2))

    Plain.__module__, Plain.__qualname__ = name, "Plain"
    holder.Plain = Plain
    sys.modules[name] = holder
    path = tmp_path / "m.pt"
    try:
        tc.save(Plain(), path)
    finally:
        del sys.modules[name]
    with pytest.raises(SerializationError, match="is not imported"):
        tc.load(path)
    sys.modules[name] = holder
    try:
        assert np.array_equal(tc.load(path).w.detach().numpy(), [1, 1])
    finally:
        del sys.modules[name]


def test_a_non_module_class_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    tc.save(Net(2), path)
    data = bytearray(path.read_bytes())
    # forge the class path to name a callable that is not a module class; the checksum must
    # be recomputed for the loader to get as far as the header
    import hashlib
    forged = data[:-32].replace(b"test_save_module:Net", b"builtins:print\x20\x20\x20\x20\x20\x20")
    path.write_bytes(bytes(forged) + hashlib.sha256(bytes(forged)).digest())
    with pytest.raises(SerializationError, match="not an nn.Module class"):
        tc.load(path)


def test_unsavable_constructor_argument_is_named(tmp_path):
    model = Wrapper(Net(2), scale=lambda x: x)
    with pytest.raises(SerializationError, match="constructor arguments.*state_dict"):
        tc.save(model, tmp_path / "m.pt")


def test_class_defined_in_a_function_is_refused_clearly(tmp_path):
    class Local(nn.Module):
        pass

    with pytest.raises(SerializationError, match="defined inside a function"):
        tc.save(Local(), tmp_path / "m.pt")


def test_safe_globals_allow_list_is_kept_and_loading_stays_safe(tmp_path):
    path = tmp_path / "m.pt"
    tc.save(Net(3), path)
    before = tc.serialization.get_safe_globals()
    with tc.serialization.safe_globals([Net, nn.Linear]):
        assert tc.serialization.get_safe_globals()[-2:] == [Net, nn.Linear]
        model = tc.load(path)
    assert tc.serialization.get_safe_globals() == before
    assert isinstance(model, Net)


def test_a_compiled_module_keeps_its_compile_options_through_save_and_load():
    for backend, fullgraph in ((None, False), ("interp", True)):     # None: by device
        model = tc.compile(nn.Linear(3, 2), backend=backend, recompile_limit=5, cache_size=3,
                           fullgraph=fullgraph)
        buf = io.BytesIO()
        tc.save(model, buf)
        buf.seek(0)
        loaded = tc.load(buf, weights_only=False)
        fn = loaded._compiled
        assert (fn.backend, fn.fallback, fn.recompile_limit, fn.cache.size, fn.fullgraph) == \
            (backend, None, 5, 3, fullgraph)
        x = tc.randn(4, 3)
        assert np.array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())


class _Configured(tc.nn.Module):
    """A model built from an argparse config (pytorch/examples' snli: torch.save(model))."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.proj = tc.nn.Linear(config.d_in, config.d_out)


def test_a_module_built_from_a_namespace_saves_and_loads(tmp_path):
    import argparse
    model = _Configured(argparse.Namespace(d_in=3, d_out=2, name="snli", sizes=[1, 2]))
    extra = types.SimpleNamespace(step=7, scale=tc.ones(2))
    tc.save({"model": model, "extra": extra}, tmp_path / "m.pt")
    back = tc.load(tmp_path / "m.pt")
    assert back["model"].config == model.config
    assert type(back["model"].config) is argparse.Namespace
    np.testing.assert_array_equal(back["model"].proj.weight.detach().numpy(),
                                  model.proj.weight.detach().numpy())
    assert back["extra"].step == 7 and back["extra"].scale.tolist() == [1.0, 1.0]
