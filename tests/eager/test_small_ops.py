"""Indexing keys and the eager fast paths behind small ops (basic indexing straight through
numpy, iteration, stack and cat), each checked against torch 2.13: the same values, views
where torch gives views, version counters shared with the base, the tape where grad is
needed, and torch's errors for keys it refuses."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

# x[key] for x = arange(12).reshape(3, 4): every form torch accepts, and some it refuses
GET_KEYS = [
    "x[range(3)]", "x[range(1, 3), range(2)]", "x[:, range(0, 4, 2)]", "x[..., range(2)]",
    "x[None, range(2)]", "x[range(2, -1, -1)]", "x[range(0)]", "x[1:2, range(2)]",
    "x[range(-1, 1)]", "x[[True, False, True]]", "x[[True, False]]", "x[(True, False, True),]",
    "x[[1, True]]", "x[[1]]", "x[[]]", "x[()]", "x[(1,)]", "x[[0, 1], [2]]",
    "x[([0, 1], [1, 2]),]", "x[(0, 1),]", "x[[0, 1], (1, 2)]", "x[np.array(1)]",
    "x[np.array([True, False, True])]", "x[np.array([[0], [2]]), np.array([1, 2])]",
    "x[np.array([[0, 1], [1, 2]])]", "x[np.int32(2)]", "x[np.int64(2), np.int64(1)]",
    "x[:, np.int64(1):np.int64(3)]", "x[[np.int64(0), 2]]", "x[lib.tensor(1)]",
    "x[lib.tensor(-1)]", "x[lib.tensor(1), 2]", "x[1:3, lib.tensor(2)]",
    "x[lib.tensor(0):lib.tensor(2)]", "x[lib.tensor([[0, 1]]), ...]", "x[lib.tensor(True)]",
    "x[True]", "x[False]", "x[None, True]", "x[1, True]", "x[[0, 1], True]",
    "x[True, [0, 1]]", "x[True, True]", "x[1, ..., None]", "x[1:100:2]", "x[-4]", "x[3]",
    "x[:, 4]", "x[lib.tensor(5)]", "x[1, 2, 3]", "x[0][5]", "x[1, 1][0]", "x[1, 1][:]",
    "x[::-1]", "x[::0]", "x[1.0]", "x[np.bool_(True)]", "x[lib.tensor([1.0])]",
    "x[range(3, 0, -1)]",
]
# keys torch still reads the legacy way, with a deprecation warning (so do we)
WARN_KEYS = ["x[[[0, 1], [1, 2]]]", "x[[[0, 1], [1, 5]]]", "x[[lib.tensor(0), 2]]",
             "x[[range(2), range(2)]]", "x[[(0, 1)]]", "x[[1, slice(0, 2)]]",
             "x[lib.tensor([1, 0, 1], dtype=lib.uint8)]",
             "x[lib.tensor(1, dtype=lib.uint8)]", "x[lib.tensor(0, dtype=lib.uint8)]"]
SET_KEYS = [
    "x[range(3), [0, 1, 2]] = 1.0", "x[range(3), lib.tensor([0, 1, 2])] = 1.0",
    "x[range(3)] = 2.0", "x[:, range(1, 3)] = lib.ones(3, 2)", "x[np.array([0, 2])] = 3.0",
    "x[np.int64(1)] = 4.0", "x[lib.tensor(1)] = 5.0", "x[lib.tensor(1), 2] = 6.0",
    "x[[True, False, True]] = 7.0", "x[True] = 8.0", "x[False] = 9.0", "x[1, True] = 10.0",
    "x[(0, 1),] = 11.0", "x[lib.tensor(0):lib.tensor(2), 1] = 13.0",
    "x[range(2), range(2)] = lib.tensor([1.0, 2.0])", "x[::-1] = 1.0", "x[1.0] = 1.0",
]


def _get(lib, key):
    x = lib.arange(12).reshape(3, 4)
    try:
        out = eval(key, {"lib": lib, "np": np, "x": x})     # noqa: S307 - our own test keys
    except Exception as exc:    # noqa: BLE001 - the error is the result to compare
        return type(exc).__name__, str(exc).split(";")[0]
    return tuple(out.shape), out.flatten().tolist()


@pytest.mark.parametrize("key", GET_KEYS)
def test_getitem_key_forms_match_torch(key):
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # none of these warns, in torch or here
        assert _get(tc, key) == _get(torch, key)


@pytest.mark.parametrize("key", WARN_KEYS)
def test_legacy_keys_warn_and_match_torch(key):
    with pytest.warns(UserWarning, match="deprecated"):
        got = _get(tc, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got == _get(torch, key)


@pytest.mark.parametrize("stmt", SET_KEYS)
def test_setitem_key_forms_match_torch(stmt):
    def run(lib):
        x = lib.zeros(3, 4)
        try:
            exec(stmt, {"lib": lib, "np": np, "x": x})   # noqa: S102 - our own test keys
        except Exception as exc:    # noqa: BLE001
            return type(exc).__name__, str(exc)
        return x.flatten().tolist()
    assert run(tc) == run(torch)


def test_the_issue_range_setitem_eager_and_compiled():
    y = tc.tensor([2, 0, 1])

    def one_hot_rows(x, y):
        x = x * 1
        x[range(3), y] = 1.0
        return x
    want = torch.zeros(3, 4)
    want[range(3), torch.tensor([2, 0, 1])] = 1.0
    assert_close(one_hot_rows(tc.zeros(3, 4), y), want)
    for backend in ("interp", "llvm"):
        assert_close(tc.compile(one_hot_rows, backend=backend)(tc.zeros(3, 4), y), want)


def test_index_errors_name_the_bad_index():
    x = tc.arange(12).reshape(3, 4)
    with pytest.raises(IndexError, match=r"only integers, slices .* \(got float\)"):
        x[1.5]
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[range(4)]
    with pytest.raises(IndexError, match="must be long, int, byte or bool tensors; got "
                                         "tracecomp.float32"):
        x[tc.tensor([0.0])]
    with pytest.raises(IndexError, match="got a sequence of float64"):
        x[[0.5, 1.0]]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[range(3), ::-1]


# --- the eager fast paths keep torch's semantics -----------------------------------------
def test_basic_index_is_a_view_with_the_base_version_counter():
    x = tc.arange(12.0).reshape(3, 4)
    for v in (x[1], x[1:, ::2], x[None, 2, ..., 1], x[tc.tensor(1)], x[np.int64(2), 1:]):
        assert v._vc is x._vc and np.shares_memory(v.numpy(), x.numpy())
    v = x[1, 2]
    v += 100        # a 0-d view writes through, as torch's x[1, 2] does
    assert x[1, 2].item() == 106 and x._vc[0] == 1
    assert x[()] is not x and x[()]._vc is x._vc      # torch: x[()] is a new alias


def test_modifying_a_fast_view_invalidates_saved_values():
    w = tc.ones(3, requires_grad=True)
    x = tc.arange(4.0)
    y = (w * x[1:]).sum()       # x[1:] is saved by mul's backward
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_index_records_the_tape_when_grad_is_needed():
    x = tc.arange(12.0).reshape(3, 4).requires_grad_()
    tx = torch.arange(12.0).reshape(3, 4).requires_grad_()
    for key in ((1, slice(None, None, 2)), (slice(1, None),), (tc.tensor(1),)):
        tkey = tuple(torch.tensor(1) if isinstance(k, tc.Tensor) else k for k in key)
        out = x[key]
        assert out.grad_fn is not None
        (out * out).sum().backward()
        (tx[tkey] * tx[tkey]).sum().backward()
    assert_close(x.grad, tx.grad)
    with tc.no_grad(), torch.no_grad():     # torch's view made under no_grad: no history,
        assert x[1].grad_fn is None and tx[1].grad_fn is None   # but requires grad as x
        assert x[1].requires_grad == tx[1].requires_grad


def test_iteration_gives_views_and_records_when_needed():
    x = tc.arange(6).reshape(3, 2)
    rows = list(x)
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    assert all(r._vc is x._vc for r in rows)
    rows[1].add_(10)
    assert x.tolist() == [[0, 1], [12, 13], [4, 5]]
    items = list(tc.tensor([3, 1]))
    assert [i.shape for i in items] == [(), ()] and [int(i) for i in items] == [3, 1]
    w = tc.ones(2, 2, requires_grad=True)
    sum(r.sum() * k for k, r in enumerate(w)).backward()
    assert w.grad.tolist() == [[0, 0], [1, 1]]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(tc.tensor(1.0))


def test_bigram_batch_sampling_matches_torch():
    data = np.random.default_rng(0).integers(0, 65, 1000)
    ix = [3, 500, 991]
    out = {}
    for lib in (tc, torch):
        d, i = lib.from_numpy(data.copy()), lib.tensor(ix)
        out[lib.__name__] = (lib.stack([d[k:k + 8] for k in i]),
                             lib.stack([d[k + 1:k + 9] for k in i]))
    for got, want in zip(out["tracecomp"], out["torch"]):
        assert got.dtype == tc.int64 and got.tolist() == want.tolist()


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_and_cat_match_torch(dim):
    rng = np.random.default_rng(dim + 5)
    arrays = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3)]
    for grad in (False, True):
        xs = [tc.tensor(a, requires_grad=grad) for a in arrays]
        ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
        got, want = tc.stack(xs, dim), torch.stack(ts, dim)
        assert_close(got, want)
        assert not np.shares_memory(got.numpy(force=True), arrays[0])
        if dim in (0, 1, -1):
            assert_close(tc.cat(xs, dim), torch.cat(ts, dim))
        if grad:
            weight = torch.from_numpy(rng.standard_normal(tuple(want.shape)).astype(np.float32))
            (got * tc.from_numpy(weight.numpy())).sum().backward()
            (want * weight).sum().backward()
            for x, t in zip(xs, ts):
                assert_close(x.grad, t.grad)


def test_stack_and_cat_promote_and_refuse_as_torch():
    a, b = tc.tensor([1, 2]), tc.tensor([0.5, 1.5])
    assert tc.stack([a, b]).dtype == tc.float32 and tc.cat([a, b]).dtype == tc.float32
    assert tc.stack([tc.tensor(1), tc.tensor(2)]).tolist() == [1, 2]
    assert tc.stack([tc.ones(2)], 0).shape == (1, 2)
    one = tc.cat([a])       # a new tensor, as torch's, not `a` itself
    assert one is not a and not np.shares_memory(one.numpy(), a.numpy())
    with pytest.raises(TypeError, match="expected Tensor as element 1 in argument 0, but got "
                                        "numpy.ndarray"):
        tc.stack([a, np.ones(2)])
    with pytest.raises(TypeError, match="expected Tensor as element 0 in argument 0, but got "
                                        "int"):
        tc.cat([3, a])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but "
                                           r"got \[2\] at entry 0 and \[3\] at entry 1"):
        tc.stack([a, tc.ones(3)])
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        tc.cat([tc.ones(2, 3), tc.ones(2, 4)])
