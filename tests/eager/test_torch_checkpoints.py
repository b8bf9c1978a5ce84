"""tracecomp.load of checkpoints torch.save wrote (the FGSM tutorial's pretrained LeNet, any
pretrained state_dict), by torch.load(weights_only=True)'s rules: containers, tensors,
parameters and torch's small values load; a pickled object of any other class, a file
that names os.system, a legacy-format file are refused and run nothing."""
import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import SerializationError

from helpers import assert_close


def _models(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))


def test_a_torch_state_dict_loads_into_our_model(tmp_path):
    torch.manual_seed(0)
    theirs = _models(torch)
    theirs(torch.randn(4, 1, 4, 4))         # running statistics that are not the defaults
    path = tmp_path / "model.pth"
    torch.save(theirs.state_dict(), path)
    ours = _models(tc)
    state = tc.load(path, map_location="cpu", weights_only=True)
    assert type(state) is OrderedDict and list(state) == list(theirs.state_dict())
    assert state._metadata == theirs.state_dict()._metadata
    ours.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    theirs.eval()
    ours.eval()
    assert_close(ours(tc.tensor(x)), theirs(torch.tensor(x)).detach())
    assert state["1.num_batches_tracked"].dtype == tc.int64


def test_what_a_checkpoint_may_hold(tmp_path):
    path = tmp_path / "ck.pth"
    base = torch.arange(12.0).view(3, 4)
    torch.save({"epoch": 3, "p": torch.nn.Parameter(torch.ones(2)), "view": base[:, 1:3],
                "strided": torch.arange(9)[::4], "half": torch.ones(2, dtype=torch.float16),
                "empty": torch.zeros(0, 3), "grad": torch.ones(2, requires_grad=True),
                "size": torch.Size([2, 3]), "dtype": torch.float64,
                "device": torch.device("cpu"), "bytes": b"\x00\xff", "nested": [1, (2.5, None)],
                "same": [base, base]}, path)
    got = tc.load(path)
    assert got["epoch"] == 3 and got["nested"] == [1, (2.5, None)] and got["bytes"] == b"\x00\xff"
    assert isinstance(got["p"], tc.nn.Parameter) and got["p"].requires_grad
    assert_close(got["view"], base[:, 1:3])
    assert_close(got["strided"], torch.arange(9)[::4])
    assert got["half"].dtype == tc.float16 and tuple(got["empty"].shape) == (0, 3)
    assert got["grad"].requires_grad and got["grad"].is_leaf
    assert got["size"] == tc.Size([2, 3]) and got["dtype"] == tc.float64
    assert got["device"] == tc.device("cpu")
    assert got["same"][0] is got["same"][1]


def test_a_whole_pickled_model_is_refused_as_torch_refuses_it(tmp_path):
    path = tmp_path / "full.pth"
    torch.save(_models(torch), path)
    with pytest.raises(SerializationError,
                       match="Unsupported global: GLOBAL torch.nn.modules.container.Sequential"
                             ".*state_dict"):
        tc.load(path)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path)    # torch 2.13 itself, by default


class _Runs:
    def __reduce__(self):
        return (os.system, ("touch " + _Runs.marker,))


def test_a_checkpoint_that_names_a_function_runs_nothing(tmp_path):
    _Runs.marker = str(tmp_path / "ran")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"x": _Runs()}, protocol=2))
        z.writestr("evil/byteorder", "little")
    path = tmp_path / "evil.pth"
    path.write_bytes(buf.getvalue())
    with pytest.raises(SerializationError, match="Unsupported global: GLOBAL posix.system"):
        tc.load(path)
    assert not os.path.exists(_Runs.marker)


def test_the_legacy_format_says_what_to_do(tmp_path):
    """(Every typed storage torch saves now loads: bfloat16's in tests/bfloat16, complex
    ones in tests/complex.)"""
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(SerializationError, match="legacy format"):
        tc.load(legacy)


def test_a_cuda_checkpoint_maps_to_the_cpu_as_torch_says(tmp_path, monkeypatch):
    """A storage saved on cuda:0: torch's error without a GPU, the CPU with map_location"""
    path = tmp_path / "cuda.pth"
    torch.save({"w": torch.arange(3.0)}, path)
    raw = io.BytesIO(path.read_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            dst.writestr(name, data)
    path.write_bytes(out.getvalue())
    monkeypatch.setattr(tc.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="map_location=torch.device\\('cpu'\\)"):
        tc.load(path)
    assert_close(tc.load(path, map_location="cpu")["w"], torch.arange(3.0))
    assert_close(tc.load(path, map_location={"cuda:0": "cpu"})["w"], torch.arange(3.0))


def test_a_torch_compiled_models_checkpoint_loads_into_our_compiled_model(tmp_path):
    """torch.compile(model).state_dict() names `_orig_mod.0.weight`, and so does ours; a
    checkpoint of the plain model loads into the compiled one too"""
    theirs = torch.compile(_models(torch))
    path = tmp_path / "compiled.pth"
    torch.save(theirs.state_dict(), path)
    ours = tc.compile(_models(tc))
    assert str(ours.load_state_dict(tc.load(path))) == "<All keys matched successfully>"
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p, q.detach(), what=name)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    plain = tc.compile(_models(tc))
    assert str(plain.load_state_dict(ours._orig_mod.state_dict())) == \
        "<All keys matched successfully>"
