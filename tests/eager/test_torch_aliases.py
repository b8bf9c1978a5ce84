"""torch's top-level spellings of F's ops and the small compositions (torch_aliases.py,
torch_nn_aliases.py) against torch 2.13: each case is one expression written once for both
libraries, compared by value, dtype and shape, and by gradient where marked."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import as_np, assert_close

rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def ints(*shape, hi=5):
    return rng.integers(0, hi, shape)


X, W1, W2, B = f32(2, 4, 7), f32(3, 4, 3), f32(4, 3, 3), f32(3)
IMG, W_IMG, WT_IMG = f32(2, 4, 6, 6), f32(3, 4, 3, 3), f32(4, 3, 3, 3)
SIGN = np.sign(f32(5)).astype(np.float32)
SIGN[SIGN == 0] = 1

# (id, expression over (lib, *tensors), inputs, gradients: True for every float input, or
# the positions of the inputs to differentiate)
CASES = [
    ("conv1d", lambda L, x, w, b: L.conv1d(x, w, b, 2, 1), (X, W1, B), True),
    ("conv2d", lambda L, x, w, b: L.conv2d(x, w, b, 1, "same"), (IMG, W_IMG, B), True),
    ("conv_transpose1d", lambda L, x, w: L.conv_transpose1d(x, w, None, 2, 1, 1), (X, W2),
     True),
    ("conv_transpose2d", lambda L, x, w: L.conv_transpose2d(x, w, None, 2), (IMG, WT_IMG),
     True),
    ("avg_pool1d", lambda L, x: L.avg_pool1d(x, 3, 2, 1, True, False), (X,), True),
    ("max_pool1d", lambda L, x: L.max_pool1d(x, 2), (X,), True),
    ("max_pool2d", lambda L, x: L.max_pool2d(x, 3, 2, 1), (IMG,), True),
    ("max_pool1d_with_indices", lambda L, x: L.max_pool1d_with_indices(x, 3, 2), (X,), False),
    ("adaptive_avg_pool1d", lambda L, x: L.adaptive_avg_pool1d(x, 3), (X,), True),
    ("adaptive_max_pool1d", lambda L, x: L.adaptive_max_pool1d(x, 3), (X,), False),
    ("dropout_eval", lambda L, x: L.dropout(x, 0.5, False), (X,), True),
    ("feature_dropout_p0", lambda L, x: L.feature_dropout(x, 0.0, True), (X,), False),
    ("alpha_dropout_eval", lambda L, x: L.alpha_dropout(x, 0.3, False), (X,), False),
    ("embedding", lambda L, w, i: L.embedding(w, i, 2), (f32(5, 3), ints(2, 4)), True),
    ("batch_norm", lambda L, x, w, b: L.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
     (X, pos(4), f32(4)), True),
    ("batch_norm_eval", lambda L, x, m, v: L.batch_norm(x, None, None, m, v, False, 0.1, 1e-5,
                                                         False), (X, f32(4), pos(4)), False),
    ("layer_norm", lambda L, x, w: L.layer_norm(x, [7], w), (X, pos(7)), True),
    ("group_norm", lambda L, x: L.group_norm(x, 2), (X,), True),
    ("instance_norm", lambda L, x: L.instance_norm(x, None, None, None, None, True, 0.1, 1e-5,
                                                   False), (X,), True),
    ("pixel_shuffle", lambda L, x: L.pixel_shuffle(x, 2), (IMG,), False),
    ("pixel_unshuffle", lambda L, x: L.pixel_unshuffle(x, 2), (IMG,), False),
    ("channel_shuffle", lambda L, x: L.channel_shuffle(x, 2), (IMG,), True),
    ("prelu", lambda L, x, w: L.prelu(x, w), (X, pos(4)), True),
    ("selu", lambda L, x: L.selu(x), (X,), True),
    ("celu", lambda L, x: L.celu(x, 0.5), (X,), True),
    ("rrelu_eval", lambda L, x: L.rrelu(x, 0.1, 0.3), (X,), True),
    ("threshold", lambda L, x: L.threshold(x, 0.1, -2.0), (X,), True),
    ("hardshrink", lambda L, x: L.hardshrink(x, 0.3), (X,), True),
    ("hardshrink_method", lambda L, x: x.hardshrink(), (X,), False),
    ("prelu_method", lambda L, x, w: x.prelu(w), (X, pos(4)), False),
    ("cosine_similarity", lambda L, a, b: L.cosine_similarity(a, b), (X, f32(2, 4, 7)), True),
    ("pairwise_distance", lambda L, a, b: L.pairwise_distance(a, b, 1.0), (f32(3, 5),
                                                                           f32(3, 5)), True),
    ("pdist", lambda L, x: L.pdist(x), (f32(4, 3),), True),
    ("pdist_p1", lambda L, x: L.pdist(x, 1.0), (f32(4, 3),), True),
    ("kl_div", lambda L, a, b: L.kl_div(a, b), (f32(3, 4), pos(3, 4)), True),
    ("kl_div_mean", lambda L, a, b: L.kl_div(a, b, 1), (f32(3, 4), pos(3, 4)), True),
    ("margin_ranking_loss_mean", lambda L, a, b, y: L.margin_ranking_loss(a, b, y, 0.0, 1),
     (f32(5), f32(5), SIGN), True),
    ("kl_div_sum_log", lambda L, a, b: L.kl_div(a, b, 2, log_target=True), (f32(3, 4),
                                                                             f32(3, 4)), True),
    ("margin_ranking_loss", lambda L, a, b, y: L.margin_ranking_loss(a, b, y, 0.2),
     (f32(5), f32(5), SIGN), True),
    ("hinge_embedding_loss", lambda L, a, y: L.hinge_embedding_loss(a, y, 1.0, 0),
     (f32(5), SIGN), (0,)),
    ("cosine_embedding_loss", lambda L, a, b, y: L.cosine_embedding_loss(a, b, y, 0.1, 2),
     (f32(5, 3), f32(5, 3), SIGN), (0, 1)),
    ("triplet_margin_loss", lambda L, a, p, n: L.triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6,
                                                                     True),
     (f32(4, 3), f32(4, 3), f32(4, 3)), True),
    ("poisson_nll_loss", lambda L, a, y: L.poisson_nll_loss(a, y, True, True, 1e-8, 1),
     (f32(4, 3), pos(4, 3)), True),
    ("bce_with_logits", lambda L, a, y, w: L.binary_cross_entropy_with_logits(a, y, None, w),
     (f32(4, 3), rng.uniform(size=(4, 3)).astype(np.float32), pos(3)), (0,)),
    ("bilinear", lambda L, a, b, w: L.bilinear(a, b, w), (f32(2, 3), f32(2, 4), f32(5, 3, 4)),
     True),
    ("rms_norm", lambda L, x: L.rms_norm(x, [7]), (X,), True),
    # comparisons, rsub, splits
    ("greater", lambda L, a, b: L.greater(a, b), (f32(3, 4), f32(3, 4)), False),
    ("greater_equal", lambda L, a: L.greater_equal(a, 0.0), (f32(3, 4),), False),
    ("less", lambda L, a, b: a.less(b), (f32(3, 4), f32(4)), False),
    ("less_equal", lambda L, a, b: L.less_equal(a, b), (ints(5), ints(5)), False),
    ("not_equal", lambda L, a, b: a.not_equal(b), (ints(5), ints(5)), False),
    ("rsub", lambda L, a, b: L.rsub(a, b, alpha=2), (f32(3), f32(3)), True),
    ("rsub_scalar", lambda L, a: L.rsub(a, 5), (ints(3),), False),
    ("tensor_split_n", lambda L, x: L.tensor_split(x, 3, 2), (X,), True),
    ("tensor_split_idx", lambda L, x: x.tensor_split([1, -2, 9], dim=-1), (X,), True),
    ("tensor_split_tensor", lambda L, x, i: L.tensor_split(x, i), (f32(6), np.array([2, 4])),
     False),
    ("hsplit", lambda L, x: L.hsplit(x, 2), (f32(3, 4),), True),
    ("hsplit_1d", lambda L, x: x.hsplit([1, 3]), (f32(6),), False),
    ("vsplit", lambda L, x: L.vsplit(x, [1]), (f32(3, 4),), False),
    ("dsplit", lambda L, x: x.dsplit(7), (X,), False),
    ("split_with_sizes", lambda L, x: L.split_with_sizes(x, [3, 4], -1), (X,), True),
    ("unsafe_split", lambda L, x: x.unsafe_split(3, -1), (X,), False),
    ("unsafe_chunk", lambda L, x: L.unsafe_chunk(x, 3, -1), (X,), False),
    # predicates and small math
    ("isposinf", lambda L, x: L.isposinf(x), (np.array([np.inf, -np.inf, 1.0, np.nan]),),
     False),
    ("isneginf", lambda L, x: x.isneginf(), (np.array([np.inf, -np.inf, 1.0]),), False),
    ("isreal", lambda L, x: L.isreal(x), (ints(3),), False),
    ("fix", lambda L, x: L.fix(x * 3), (X,), True),
    ("vdot", lambda L, a, b: L.vdot(a, b), (f32(5), f32(5)), True),
    ("chain_matmul", lambda L, a, b, c: L.chain_matmul(a, b, c), (f32(2, 3), f32(3, 4),
                                                                  f32(4, 2)), True),
    ("matrix_power", lambda L, a: L.matrix_power(a, 5), (f32(2, 3, 3),), True),
    ("matrix_power_0", lambda L, a: a.matrix_power(0), (ints(3, 3),), False),
    ("matrix_power_neg", lambda L, a: L.matrix_power(a, -2),
     (np.eye(3, dtype=np.float32) * 2 + f32(3, 3) * 0.1,), True),
    ("unravel_index", lambda L, i: L.unravel_index(i, (3, 4)), (np.array([0, 5, 11, -1]),),
     False),
    ("cov", lambda L, x: L.cov(x), (f32(3, 6),), True),
    ("cov_weights", lambda L, x, fw, aw: L.cov(x, correction=0, fweights=fw, aweights=aw),
     (f32(3, 6), ints(6, hi=4) + 1, pos(6)), True),
    ("cov_1d_int", lambda L, x: x.cov(), (ints(5),), False),
    ("corrcoef", lambda L, x: L.corrcoef(x), (f32(3, 6),), True),
    ("trapezoid", lambda L, y: L.trapezoid(y), (X,), True),
    ("trapezoid_dx_int", lambda L, y: L.trapezoid(y, dx=2, dim=1), (ints(3, 4),), False),
    ("trapezoid_x", lambda L, y, x: L.trapezoid(y, x), (X, f32(7)), True),
    ("trapz", lambda L, y, x: L.trapz(y, x, dim=0), (f32(3, 4), f32(3, 4)), True),
    ("trapezoid_empty", lambda L, y: L.trapezoid(y), (f32(3, 0),), False),
    ("cumulative_trapezoid", lambda L, y: L.cumulative_trapezoid(y, dx=0.5), (X,), True),
    ("cumulative_trapezoid_x", lambda L, y, x: L.cumulative_trapezoid(y, x), (ints(3, 4),
                                                                              ints(4)), False),
    ("vander", lambda L, x: L.vander(x), (ints(4),), False),
    ("vander_float", lambda L, x: L.vander(x, 3, True), (f32(4),), False),  # torch's grad fails
    ("vander_0", lambda L, x: L.vander(x, 0), (f32(4),), False),
]

WINDOWS = [("hann_window", (7,)), ("hann_window", (6, False)), ("hann_window", (1,)),
           ("hann_window", (0,)), ("hamming_window", (8,)), ("hamming_window", (5, True, 0.5, 0.4)),
           ("blackman_window", (9,)), ("blackman_window", (4, False)), ("bartlett_window", (7,)),
           ("bartlett_window", (6, False)), ("kaiser_window", (8,)),
           ("kaiser_window", (5, False, 5.0))]


def _run(lib, fn, arrays, grad):
    ins = [lib.tensor(a) for a in arrays]
    wanted = range(len(arrays)) if grad is True else grad or ()
    ins = [t.requires_grad_() if k in wanted and a.dtype.kind == "f" else t
           for k, (t, a) in enumerate(zip(ins, arrays))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(lib, *ins), ins


def _compare(got, want, what):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, tuple) and len(got) == len(want), f"{what}: {got} | {want}"
        for k, (g, w) in enumerate(zip(got, want)):
            _compare(g, w, f"{what}[{k}]")
    else:
        assert_close(got, want, rtol=1e-4, atol=1e-5, what=what)


@pytest.mark.parametrize("name,fn,arrays,grad", CASES, ids=[c[0] for c in CASES])
def test_alias_matches_torch(name, fn, arrays, grad):
    want, theirs = _run(torch, fn, arrays, grad)
    got, ours = _run(tc, fn, arrays, grad)
    _compare(got, want, name)
    if grad:
        outs = lambda r: [r] if not isinstance(r, (tuple, list)) else list(r)  # noqa: E731
        weights = [rng.standard_normal(tuple(w.shape)).astype(np.float32) for w in outs(want)]
        sum(tc.sum(o * tc.tensor(v)) for o, v in zip(outs(got), weights)).backward()
        sum(torch.sum(o * torch.tensor(v)) for o, v in zip(outs(want), weights)).backward()
        for k, (o, t) in enumerate(zip(ours, theirs)):
            if t.requires_grad:
                assert_close(o.grad, t.grad, rtol=1e-4, atol=1e-5, what=f"{name} grad {k}")


@pytest.mark.parametrize("name,args", WINDOWS, ids=[f"{n}{a}" for n, a in WINDOWS])
def test_windows(name, args):
    assert_close(getattr(tc, name)(*args), getattr(torch, name)(*args), atol=1e-6)
    want = getattr(torch, name)(*args, dtype=torch.float64, requires_grad=True)
    got = getattr(tc, name)(*args, dtype=tc.float64, requires_grad=True)
    assert got.requires_grad and want.requires_grad
    assert_close(got, want, atol=1e-12)


def test_shapes_scalars_and_predicates():
    for shapes in [((2, 1), (3,), ()), (2, (3, 1)), ((0, 1), (1, 4)), ()]:
        assert tuple(tc.broadcast_shapes(*shapes)) == tuple(torch.broadcast_shapes(*shapes))
    for fn in (tc.broadcast_shapes, torch.broadcast_shapes):
        with pytest.raises(RuntimeError, match="Attempting to broadcast a dimension of length"):
            fn((2, 3), (4, 3))
    for args, kw in [((3,), {}), ((True,), {}), ((2,), {"dtype": "int64"})]:
        kw_tc = {k: getattr(tc, v) for k, v in kw.items()}
        kw_t = {k: getattr(torch, v) for k, v in kw.items()}
        assert_close(tc.scalar_tensor(*args, **kw_tc), torch.scalar_tensor(*args, **kw_t))
    a, b = tc.ones(2, 3), tc.ones(3, 2)
    assert tc.is_same_size(a, a) and not tc.is_same_size(a, b) and not a.is_same_size(b)
    assert tc.is_signed(a) and not tc.is_signed(tc.ones(2, dtype=tc.uint8))
    x = tc.tensor([1.5, -2.5])
    assert tc.fix_(x) is x and x.tolist() == [1.0, -2.0]
    y = tc.tensor([0.7, -0.7])
    assert y.fix_() is y and y.tolist() == [0.0, -0.0]


def test_dropout_family_draws_and_writes_in_place():
    tc.manual_seed(0)
    x = tc.ones(200, 8, 3)
    out = tc.dropout(x, 0.5, True)
    kept = as_np(out) != 0
    assert 0.35 < kept.mean() < 0.65 and np.allclose(as_np(out)[kept], 2.0)
    feat = as_np(tc.feature_dropout(x, 0.5, True))
    assert (feat == feat[:, :, :1]).all()          # whole channels
    assert tc.dropout_(x, 0.5, True) is x and (as_np(x) == 0).any()
    y = tc.ones(4, 5)
    assert tc.feature_alpha_dropout_(y, 0.5, True) is y
    assert tc.alpha_dropout(tc.ones(3), 0.2, False).tolist() == [1.0, 1.0, 1.0]
    r = as_np(tc.rrelu(tc.full((1000,), -1.0), 0.1, 0.3, True))
    assert (r <= -0.1 + 1e-6).all() and (r >= -0.3 - 1e-6).all() and r.std() > 0.01


@pytest.mark.parametrize("call", [
    lambda L: L.dropout(L.ones(3), 1.5, True),
    lambda L: L.feature_dropout(L.ones(3), 0.5, True),
    lambda L: L.channel_shuffle(L.ones(2, 6, 5), 4),
    lambda L: L.pdist(L.ones(2, 3, 4)),
    lambda L: L.hann_window(3, dtype=L.int64),
    lambda L: L.cov(L.ones(2, 2, 2)),
    lambda L: L.vander(L.ones(2, 2)),
    lambda L: L.matrix_power(L.ones(2, 3), 2),
    lambda L: L.tensor_split(L.ones(4), 0),
    lambda L: L.hsplit(L.ones(3, 4), 3),
    lambda L: L.dsplit(L.ones(2, 3), 2),
    lambda L: L.vdot(L.ones(2), L.ones(2, dtype=L.float64)),
    lambda L: L.rsub(L.tensor([True]), L.tensor([True])),
])
def test_errors_where_torch_raises(call):
    with pytest.raises(RuntimeError) as theirs:
        call(torch)
    with pytest.raises(Exception) as ours:
        call(tc)
    first = str(theirs.value).split("\n")[0][:40]
    assert first.split(":")[0] in str(ours.value), f"tracecomp={ours.value} | torch={first}"


@pytest.mark.parametrize("call", [
    lambda L: L.kl_div(L.ones(2), L.ones(2), "mean"),
    lambda L: L.unravel_index(L.tensor([1.0]), (3, 4)),
])
def test_type_errors_where_torch_raises(call):
    with pytest.raises(TypeError):
        call(torch)
    with pytest.raises(TypeError):
        call(tc)


def test_pdist_channel_shuffle_and_matrix_power_in_their_own_namespaces():
    """F.pdist, F.channel_shuffle and torch.linalg.matrix_power: the same functions as the
    torch.* spellings."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = rng.standard_normal((2, 6, 2, 2)).astype(np.float32)
    a = rng.standard_normal((2, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(tc.nn.functional.pdist(tc.tensor(x), 1.5).numpy(),
                               torch.nn.functional.pdist(torch.tensor(x), 1.5).numpy(),
                               rtol=1e-6)
    np.testing.assert_array_equal(tc.nn.functional.channel_shuffle(tc.tensor(y), 3).numpy(),
                                  torch.nn.functional.channel_shuffle(torch.tensor(y), 3).numpy())
    for n in (0, 3, -2):
        np.testing.assert_allclose(tc.linalg.matrix_power(tc.tensor(a), n).numpy(),
                                   torch.linalg.matrix_power(torch.tensor(a), n).numpy(),
                                   rtol=1e-5, atol=1e-5)
