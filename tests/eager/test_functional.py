"""tracecomp.nn.functional vs torch.nn.functional 2.13: values and gradients.

Most checks are one table: each case is a call written once against a functional module
(`fn(F, *inputs)`) and run under both libraries on the same random inputs; the value and
the gradient of every float input (under a random cotangent) must match torch's.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import as_np, assert_close

RNG = np.random.default_rng(0)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def kinky(*shape):
    """Random values with the activations' kinks and bounds planted in them."""
    x = randn(*shape) * 3
    flat = x.reshape(-1)
    flat[:6] = [0.0, -1.0, 1.0, 6.0, -3.0, 3.0][:flat.size]
    return x


def ties(*shape):
    """Values on a coarse grid, so pooling windows hold equal maxima."""
    return np.round(randn(*shape) * 2).astype(np.float32) / 2


class Const(np.ndarray):
    """An input array that must not require grad (running statistics)."""


def run_both(fn, arrays, grad=True, rtol=1e-4, atol=1e-5):
    """Compare fn(F, *inputs) with fn(torch F, *inputs), then the input gradients."""
    def wants_grad(a):
        return grad and a.dtype.kind == "f" and not isinstance(a, Const)
    ours = [tc.tensor(np.asarray(a), requires_grad=wants_grad(a)) for a in arrays]
    theirs = [torch.tensor(np.asarray(a), requires_grad=wants_grad(a)) for a in arrays]
    got, want = fn(F, *ours), fn(TF, *theirs)
    assert_close(got, want, rtol, atol)
    if not (grad and want.requires_grad):
        return got, want
    cot = randn(*want.shape, dtype=as_np(want).dtype)
    (got * tc.tensor(cot)).sum().backward()
    (want * torch.tensor(cot)).sum().backward()
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            assert_close(a.grad, b.grad, rtol, atol, what=f"gradient of input {k}")
    return got, want


ACTIVATIONS = [
    ("relu", lambda f, x: f.relu(x)),
    ("relu6", lambda f, x: f.relu6(x)),
    ("hardtanh", lambda f, x: f.hardtanh(x)),
    ("hardtanh_bounds", lambda f, x: f.hardtanh(x, -3.0, 3.0)),
    ("leaky_relu", lambda f, x: f.leaky_relu(x, 0.2)),
    ("elu", lambda f, x: f.elu(x, 0.7)),
    ("selu", lambda f, x: f.selu(x)),
    ("gelu", lambda f, x: f.gelu(x)),
    ("gelu_tanh", lambda f, x: f.gelu(x, approximate="tanh")),
    ("silu", lambda f, x: f.silu(x)),
    ("mish", lambda f, x: f.mish(x)),
    ("sigmoid", lambda f, x: f.sigmoid(x)),
    ("tanh", lambda f, x: f.tanh(x)),
    ("softplus", lambda f, x: f.softplus(x)),
    ("softplus_beta", lambda f, x: f.softplus(x, beta=2.0, threshold=5.0)),
    ("logsigmoid", lambda f, x: f.logsigmoid(x)),
    ("softsign", lambda f, x: f.softsign(x)),
    ("softmax", lambda f, x: f.softmax(x, dim=-1)),
    ("softmax_0", lambda f, x: f.softmax(x, 0)),
    ("log_softmax", lambda f, x: f.log_softmax(x, dim=-1)),
    ("log_softmax_f64", lambda f, x: f.log_softmax(x, 0, dtype=torch.float64
                                                   if f is TF else tc.float64)),
]


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("name,fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation(name, fn, shape):
    run_both(fn, [kinky(*shape)])


def test_softmax_implicit_dim_warns_and_picks_torch_dim():
    x = randn(2, 3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        got = F.softmax(tc.tensor(x))
    assert_close(got, TF.softmax(torch.tensor(x), dim=0))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "silu", "relu6", "hardtanh"])
def test_inplace_activation_writes_into_input(name):
    x = kinky(3, 4)
    ours, theirs = tc.tensor(x), torch.tensor(x)
    got = getattr(F, name)(ours, inplace=True)
    getattr(TF, name)(theirs, inplace=True)
    assert got is ours
    assert_close(ours, theirs)


