"""The recurrent layers (RNN, LSTM, GRU and their cells) and nn.utils.rnn, eagerly, against
torch 2.13: parameter names, shapes, init range, reprs, outputs and final states, gradients
of the input, the initial states and every parameter, packed sequences, and errors."""
import math
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.nn.utils import rnn as R

from helpers import assert_close, to_tc, to_torch

TR = torch.nn.utils.rnn


def _pair(name, *args, **kw):
    """The torch module and a tracecomp one holding the same weights."""
    torch.manual_seed(0)
    want = getattr(torch.nn, name)(*args, **kw)
    got = getattr(tc.nn, name)(*args, **kw)
    got.load_state_dict({k: to_tc(v) for k, v in want.state_dict().items()})
    return got, want


def _randn(seed, *shape, dtype=np.float32):
    x = np.random.RandomState(seed).randn(*shape).astype(dtype)
    return tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _flat(result):
    """(output, h) or (output, (h, c)) -> [output, h(, c)]."""
    out, hidden = result
    return [out] + (list(hidden) if isinstance(hidden, tuple) else [hidden])


def _loss(tensors):
    """A scalar that weighs every element differently, so gradients are not symmetric."""
    return sum(((t * t).sum() + t.sin().sum()) * (k + 1) for k, t in enumerate(tensors))


def _compare_step(got, want, inputs, tol=(1e-5, 1e-6)):
    """Run both modules, compare every result, backprop, compare every gradient."""
    got_out = _flat(got(*[i[0] for i in inputs]))
    want_out = _flat(want(*[i[1] for i in inputs]))
    assert len(got_out) == len(want_out)
    for k, (g, w) in enumerate(zip(got_out, want_out)):
        assert_close(g, w, *tol, what=f"result {k}")
    _loss(got_out).backward()
    _loss(want_out).backward()
    for k, (g, w) in enumerate(inputs):
        for a, b in zip(g if isinstance(g, tuple) else (g,), w if isinstance(w, tuple) else (w,)):
            if b.requires_grad:
                assert_close(a.grad, b.grad, 1e-4, 1e-5, what=f"grad of argument {k}")
    for (name, p), q in zip(want.named_parameters(), got.parameters()):
        assert_close(q.grad, p.grad, 1e-4, 1e-5, what=f"grad of {name}")


LAYERS = [
    ("rnn_tanh", "RNN", (4, 5), {}, (6, 3, 4)),
    ("rnn_relu_2_layers_bidirectional", "RNN", (4, 5, 2), {"nonlinearity": "relu",
                                                          "bidirectional": True}, (6, 3, 4)),
    ("rnn_relu_positional_batch_first", "RNN", (4, 5, 1, "relu"), {"batch_first": True},
     (3, 6, 4)),
    ("lstm_2_layers", "LSTM", (4, 5, 2), {}, (7, 3, 4)),
    ("lstm_proj_bidirectional_batch_first", "LSTM", (4, 5, 2),
     {"proj_size": 3, "bidirectional": True, "batch_first": True}, (3, 6, 4)),
    ("lstm_no_bias_unbatched", "LSTM", (4, 5), {"bias": False}, (6, 4)),
    ("gru", "GRU", (4, 5), {}, (6, 3, 4)),
    ("gru_bidirectional_no_bias_2_layers", "GRU", (4, 5, 2),
     {"bidirectional": True, "bias": False}, (6, 2, 4)),
    ("gru_unbatched_batch_first", "GRU", (4, 5), {"batch_first": True}, (6, 4)),
]


@pytest.mark.parametrize("name,cls,args,kw,shape", LAYERS, ids=[c[0] for c in LAYERS])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
def test_layer_matches_torch(name, cls, args, kw, shape, with_state):
    got, want = _pair(cls, *args, **kw)
    inputs = [_randn(1, *shape)]
    if with_state:
        layers = want.num_layers * (2 if want.bidirectional else 1)
        batch = () if len(shape) == 2 else (shape[0 if want.batch_first else 1],)
        h = _randn(2, layers, *batch, want.proj_size or want.hidden_size)
        if cls == "LSTM":
            c = _randn(3, layers, *batch, want.hidden_size)
            h = ((h[0], c[0]), (h[1], c[1]))
        inputs.append(h)
    _compare_step(got, want, inputs)


