"""tracecomp.save / tracecomp.load: exact round trips of state dicts and optimizer states, and
rejection (SerializationError, never unpickling) of corrupt, truncated and hostile files."""
import hashlib
import io
import json
import math
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp import serialization as ser
from tracecomp.errors import SerializationError


def _round_trip(obj):
    buf = io.BytesIO()
    tc.save(obj, buf)
    buf.seek(0)
    return tc.load(buf)


def _assert_same(got, want, path="obj"):
    """Same types (OrderedDict, tuple, int keys...), dtypes, shapes and bits."""
    assert type(got) is type(want), f"{path}: loaded={type(got)} | saved={type(want)}"
    if isinstance(want, tc.Tensor):
        assert got.dtype == want.dtype and got.shape == want.shape, path
        assert got.requires_grad == want.requires_grad, path
        g, w = got.detach().numpy(), want.detach().numpy()
        np.testing.assert_array_equal(g, w, err_msg=path)
        assert g.tobytes() == np.ascontiguousarray(w).tobytes(), path
    elif isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), path
    elif isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)} | {list(want)}"
        for (kg, vg), (kw, vw) in zip(got.items(), want.items()):
            assert type(kg) is type(kw), f"{path}: key {kw!r} type {type(kg)} | {type(kw)}"
            _assert_same(vg, vw, f"{path}[{kw!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), path
    else:
        assert got == want and repr(got) == repr(want), f"{path}: {got!r} | {want!r}"


# --- round trips -------------------------------------------------------------------------
def _all_dtypes_state():
    rng = np.random.default_rng(0)
    sd = OrderedDict()
    for name in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8"):
        sd[f"w_{name}"] = tc.from_numpy((rng.standard_normal((3, 4)) * 50).astype(name))
    sd["mask"] = tc.tensor([True, False, True])
    sd["num_batches_tracked"] = tc.tensor(7)             # 0-d int64, as BatchNorm's
    sd["scale"] = tc.tensor(0.25)                         # 0-d float32
    sd["empty"] = tc.zeros(0, 5)
    sd["transposed"] = tc.arange(6.0).reshape(2, 3).t()   # non-contiguous
    sd["special"] = tc.tensor([float("nan"), float("inf"), -0.0, 1e-45])
    return sd


def test_state_dict_of_all_dtypes_round_trips_exactly():
    sd = _all_dtypes_state()
    _assert_same(_round_trip(sd), sd)


def test_module_state_dict_round_trip_and_load(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    model(tc.randn(5, 4))                                 # moves running stats
    path = tmp_path / "model.tc"
    tc.save(model.state_dict(), path)
    loaded = tc.load(str(path))
    _assert_same(loaded, model.state_dict())
    assert loaded._metadata == model.state_dict()._metadata
    fresh = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    fresh.load_state_dict(loaded)
    model.eval()
    fresh.eval()
    x = tc.randn(2, 4)
    assert fresh(x).tolist() == model(x).tolist()


def test_optimizer_state_dict_round_trip_and_resume():
    def make():
        tc.manual_seed(0)
        model = nn.Linear(3, 2)
        return model, tc.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))

    def step(model, opt):
        opt.zero_grad()
        model(tc.ones(4, 3)).square().sum().backward()
        opt.step()

    model, opt = make()
    step(model, opt)
    state = opt.state_dict()
    loaded = _round_trip({"model": model.state_dict(), "optim": state})
    _assert_same(loaded["optim"], state)
    assert list(loaded["optim"]["state"]) == [0, 1]      # int keys stay int
    model2, opt2 = make()
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optim"])
    step(model, opt)
    step(model2, opt2)
    assert model2.weight.tolist() == model.weight.tolist()


def test_python_values_and_nested_containers():
    obj = {1: "one", -2: [None, True, False, 2 ** 70, -0.0, float("inf"), float("nan"), 0.1],
           "t": (1, (2.5, "x"), []), (3, "k"): {}, None: OrderedDict([(0.5, tc.float64)]),
           "size": tc.Size([2, 3]), "np": np.arange(6, dtype=np.uint16).reshape(2, 3),
           "npscalar": np.float32(1.5), "npint": np.int64(-3)}
    _assert_same(_round_trip(obj), obj)