def test_inplace_activation_gradient_flows_through_non_leaf():
    x = kinky(3, 4)
    a, b = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.leaky_relu(a * 2, 0.1, inplace=True).sum().backward()
    TF.leaky_relu(b * 2, 0.1, inplace=True).sum().backward()
    assert_close(a.grad, b.grad)


def test_inplace_on_leaf_requiring_grad_raises():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(tc.randn(3, requires_grad=True), inplace=True)


LAYERS = [
    ("linear", lambda f, x, w, b: f.linear(x, w, b), [(4, 3), (5, 3), (5,)]),
    ("linear_3d", lambda f, x, w, b: f.linear(x, w, b), [(2, 4, 3), (5, 3), (5,)]),
    ("linear_1d_nobias", lambda f, x, w: f.linear(x, w), [(3,), (5, 3)]),
    ("conv", lambda f, x, w, b: f.conv2d(x, w, b), [(2, 3, 7, 6), (4, 3, 3, 3), (4,)]),
    ("conv_stride_pad", lambda f, x, w: f.conv2d(x, w, None, 2, 1),
     [(2, 3, 8, 7), (5, 3, 3, 2)]),
    ("conv_dilation", lambda f, x, w, b: f.conv2d(x, w, b, (1, 2), (2, 1), (2, 1)),
     [(1, 2, 9, 9), (3, 2, 3, 3), (3,)]),
    ("conv_groups", lambda f, x, w, b: f.conv2d(x, w, b, 1, 1, 1, 2),
     [(2, 4, 6, 6), (6, 2, 3, 3), (6,)]),
    ("conv_depthwise", lambda f, x, w: f.conv2d(x, w, None, 2, 0, 1, 3),
     [(2, 3, 7, 7), (3, 1, 3, 3)]),
    ("conv_same_even", lambda f, x, w: f.conv2d(x, w, padding="same"),
     [(1, 2, 6, 5), (3, 2, 4, 2)]),
    ("conv_same_dilated", lambda f, x, w: f.conv2d(x, w, padding="same", dilation=2),
     [(1, 2, 7, 7), (3, 2, 3, 3)]),
    ("conv_valid", lambda f, x, w: f.conv2d(x, w, padding="valid"), [(1, 2, 5, 5), (3, 2, 3, 3)]),
    ("conv_unbatched", lambda f, x, w, b: f.conv2d(x, w, b, padding=1),
     [(3, 5, 5), (2, 3, 3, 3), (2,)]),
    ("unfold", lambda f, x: f.unfold(x, (2, 3), 1, 1, 2), [(2, 3, 6, 7)]),
    ("unfold_unbatched", lambda f, x: f.unfold(x, 2, dilation=2), [(3, 6, 6)]),
    ("fold", lambda f, x: f.fold(x, (5, 6), 2, 1, 0, 1), [(2, 12, 20)]),
    ("fold_stride", lambda f, x: f.fold(x, 6, 3, padding=1, stride=2), [(1, 18, 9)]),
]