def test_float64_matches_torch_closely():
    got, want = _pair("LSTM", 3, 4, 2, bidirectional=True)
    got.double()
    want.double()
    _compare_step(got, want, [_randn(1, 5, 2, 3, dtype=np.float64)], tol=(1e-12, 1e-13))


CONFIGS = [("RNN", (3, 4, 2), {"bidirectional": True, "nonlinearity": "relu"}),
           ("LSTM", (3, 4, 3), {"proj_size": 2, "bidirectional": True, "bias": False}),
           ("GRU", (3, 4, 2), {"batch_first": True, "dropout": 0.25})]


@pytest.mark.parametrize("cls,args,kw", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_parameters_state_dict_and_repr_are_torchs(cls, args, kw):
    got, want = _pair(cls, *args, **kw)
    assert repr(got) == repr(want)
    assert list(got.state_dict()) == list(want.state_dict())
    for (k, a), b in zip(want.state_dict().items(), got.state_dict().values()):
        assert tuple(b.shape) == tuple(a.shape), k
    assert got._flat_weights_names == want._flat_weights_names
    assert [[tuple(p.shape) for p in ws] for ws in got.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in want.all_weights]
    assert [p is q for p, q in zip(got._flat_weights, got.parameters())] == \
        [True] * len(got._flat_weights)
    got.flatten_parameters()                      # accepted, a no-op on the CPU
    assert list(got.state_dict()) == list(want.state_dict())


def test_init_is_uniform_within_one_over_sqrt_hidden():
    tc.manual_seed(0)
    hidden = 400
    lstm = tc.nn.LSTM(300, hidden, 2)
    bound = 1 / math.sqrt(hidden)
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.99 * bound and values.max() > 0.99 * bound
    # U(-b, b): mean 0, std b / sqrt(3)
    assert abs(values.mean()) < 0.01 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    cell = tc.nn.GRUCell(10, hidden)
    assert all(p.detach().numpy().max() <= bound for p in cell.parameters())


CELLS = [
    ("rnn_cell", "RNNCell", (4, 5), {}, 1),
    ("rnn_cell_relu", "RNNCell", (4, 5), {"nonlinearity": "relu"}, 1),
    ("lstm_cell", "LSTMCell", (4, 5), {}, 2),
    ("gru_cell_no_bias", "GRUCell", (4, 5), {"bias": False}, 1),
    ("gru_cell", "GRUCell", (4, 5), {}, 1),
]


@pytest.mark.parametrize("name,cls,args,kw,states", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize("batch", [(3,), ()], ids=["batched", "unbatched"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
def test_cell_matches_torch(name, cls, args, kw, states, batch, with_state):
    got, want = _pair(cls, *args, **kw)
    assert repr(got) == repr(want)
    assert list(got.state_dict()) == list(want.state_dict())
    x = _randn(1, *batch, 4)
    hx = None
    if with_state:
        hs = [_randn(2 + k, *batch, 5) for k in range(states)]
        hx = hs[0] if states == 1 else (tuple(h[0] for h in hs), tuple(h[1] for h in hs))
    g = got(x[0], None if hx is None else hx[0])
    w = want(x[1], None if hx is None else hx[1])
    g, w = (list(g), list(w)) if states == 2 else ([g], [w])
    for a, b in zip(g, w):
        assert_close(a, b)
    _loss(g).backward()
    _loss(w).backward()
    assert_close(x[0].grad, x[1].grad, 1e-4, 1e-5, what="input grad")
    if with_state:
        for a, b in zip(hx[0] if states == 2 else (hx[0],), hx[1] if states == 2 else (hx[1],)):
            assert_close(a.grad, b.grad, 1e-4, 1e-5, what="state grad")
    for (n, p), q in zip(want.named_parameters(), got.parameters()):
        assert_close(q.grad, p.grad, 1e-4, 1e-5, what=f"grad of {n}")


def test_dropout_between_layers():
    got, want = _pair("LSTM", 3, 4, 3, dropout=1.0)
    x = _randn(1, 5, 2, 3)
    for a, b in zip(_flat(got(x[0])), _flat(want(x[1]))):      # p=1: layers 2, 3 see zeros
        assert_close(a, b)
    got.eval()
    want.eval()
    for a, b in zip(_flat(got(x[0])), _flat(want(x[1]))):      # eval: no dropout
        assert_close(a, b)
    got, _ = _pair("GRU", 3, 4, 2, dropout=0.5)
    tc.manual_seed(1)
    first, second = got(x[0])[0], got(x[0])[0]
    got.eval()
    plain = got(x[0])[0]
    assert not np.allclose(first.detach().numpy(), plain.detach().numpy())
    assert not np.allclose(first.detach().numpy(), second.detach().numpy())   # fresh masks


def test_dropout_with_one_layer_warns_as_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1, "
                                         "but got dropout=0.5 and num_layers=1"):
        tc.nn.LSTM(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.nn.LSTM(3, 4, 2, dropout=0.5)


# --- packed sequences ------------------------------------------------------------------------
PACKED = [("LSTM", {"num_layers": 2, "bidirectional": True}),
          ("LSTM", {"proj_size": 2, "bidirectional": True}),
          ("GRU", {"batch_first": True}),
          ("RNN", {"bidirectional": True, "nonlinearity": "relu"})]


@pytest.mark.parametrize("cls,kw", PACKED, ids=[f"{c}_{'_'.join(k)}" for c, k in PACKED])
@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
def test_packed_sequence_through_a_layer_matches_torch(cls, kw, enforce_sorted):
    got, want = _pair(cls, 4, 5, **kw)
    batch_first = kw.get("batch_first", False)
    lengths = [6, 6, 4, 3, 1] if enforce_sorted else [3, 6, 1, 6, 4]
    x = _randn(1, *((5, 6, 4) if batch_first else (6, 5, 4)))
    packs = [lib.pack_padded_sequence(v, lengths, batch_first=batch_first,
                                      enforce_sorted=enforce_sorted)
             for lib, v in ((R, x[0]), (TR, x[1]))]
    assert_close(packs[0].data, packs[1].data, what="packed data")
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        a, b = getattr(packs[0], field), getattr(packs[1], field)
        assert (a is None and b is None) or a.tolist() == b.tolist(), field
    layers = (2 if got.bidirectional else 1) * got.num_layers
    h = _randn(2, layers, 5, got.proj_size or 5)
    state = h
    if cls == "LSTM":
        c = _randn(3, layers, 5, 5)
        state = ((h[0], c[0]), (h[1], c[1]))
    results = []
    for k, (mod, lib) in enumerate(((got, R), (want, TR))):
        out, hidden = mod(packs[k], state[k])
        hidden = list(hidden) if isinstance(hidden, tuple) else [hidden]
        padded, lens = lib.pad_packed_sequence(out, batch_first=batch_first, padding_value=-1.0,
                                               total_length=8)
        results.append((out.data, padded, lens, hidden))
    assert_close(results[0][0], results[1][0], what="packed output")
    assert_close(results[0][1], results[1][1], what="padded output")
    assert results[0][2].tolist() == results[1][2].tolist()
    for a, b in zip(results[0][3], results[1][3]):
        assert_close(a, b, what="final state")
    for r in results:
        _loss([r[1]] + r[3]).backward()
    assert_close(x[0].grad, x[1].grad, 1e-4, 1e-5, what="input grad")
    assert_close(h[0].grad, h[1].grad, 1e-4, 1e-5, what="h0 grad")
    for (n, p), q in zip(want.named_parameters(), got.parameters()):
        assert_close(q.grad, p.grad, 1e-4, 1e-5, what=f"grad of {n}")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    seqs = [_randn(k, n, 3) for k, n in enumerate((2, 5, 3))]
    got = R.pad_sequence([s[0] for s in seqs], batch_first, 7.0, side)
    want = TR.pad_sequence([s[1] for s in seqs], batch_first, 7.0, side)
    assert_close(got, want)
    _loss([got]).backward()
    _loss([want]).backward()
    for s in seqs:
        assert_close(s[0].grad, s[1].grad, 1e-4, 1e-5)


def test_pack_unpack_sequence_and_unpad_match_torch():
    seqs = [_randn(k, n, 2) for k, n in enumerate((2, 5, 3))]
    for enforce_sorted, order in ((False, (0, 1, 2)), (True, (1, 2, 0))):
        got = R.pack_sequence([seqs[i][0] for i in order], enforce_sorted=enforce_sorted)
        want = TR.pack_sequence([seqs[i][1] for i in order], enforce_sorted=enforce_sorted)
        assert_close(got.data, want.data)
        assert got.batch_sizes.tolist() == want.batch_sizes.tolist()
        for a, b in zip(R.unpack_sequence(got), TR.unpack_sequence(want)):
            assert_close(a, b)
    padded = _randn(9, 5, 3, 2)
    for a, b in zip(R.unpad_sequence(padded[0], tc.tensor([2, 5, 3])),
                    TR.unpad_sequence(padded[1].detach().clone(), torch.tensor([2, 5, 3]))):
        assert_close(a, b)


def test_packed_sequence_is_torchs_named_tuple():
    p = R.pack_sequence([tc.ones(3, 2), tc.ones(1, 2)])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert p._fields == TR.PackedSequence._fields
    assert batch_sizes.tolist() == [2, 1, 1] and sorted_indices is None
    assert p.double().data.dtype == tc.float64 and p.to(tc.float32) is p
    assert not p.is_cuda
    q = R.PackedSequence(data, batch_sizes, tc.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]
    assert R.invert_permutation(tc.tensor([2, 0, 1])).tolist() == \
        TR.invert_permutation(torch.tensor([2, 0, 1])).tolist()


# --- errors: torch's type and message where torch raises ------------------------------------
def _both(fn):
    """fn(lib, nn_utils_rnn) for both libraries: (tracecomp's error, torch's error)."""
    errors = []
    for lib, utils in ((tc, R), (torch, TR)):
        try:
            fn(lib, utils)
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - compared below
            errors.append(exc)
    return errors


def _zeros(lib, *shape, **kw):
    return lib.zeros(*shape, **kw)


SAME_ERRORS = [
    ("input_4d", lambda lib, u: lib.nn.LSTM(4, 3)(_zeros(lib, 1, 2, 3, 4))),
    ("input_1d_rnn", lambda lib, u: lib.nn.RNN(4, 3)(_zeros(lib, 4))),
    ("input_1d_gru", lambda lib, u: lib.nn.GRU(4, 3)(_zeros(lib, 4))),
    ("input_size", lambda lib, u: lib.nn.LSTM(4, 3)(_zeros(lib, 5, 2, 3))),
    ("input_dtype", lambda lib, u: lib.nn.GRU(4, 3)(_zeros(lib, 5, 2, 4,
                                                           dtype=lib.float64))),
    ("hidden_size", lambda lib, u: lib.nn.RNN(4, 3, 2)(_zeros(lib, 5, 2, 4),
                                                       _zeros(lib, 2, 3, 3))),
    ("hidden_dims", lambda lib, u: lib.nn.GRU(4, 3)(_zeros(lib, 5, 2, 4), _zeros(lib, 2, 3))),
    ("unbatched_hidden_dims", lambda lib, u: lib.nn.RNN(4, 3)(_zeros(lib, 5, 4),
                                                              _zeros(lib, 1, 1, 3))),
    ("lstm_state_dims", lambda lib, u: lib.nn.LSTM(4, 3)(
        _zeros(lib, 5, 2, 4), (_zeros(lib, 2, 3), _zeros(lib, 2, 3)))),
    ("lstm_cell_state_size", lambda lib, u: lib.nn.LSTM(4, 3)(
        _zeros(lib, 5, 2, 4), (_zeros(lib, 1, 2, 3), _zeros(lib, 1, 3, 3)))),
    ("proj_size_rnn", lambda lib, u: lib.nn.RNN(4, 3, proj_size=2)),
    ("proj_size_gru", lambda lib, u: lib.nn.GRU(4, 3, proj_size=2)),
    ("proj_size_too_big", lambda lib, u: lib.nn.LSTM(4, 3, proj_size=3)),
    ("proj_size_negative", lambda lib, u: lib.nn.LSTM(4, 3, proj_size=-1)),
    ("nonlinearity", lambda lib, u: lib.nn.RNN(4, 3, nonlinearity="sigmoid")),
    ("dropout_range", lambda lib, u: lib.nn.LSTM(4, 3, 2, dropout=1.5)),
    ("dropout_bool", lambda lib, u: lib.nn.LSTM(4, 3, 2, dropout=True)),
    ("hidden_size_zero", lambda lib, u: lib.nn.GRU(4, 0)),
    ("input_size_float", lambda lib, u: lib.nn.GRU(4.0, 3)),
    ("num_layers_zero", lambda lib, u: lib.nn.GRU(4, 3, 0)),
    ("bias_not_bool", lambda lib, u: lib.nn.GRU(4, 3, bias=1)),
    ("cell_input_dims", lambda lib, u: lib.nn.RNNCell(4, 3)(_zeros(lib, 1, 2, 4))),
    ("cell_hidden_dims", lambda lib, u: lib.nn.GRUCell(4, 3)(_zeros(lib, 2, 4),
                                                            _zeros(lib, 1, 2, 3))),
    ("cell_input_size", lambda lib, u: lib.nn.RNNCell(4, 3)(_zeros(lib, 2, 5))),
    ("cell_batch", lambda lib, u: lib.nn.GRUCell(4, 3)(_zeros(lib, 2, 4), _zeros(lib, 3, 3))),
    ("cell_hidden_size", lambda lib, u: lib.nn.RNNCell(4, 3)(_zeros(lib, 2, 4),
                                                            _zeros(lib, 2, 4))),
    ("lstm_cell_one_state", lambda lib, u: lib.nn.LSTMCell(4, 3)(_zeros(lib, 2, 4),
                                                                (_zeros(lib, 2, 3),))),
    ("lstm_cell_tensor_state", lambda lib, u: lib.nn.LSTMCell(4, 3)(_zeros(lib, 2, 4),
                                                                   _zeros(lib, 2, 3))),
    ("lstm_cell_hx_dims", lambda lib, u: lib.nn.LSTMCell(4, 3)(
        _zeros(lib, 2, 4), (_zeros(lib, 2, 3), _zeros(lib, 1, 2, 3)))),
    ("cell_dtype", lambda lib, u: lib.nn.RNNCell(4, 3)(_zeros(lib, 2, 4, dtype=lib.float64))),
    ("unsorted_lengths", lambda lib, u: u.pack_padded_sequence(_zeros(lib, 5, 3, 2), [5, 3, 4])),
    ("lengths_count", lambda lib, u: u.pack_padded_sequence(_zeros(lib, 5, 3, 2), [5, 3])),
    ("zero_length", lambda lib, u: u.pack_padded_sequence(_zeros(lib, 5, 3, 2), [5, 3, 0])),
    ("lengths_2d", lambda lib, u: u.pack_padded_sequence(_zeros(lib, 5, 3, 2),
                                                         lib.tensor([[5, 3, 1]]))),
    ("total_length", lambda lib, u: u.pad_packed_sequence(
        u.pack_padded_sequence(_zeros(lib, 5, 3, 2), [5, 3, 1]), total_length=4)),
    ("padding_side", lambda lib, u: u.pad_sequence([_zeros(lib, 2)], padding_side="up")),
    ("empty_sequences", lambda lib, u: u.pad_sequence([])),
    ("not_iterable", lambda lib, u: u.pad_sequence(5)),
    ("trailing_dims", lambda lib, u: u.pad_sequence([_zeros(lib, 2, 3), _zeros(lib, 3, 4)])),
]


@pytest.mark.parametrize("name,fn", SAME_ERRORS, ids=[e[0] for e in SAME_ERRORS])
def test_errors_are_torchs(name, fn):
    got, want = _both(fn)
    assert want is not None, "torch accepts this: the case is wrong"
    assert type(got) is type(want) or isinstance(got, type(want)), f"{got!r} vs {want!r}"
    assert str(got).replace("tracecomp.", "torch.") == str(want)


def test_lengths_longer_than_the_input_are_an_error_not_garbage():
    # torch reads past the end of the input here; we refuse
    with pytest.raises(RuntimeError, match=r"the longest length \(6\) exceeds the time "
                                           r"dimension \(5\)"):
        R.pack_padded_sequence(tc.zeros(5, 3, 2), [6, 3, 2])


def test_lstm_state_must_be_a_pair():
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple"):
        tc.nn.LSTM(4, 3)(tc.zeros(5, 2, 4), tc.zeros(1, 2, 3))


def test_to_double_and_module_conversions_keep_working():
    got, want = _pair("GRU", 3, 4)
    got.double()
    out, h = got(tc.ones(2, 1, 3, dtype=tc.float64))
    assert out.dtype == tc.float64 and h.dtype == tc.float64
    w_out, w_h = want.double()(torch.ones(2, 1, 3, dtype=torch.float64))
    assert_close(out, w_out, 1e-12, 1e-13)
    assert to_torch(h).shape == w_h.shape
    made = [tc.nn.LSTM(3, 4, 2, proj_size=2, dtype=tc.float64),
            tc.nn.GRUCell(3, 4, dtype=tc.float64)]
    assert all(p.dtype == tc.float64 for m in made for p in m.parameters())
