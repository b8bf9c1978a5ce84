"""Native index maps: argmax/argmin (numpy's first-max and NaN rules), gather by an argmax
(max pooling), and reshapes matched dim group by dim group."""
import re

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F
from tracecomp.codegen.index_maps import reshape_groups


@pytest.mark.parametrize("which", ["argmax", "argmin"])
def test_arg_extremum_ties_and_nans_like_numpy(which):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [np.nan, 2.0, np.nan, 5.0], [2.0, 2.0, 2.0, 2.0],
                  [-np.inf, -np.inf, 0.0, np.inf]], np.float32)
    f = tc.compile(lambda t: getattr(t, which)(dim=1, keepdim=True) * 1)
    np.testing.assert_array_equal(f(tc.tensor(x)).numpy(),
                                  getattr(np, which)(x, axis=1)[:, None])
    assert f"{which}: a kernel of its own (no native lowering)" not in f.fusion_log["forward"]


@pytest.mark.parametrize("shape,kernel,stride", [((2, 3, 8, 8), 2, 2), ((1, 2, 7, 9), 3, 2),
                                                 ((2, 1, 6, 6), 2, 1)])
def test_max_pool_is_native_and_exact(shape, kernel, stride):
    x = tc.tensor(np.round(np.random.default_rng(0).standard_normal(shape) * 2) / 2,
                  dtype=tc.float32, requires_grad=True)           # ties in the windows
    f = tc.compile(lambda t: F.max_pool2d(t.relu(), kernel, stride))
    got = f(x)
    want = F.max_pool2d(x.relu(), kernel, stride)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    cot = tc.randn(*want.shape)
    gx = tc.autograd.grad(got, x, cot)[0]
    wx = tc.autograd.grad(want, x, cot)[0]
    np.testing.assert_array_equal(gx.numpy(), wx.numpy())     # one element per window
    forward = f.fusion_log["forward"]
    assert "gather: a kernel of its own (no native lowering)" not in forward
    assert "argmax: a kernel of its own (no native lowering)" not in forward


def test_gather_with_arbitrary_indices_keeps_the_checked_numpy_path():
    f = tc.compile(lambda x, i: x.gather(1, i))
    x, i = tc.randn(3, 4), tc.tensor([[0], [3], [1]])
    np.testing.assert_array_equal(f(x, i).numpy(), x.gather(1, i).numpy())
    assert "gather: a kernel of its own (no native lowering)" in f.fusion_log["forward"]
    with pytest.raises(Exception, match="out of bounds"):
        f(x, tc.tensor([[0], [9], [1]]))


@pytest.mark.parametrize("out,inp", [((64, 6, 4, 196), (64, 24, 196)), ((6,), (2, 3)),
                                     ((2, 1, 3, 1), (6,)), ((2, 3, 4), (4, 3, 2)),
                                     ((), (1, 1)), ((4, 6), (2, 2, 3, 2))])
def test_reshape_groups_cover_both_shapes_with_equal_products(out, inp):
    groups = reshape_groups(out, inp)
    assert [d for o, _ in groups for d in o] == list(range(len(out)))
    assert [d for _, i in groups for d in i] == list(range(len(inp)))
    for o, i in groups:
        assert np.prod([out[d] for d in o]) == np.prod([inp[d] for d in i])
    x = tc.randn(*inp)
    f = tc.compile(lambda t: (t * 2).reshape(out) + 1)
    np.testing.assert_allclose(f(x).numpy(), ((x * 2).reshape(out) + 1).numpy(), rtol=1e-6)