@pytest.mark.parametrize("name,fn,shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_linear_conv_unfold(name, fn, shapes):
    run_both(fn, [randn(*s) for s in shapes], atol=5e-5)


POOLS = [
    ("max", lambda f, x: f.max_pool2d(x, 2)),
    ("max_3_tiles", lambda f, x: f.max_pool2d(x, 3)),
    ("max_3_2_1", lambda f, x: f.max_pool2d(x, 3, 2, 1)),
    ("max_rect", lambda f, x: f.max_pool2d(x, (2, 3), (1, 2), (1, 0))),
    ("max_dilation", lambda f, x: f.max_pool2d(x, 2, 1, 1, dilation=2)),
    ("max_ceil", lambda f, x: f.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("max_ceil_no_pad", lambda f, x: f.max_pool2d(x, 2, ceil_mode=True)),
    ("max_indices", lambda f, x: f.max_pool2d(x, 3, 2, 1, 1, True, True)[0]),
    ("avg", lambda f, x: f.avg_pool2d(x, 2)),
    ("avg_rect_tiles", lambda f, x: f.avg_pool2d(x, (2, 3))),
    ("avg_pad", lambda f, x: f.avg_pool2d(x, 3, 2, 1)),
    ("avg_pad_exclude", lambda f, x: f.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    ("avg_ceil", lambda f, x: f.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("avg_ceil_exclude", lambda f, x: f.avg_pool2d(x, (3, 2), 2, (1, 1), True, False)),
    ("avg_divisor", lambda f, x: f.avg_pool2d(x, 2, 1, 1, divisor_override=3)),
    ("adaptive_divisible", lambda f, x: f.adaptive_avg_pool2d(x, (3, 1))),
    ("adaptive_general", lambda f, x: f.adaptive_avg_pool2d(x, (4, 5))),
    ("adaptive_none", lambda f, x: f.adaptive_avg_pool2d(x, (None, 2))),
    ("adaptive_int", lambda f, x: f.adaptive_avg_pool2d(x, 1)),
    ("adaptive_max", lambda f, x: f.adaptive_max_pool2d(x, (3, 4))),
    ("adaptive_max_divisible", lambda f, x: f.adaptive_max_pool2d(x, 1)),
    ("adaptive_max_none", lambda f, x: f.adaptive_max_pool2d(x, (None, 2))),
]


@pytest.mark.parametrize("shape", [(2, 3, 6, 9), (1, 2, 7, 5), (2, 7, 5)])
@pytest.mark.parametrize("name,fn", POOLS, ids=[p[0] for p in POOLS])
def test_pool(name, fn, shape):
    run_both(fn, [randn(*shape)])


@pytest.mark.parametrize("args", [(2,), (3, 2, 1), (3, 1, 1, 2), (3, 2, 1, 1, True)])
def test_max_pool_ties_send_gradient_to_first_max(args):
    run_both(lambda f, x: f.max_pool2d(x, *args), [ties(2, 2, 7, 8)])


@pytest.mark.parametrize("args", [(2,), (3, 2, 1), (3, 1, 1, 2), (3, 2, 1, 1, True)])
def test_max_pool_return_indices(args):
    x = randn(2, 3, 7, 8)
    got, got_idx = F.max_pool2d(tc.tensor(x), *args, return_indices=True)
    want, want_idx = TF.max_pool2d(torch.tensor(x), *args, return_indices=True)
    assert_close(got, want)
    assert_close(got_idx, want_idx, what="indices")


@pytest.mark.parametrize("size", [(3, 4), (2, 2), 5])
def test_adaptive_max_pool_ties_and_indices(size):
    run_both(lambda f, x: f.adaptive_max_pool2d(x, size), [ties(2, 2, 7, 8)])
    x = ties(2, 3, 7, 8)
    got, got_idx = F.adaptive_max_pool2d(tc.tensor(x), size, return_indices=True)
    want, want_idx = TF.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
    assert_close(got, want)
    assert_close(got_idx, want_idx, what="indices")


def test_batch_norm_training_updates_running_stats():
    for shape in [(6, 4), (3, 4, 5), (2, 4, 3, 3)]:
        x, w, b = randn(*shape), randn(4), randn(4)
        stats = [(tc.zeros(4), tc.ones(4)), (torch.zeros(4), torch.ones(4))]
        for step in range(2):
            run_both(lambda f, x, w, b, stats=stats: f.batch_norm(
                x, *stats[f is TF], w, b, True, 0.3, 1e-3), [x + step, w, b])
        assert_close(stats[0][0], stats[1][0], what="running_mean")
        assert_close(stats[0][1], stats[1][1], what="running_var")


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_uses_running_stats(affine):
    x, rm, rv = randn(3, 4, 5, 2), randn(4), np.abs(randn(4)) + 0.5
    params = [randn(4), randn(4)] if affine else []
    run_both(lambda f, x, rm, rv, *p: f.batch_norm(x, rm, rv, *p, training=False),
             [x, rm.view(Const), rv.view(Const)] + params)


def test_batch_norm_training_without_running_stats():
    run_both(lambda f, x: f.batch_norm(x, None, None, training=True), [randn(5, 3)])


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,norm", [((4, 6), (6,)), ((2, 3, 4), (3, 4)), ((2, 3, 5), [5])])
def test_layer_norm(shape, norm, affine):
    nshape = tuple(norm)
    params = [randn(*nshape), randn(*nshape)] if affine else []
    run_both(lambda f, x, *p: f.layer_norm(x, norm, *p, eps=1e-4), [randn(*shape)] + params)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4), 3), ((2, 4, 3, 3), 2), ((3, 4), 2)])