def test_shared_tensor_loads_as_one_object_and_parameters_stay_parameters():
    t = tc.randn(3)
    p = nn.Parameter(tc.randn(2, 2))
    frozen = nn.Parameter(tc.randn(2), requires_grad=False)
    leaf = tc.randn(2).requires_grad_(True)
    out = _round_trip({"a": t, "b": [t], "p": p, "frozen": frozen, "leaf": leaf})
    assert out["a"] is out["b"][0]
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad
    assert type(out["leaf"]) is tc.Tensor and out["leaf"].requires_grad
    _assert_same(out["p"], p)


def test_loaded_tensors_are_writable_and_independent():
    t = tc.zeros(3)
    buf = io.BytesIO()
    tc.save([t], buf)
    a, b = tc.load(io.BytesIO(buf.getvalue()))[0], tc.load(io.BytesIO(buf.getvalue()))[0]
    a.add_(1.0)
    assert b.tolist() == [0.0, 0.0, 0.0] and t.tolist() == [0.0, 0.0, 0.0]


def test_torch_compatible_keywords():
    sd = {"w": tc.ones(2)}
    buf = io.BytesIO()
    tc.save(sd, buf)
    for kwargs in ({"map_location": "cpu"}, {"map_location": tc.device("cpu")},
                   {"weights_only": False}, {"weights_only": True},
                   {"map_location": {"cuda:0": "cpu"}}):
        buf.seek(0)
        _assert_same(tc.load(buf, **kwargs), sd)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="torch.cuda.is_available.. is False"):
        tc.load(buf, map_location="cuda")


# --- save-time errors --------------------------------------------------------------------
class _Thing:
    pass


@pytest.mark.parametrize("obj,msg", [
    ({"state": {"fc": {"bias": _Thing()}}},
     r"cannot save obj\['state'\]\['fc'\]\['bias'\] of type .*_Thing; the safe format"),
    ([1, {2}], r"cannot save obj\[1\] of type builtins.set"),
    ({"f": lambda x: x}, r"cannot save obj\['f'\] of type builtins.function"),
    ({"d": {frozenset(): 1}}, r"dict key frozenset\(\) of type frozenset at obj\['d'\]"),
])
def test_unsupported_objects_name_their_path(tmp_path, obj, msg):
    path = tmp_path / "x.tc"
    with pytest.raises(SerializationError, match=msg):
        tc.save(obj, path)
    assert not path.exists(), "nothing is written when the object cannot be saved"


def test_whole_scheduler_names_its_state_dict():
    """An object with a state_dict that the format does not hold (a scheduler): the error
    says to save its state_dict."""
    opt = tc.optim.SGD(tc.nn.Linear(2, 2).parameters(), lr=0.1)
    state = {"sched": tc.optim.lr_scheduler.StepLR(opt, 3)}
    with pytest.raises(SerializationError, match=r"Save obj\['sched'\]\.state_dict\(\) "
                                                 r"instead.*rebuild the StepLR"):
        tc.save(state, io.BytesIO())


def _trained(opt_cls, **kw):
    tc.manual_seed(0)
    model = tc.nn.Sequential(tc.nn.Linear(3, 4), tc.nn.Tanh(), tc.nn.Linear(4, 2))
    opt = opt_cls([{"params": model[0].parameters()},
                   {"params": model[2].parameters(), "lr": 0.05}], **kw)
    x = tc.randn(5, 3)
    for _ in range(2):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    return model, opt, x