def test_batched_matmul_reads_transposes_as_views_and_pool_backward_is_native():
    conv = tc.nn.Conv2d(2, 3, 3)
    x = tc.randn(4, 2, 8, 8)

    def step(x):        # backward inside: the pool's argmax is in the same graph
        F.max_pool2d(conv(x).relu(), 2).sum().backward()

    f = tc.compile(step)
    f(x)
    got = conv.weight.grad.numpy().copy()
    conv.weight.grad = None
    step(x)
    np.testing.assert_allclose(got, conv.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    backward = f.fusion_log["forward"]
    assert "scatter_add: a kernel of its own (no native lowering)" not in backward
    assert not any(line.startswith("kernel") and line.endswith(": %0 permute")
                   for line in backward.splitlines())


@pytest.mark.parametrize("shapes", [((16, 15), (6, 15, 10)), ((6, 4, 15), (15, 10)),
                                    ((6, 4, 15), (6, 15, 10)), ((2, 3, 4, 5), (2, 3, 5, 6))])
def test_batched_matmul_runs_as_a_loop_of_gemms(shapes):
    a, b = (tc.randn(*s, requires_grad=True) for s in shapes)
    f = tc.compile(lambda a, b: (a @ b).relu())
    got = f(a, b)
    want = (a @ b).relu()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert "gemm(" in f.fusion_log["forward"]
    assert "matmul (numpy, between native calls)" not in f.fusion_log["forward"]
    cot = tc.randn(*want.shape)
    for g, w in zip(tc.autograd.grad(got, (a, b), cot), tc.autograd.grad(want, (a, b), cot)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5)


def test_pool_backward_is_native_with_a_separate_backward_graph_too():
    conv = tc.nn.Conv2d(2, 3, 3)
    x = tc.randn(4, 2, 8, 8)
    f = tc.compile(lambda x: F.max_pool2d(conv(x).relu(), 2).sum())
    f(x).backward()              # the argmax reaches the backward as a saved input
    got = conv.weight.grad.numpy().copy()
    conv.weight.grad = None
    F.max_pool2d(conv(x).relu(), 2).sum().backward()
    np.testing.assert_allclose(got, conv.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert "scatter_add: a kernel of its own (no native lowering)" \
        not in f.fusion_log["backward"]


def test_an_embedding_lookup_is_a_native_load_and_matches_torch():
    import torch
    tc.manual_seed(0)
    emb = tc.nn.Embedding(50, 8, padding_idx=3)
    ref = torch.nn.Embedding(50, 8, padding_idx=3)
    ref.weight.data = torch.tensor(emb.weight.detach().numpy().copy())
    idx = np.random.default_rng(0).integers(0, 50, (4, 7))
    idx[0, 0] = 3
    f = tc.compile(lambda i: (emb(i) * 2.0).sum(-1))
    got, want = f(tc.tensor(idx)), (ref(torch.tensor(idx)) * 2.0).sum(-1)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(emb.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-6)
    forward = f.fusion_log["forward"]
    assert re.search(r"%\d+ index fused into", forward), forward      # read in the kernel
    assert "index: a kernel of its own" not in forward


def test_rows_by_input_indices_are_checked_first_then_loaded_natively():
    f = tc.compile(lambda x, i: x[i] * 2.0)
    x, i = tc.randn(6, 3), tc.tensor(np.array([5, 0, -1, -6]))    # negative: from the end
    np.testing.assert_allclose(f(x, i).numpy(), x.numpy()[[5, 0, -1, -6]] * 2.0, rtol=1e-6)
    forward = f.fusion_log["forward"]
    assert "index: input %i's bounds checked before the native code" in forward, forward
    assert re.search(r"%\d+ index fused into", forward), forward
    for bad in (6, -7):
        with pytest.raises(IndexError) as compiled_error:
            f(x, tc.tensor(np.array([1, bad])))
        with pytest.raises(IndexError) as eager_error:
            x[tc.tensor(np.array([1, bad]))]
        assert str(eager_error.value) in str(compiled_error.value)
    # indices the graph computes are not checked first: numpy's lookup checks them
    g = tc.compile(lambda x, i: x[i * 2] * 2.0)
    np.testing.assert_allclose(g(x, tc.tensor(np.array([2, -1]))).numpy(),
                               x.numpy()[[4, -2]] * 2.0, rtol=1e-6)
    assert "index: a kernel of its own (no native lowering)" in g.fusion_log["forward"]
    with pytest.raises(IndexError):
        g(x, tc.tensor(np.array([3, 0])))
    # rows picked by an argmax over a dim of x's row count are rows by construction
    rows = tc.compile(lambda t, s: t[s.argmax(1)] * 2.0)
    s = tc.randn(4, 6)
    np.testing.assert_allclose(rows(x, s).numpy(), x.numpy()[s.numpy().argmax(1)] * 2.0,
                               rtol=1e-6)
    assert "index: a kernel of its own" not in rows.fusion_log["forward"]