def test_group_norm(shape, groups):
    run_both(lambda f, x, w, b: f.group_norm(x, groups, w, b),
             [randn(*shape), randn(shape[1]), randn(shape[1])])


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"padding_idx": -1},
                                    {"scale_grad_by_freq": True},
                                    {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding(kwargs):
    idx = np.array([[0, 2, 4], [2, 2, 1]], dtype=np.int64)
    run_both(lambda f, i, w: f.embedding(i, w, **kwargs), [idx, randn(5, 3)])


def test_embedding_max_norm_renormalizes_weight_in_place():
    idx, w = np.array([1, 3, 3]), randn(5, 4) * 3
    ours, theirs = tc.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    run = [(F.embedding(tc.tensor(idx), ours, max_norm=1.5)),
           TF.embedding(torch.tensor(idx), theirs, max_norm=1.5)]
    assert_close(run[0], run[1])
    assert_close(ours, theirs, what="renormalized weight")


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,amounts", [((2, 3, 5), (1, 2)), ((2, 3, 4, 5), (2, 1, 0, 3)),
                                           ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2))])
def test_pad(mode, shape, amounts):
    run_both(lambda f, x: f.pad(x, amounts, mode), [randn(*shape)])


def test_pad_constant_value_negative_and_more_dims():
    run_both(lambda f, x: f.pad(x, (1, -1, 0, 2, 1, 1), value=2.5), [randn(2, 3, 4)])


def test_similarities_and_one_hot():
    a, b = randn(4, 5), randn(4, 5)
    a[1] = 1e-10                                       # a norm below eps
    run_both(lambda f, x, y: f.cosine_similarity(x, y), [a, b])
    run_both(lambda f, x, y: f.cosine_similarity(x, y, dim=-1, eps=0.5), [a, b[:1]])
    run_both(lambda f, x: f.normalize(x), [a])
    run_both(lambda f, x: f.normalize(x, p=1.0, dim=0), [a])
    run_both(lambda f, x, y: f.pairwise_distance(x, y), [a, b])
    run_both(lambda f, x, y: f.pairwise_distance(x, y, 1.0, keepdim=True), [a, b])
    run_both(lambda f, i: f.one_hot(i, 6), [np.array([[0, 5], [3, 3]])])