@pytest.mark.parametrize("model_first", [True, False])
@pytest.mark.parametrize("opt_cls,kw", [(tc.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                        (tc.optim.Adam, {"lr": 0.01})])
def test_whole_optimizer_round_trip(model_first, opt_cls, kw):
    """A training script's checkpoint {'model': model, 'optimizer': optimizer} (sgrvinod's
    tutorials; torch.save pickles both): the loaded optimizer updates the loaded model's
    own parameters, whichever comes first in the file, with the saved state, groups and
    defaults, so one more step matches the original's."""
    model, opt, x = _trained(opt_cls, **kw)
    model[0].bias.requires_grad_(False)     # frozen after construction: stays frozen
    items = [("model", model), ("optimizer", opt)]
    buf = io.BytesIO()
    tc.save(dict(items if model_first else items[::-1]), buf)
    buf.seek(0)
    ck = tc.load(buf)
    m2, o2 = ck["model"], ck["optimizer"]
    assert type(o2) is opt_cls and o2.defaults == opt.defaults
    assert [g["lr"] for g in o2.param_groups] == [g["lr"] for g in opt.param_groups]
    ids = {id(p) for p in m2.parameters()}
    assert all(id(p) in ids for g in o2.param_groups for p in g["params"])
    assert [p.requires_grad for p in m2.parameters()] == [True, False, True, True]
    for m, o in ((model, opt), (m2, o2)):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    for a, b in zip(model.parameters(), m2.parameters()):
        np.testing.assert_array_equal(b.detach().numpy(), a.detach().numpy())


def test_optimizer_over_plain_tensors_round_trip():
    """SGD([w]) over a tensor that is not a Parameter (lecture code) saves and loads too."""
    w = tc.randn(3, requires_grad=True)
    opt = tc.optim.SGD([w], lr=0.5, momentum=0.9)
    w.square().sum().backward()
    opt.step()
    buf = io.BytesIO()
    tc.save({"w": w, "opt": opt}, buf)
    buf.seek(0)
    ck = tc.load(buf)
    assert ck["opt"].param_groups[0]["params"][0] is ck["w"]
    np.testing.assert_array_equal(ck["opt"].state[ck["w"]]["momentum_buffer"].numpy(),
                                  opt.state[w]["momentum_buffer"].numpy())


def test_reference_cycle_is_refused():
    cyc = {"a": []}
    cyc["a"].append(cyc)
    with pytest.raises(SerializationError, match=r"obj\['a'\]\[0\] contains itself"):
        tc.save(cyc, io.BytesIO())


# --- load-time errors --------------------------------------------------------------------
def _saved(obj=None):
    buf = io.BytesIO()
    tc.save(_all_dtypes_state() if obj is None else obj, buf)
    return buf.getvalue()


def _load_bytes(data):
    return tc.load(io.BytesIO(data))


def _rebuild(data, edit, raw_header=None):
    """A file with its JSON header changed by `edit` and a *valid* checksum: what a hostile
    author would write, so only the header checks stand between it and the loader."""
    _, version, hlen, _ = ser._PREFIX.unpack_from(data)
    header = json.loads(data[ser._PREFIX.size:ser._PREFIX.size + hlen])
    blob = data[ser._align(ser._PREFIX.size + hlen):-32]
    edit(header)
    new = json.dumps(header).encode() if raw_header is None else raw_header
    head = ser._PREFIX.pack(ser.MAGIC, version, len(new), len(blob)) + new
    body = head + bytes(ser._align(len(head)) - len(head)) + blob
    return body + hashlib.sha256(body).digest()


def test_rebuild_helper_produces_loadable_files():
    _assert_same(_load_bytes(_rebuild(_saved(), lambda h: None)), _all_dtypes_state())


@pytest.mark.parametrize("edit,msg", [
    (lambda h: h["tensors"][0].update(nbytes=10 ** 15),
     r"header points outside the data: tensor 0 claims bytes \[0, 1000000000000000\)"),
    (lambda h: h["tensors"][1].update(offset=2 ** 40), r"header points outside the data"),
    (lambda h: h["tensors"][0].update(shape=[10 ** 9, 10 ** 9]),
     r"tensor 0 of shape .* needs 4000000000000000000 bytes, header says 48"),
    (lambda h: h["tensors"][0].update(shape=[-1, 12]), r"shape must be a non-negative"),
    (lambda h: h["tensors"][0].update(dtype="object"), r"unknown dtype 'object'"),
    # (every dtype the format knows is a tensor's now: uint16, complex64 ...)
    (lambda h: h["root"][1][0].__setitem__(1, ["tensor", 999]),
     r"outside the tensor table: reference 999"),
    (lambda h: h["root"].__setitem__(0, "pickle"), r"unknown node tag 'pickle'"),
    (lambda h: h["root"][1][0].__setitem__(0, ["list", []]), r"unhashable dict key"),
    (lambda h: h.pop("root"), r"no root object"),
    (lambda h: h["root"][1][0].__setitem__(0, ["int", "7"]), r"int node holds '7'"),
])
def test_hostile_headers_with_valid_checksums_are_rejected(edit, msg):
    with pytest.raises(SerializationError, match=msg):
        _load_bytes(_rebuild(_saved(), edit))


def test_deeply_nested_header_is_rejected():
    depth = 100_000
    raw = b'{"tensors":[],"root":' + b'["list",[' * depth + b'["none"]' + b"]]" * depth + b"}"
    with pytest.raises(SerializationError, match="malformed header"):
        _load_bytes(_rebuild(_saved(), lambda h: None, raw))
    raw = b'{"tensors":[],"root":' + b'["list",[' * 150 + b'["none"]' + b"]]" * 150 + b"}"
    with pytest.raises(SerializationError, match="nested more than 100 deep"):
        _load_bytes(_rebuild(_saved(), lambda h: None, raw))  # parses, too deep to decode


def test_nesting_limit_is_enforced_at_save_and_reachable_at_load():
    ok, too_deep = [], []
    for _ in range(ser.MAX_DEPTH - 1):
        ok = [ok]
    for _ in range(ser.MAX_DEPTH):
        too_deep = [too_deep]
    assert _round_trip(ok) == ok
    with pytest.raises(SerializationError, match=r"obj(\[0\]){100} nests containers more"):
        tc.save(too_deep, io.BytesIO())


def test_truncated_files_are_rejected():
    data = _saved()
    for cut in (3, 10, 27, 100, len(data) // 2, len(data) - 33, len(data) - 1):
        with pytest.raises(SerializationError, match="truncated tracecomp file"):
            _load_bytes(data[:cut])
    with pytest.raises(SerializationError, match=rf"says {len(data)} bytes .* has {len(data) - 1}"):
        _load_bytes(data[:-1])


def test_checksum_trailing_bytes_and_version():
    data = bytearray(_saved())
    data[len(data) // 2] ^= 0x40
    with pytest.raises(SerializationError, match="checksum mismatch"):
        _load_bytes(bytes(data))
    with pytest.raises(SerializationError, match="5 unexpected bytes after the end"):
        _load_bytes(_saved() + b"extra")
    newer = bytearray(_saved())
    newer[8] = 99
    with pytest.raises(SerializationError, match="format version 99; this tracecomp reads "
                                                 "version 1"):
        _load_bytes(bytes(newer))


def test_foreign_files_are_named(tmp_path):
    with pytest.raises(SerializationError, match="not a tracecomp file: expected magic"):
        _load_bytes(b"\x93NUMPY\x01\x00 hello, this is not ours")
    with pytest.raises(SerializationError, match="not a tracecomp file"):
        _load_bytes(b"")
    path = tmp_path / "legacy.pt"       # (torch.save's zip: test_torch_checkpoints.py)
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(SerializationError, match="plain pickle.*legacy format"):
        tc.load(path)
    with pytest.raises(SerializationError, match="looks like a plain pickle"):
        _load_bytes(pickle.dumps({"a": 1}))


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_a_pickle_never_unpickles(tmp_path):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"state": _Exploit(marker)}))
    with pytest.raises(SerializationError, match="unpickling a plain pickle can run"):
        tc.load(path)
    with open(path, "rb") as f, pytest.raises(SerializationError):
        tc.load(f)
    assert not os.path.exists(marker), "tracecomp.load executed code from a pickle"
    pickle.loads(path.read_bytes())["state"].close()     # the payload is live: unpickling runs it
    assert os.path.exists(marker)


def test_text_mode_file_is_refused(tmp_path):
    path = tmp_path / "x.tc"
    tc.save({"a": 1}, path)
    with open(path, encoding="latin-1") as f, pytest.raises(SerializationError,
                                                            match="binary mode"):
        tc.load(f)