def test_dropout():
    x = tc.ones(200, 500, requires_grad=True)
    y = F.dropout(x, 0.3)
    kept = as_np(y) != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(as_np(y)[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(as_np(x.grad), kept / 0.7, rtol=1e-6)
    assert F.dropout(x, 0.3, training=False) is x
    assert_close(F.dropout(x, 0.0), x)
    zeros = F.dropout(x, 1.0)
    assert not as_np(zeros).any() and zeros.requires_grad


def test_dropout2d_drops_whole_channels():
    y = as_np(F.dropout2d(tc.ones(50, 40, 3, 3), 0.5))
    per_channel = y.reshape(50, 40, -1)
    assert ((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all()
    assert abs((per_channel[..., 0] == 0).mean() - 0.5) < 0.05


def test_dropout_inplace_writes_input():
    x = tc.ones(10, 10)
    assert F.dropout(x, 0.5, inplace=True) is x
    assert set(np.unique(as_np(x))) <= {0.0, 2.0}


def raises_like_torch(fn, *arrays):
    """Both libraries raise the same exception class with the same message."""
    with pytest.raises(Exception) as theirs:
        fn(TF, *[torch.tensor(a) for a in arrays])
    with pytest.raises(type(theirs.value)) as ours:
        fn(F, *[tc.tensor(a) for a in arrays])
    assert str(theirs.value) in str(ours.value), f"tracecomp={ours.value} | torch={theirs.value}"


ERRORS = [
    ("conv_channels", lambda f, x, w: f.conv2d(x, w), [(2, 4, 10, 10), (8, 3, 3, 3)]),
    ("conv_groups", lambda f, x, w: f.conv2d(x, w, groups=2), [(2, 4, 10, 10), (3, 2, 3, 3)]),
    ("conv_kernel_too_big", lambda f, x, w: f.conv2d(x, w), [(2, 3, 2, 2), (8, 3, 3, 3)]),
    ("conv_2d_input", lambda f, x, w: f.conv2d(x, w), [(3, 5), (8, 3, 3, 3)]),
    ("conv_same_strided", lambda f, x, w: f.conv2d(x, w, stride=2, padding="same"),
     [(2, 3, 5, 5), (8, 3, 3, 3)]),
    ("pool_pad", lambda f, x: f.max_pool2d(x, 3, padding=2), [(1, 1, 5, 5)]),
    ("avg_pool_pad", lambda f, x: f.avg_pool2d(x, 3, padding=2), [(1, 1, 5, 5)]),
    ("pool_too_small", lambda f, x: f.max_pool2d(x, 3), [(1, 1, 2, 2)]),
    ("pool_zero_stride", lambda f, x: f.max_pool2d(x, 2, 0), [(1, 1, 4, 4)]),
    ("linear", lambda f, x, w: f.linear(x, w), [(4, 3), (2, 5)]),
    ("linear_3d", lambda f, x, w: f.linear(x, w), [(2, 4, 3), (2, 5)]),
    ("layer_norm", lambda f, x: f.layer_norm(x, [4]), [(2, 3)]),
    ("group_norm", lambda f, x: f.group_norm(x, 4), [(2, 6, 4)]),
    ("batch_norm_size", lambda f, x, m, v: f.batch_norm(x, m, v, training=True),
     [(4, 3), (4,), (4,)]),
    ("dropout_p", lambda f, x: f.dropout(x, 1.5), [(3,)]),
    ("gelu", lambda f, x: f.gelu(x, approximate="foo"), [(3,)]),
    ("pad_odd", lambda f, x: f.pad(x, (1, 2, 3)), [(1, 1, 3, 3)]),
    ("pad_long", lambda f, x: f.pad(x, (1, 1, 1, 1, 1, 1)), [(3, 3)]),
    ("pad_reflect_size", lambda f, x: f.pad(x, (3, 3, 0, 0), "reflect"), [(1, 1, 3, 3)]),
    ("pad_mode_dims", lambda f, x: f.pad(x, (1, 1), "reflect"), [(1, 1, 3, 3)]),
    ("pad_mode", lambda f, x: f.pad(x, (1, 1), "bogus"), [(1, 1, 3, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn, shapes):
    raises_like_torch(fn, *[randn(*s) for s in shapes])


def test_embedding_errors_match_torch():
    w = randn(5, 3)
    raises_like_torch(lambda f, i, w: f.embedding(i, w), np.array([1, 7]), w)
    raises_like_torch(lambda f, i, w: f.embedding(i, w), np.array([-1]), w)
    raises_like_torch(lambda f, i, w: f.embedding(i, w, padding_idx=5), np.array([1]), w)
    with pytest.raises(RuntimeError, match="'indices' to have one of the following scalar"):
        F.embedding(tc.tensor([1.0]), tc.tensor(w))


def test_batch_norm_one_value_per_channel_raises():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.batch_norm(tc.randn(1, 3), tc.zeros(3), tc.ones(3), training=True)


def test_conv_dtype_mismatch_raises():
    with pytest.raises(RuntimeError, match="expected scalar type Double but found Float"):
        F.conv2d(tc.randn(1, 1, 3, 3, dtype=tc.float64), tc.randn(1, 1, 2, 2))


def central_difference_check(fn, arrays, eps=1e-6):
    """float64: the tape's directional derivative vs central differences along a random
    direction, for every input."""
    inputs = [tc.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    cot = RNG.standard_normal(tuple(out.shape))
    (out * tc.tensor(cot)).sum().backward()
    for k, x in enumerate(inputs):
        direction = RNG.standard_normal(arrays[k].shape)
        def loss(shift, k=k, direction=direction):
            moved = [tc.tensor(a + shift * direction if j == k else a)
                     for j, a in enumerate(arrays)]
            return float((as_np(fn(*moved)) * cot).sum())
        numeric = (loss(eps) - loss(-eps)) / (2 * eps)
        analytic = float((as_np(x.grad) * direction).sum())
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)), \
            f"input {k}: tape={analytic!r} | central difference={numeric!r}"


def test_conv2d_central_differences():
    central_difference_check(lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 2),
                             [randn(2, 4, 5, 5, dtype=np.float64),
                              randn(6, 2, 3, 3, dtype=np.float64),
                              randn(6, dtype=np.float64)])


def test_max_pool2d_central_differences():
    # distinct values, so the maximum is locally unique and the derivative exists
    x = RNG.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6).astype(np.float64) / 7
    central_difference_check(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [x])

