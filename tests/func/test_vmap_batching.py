"""vmap's batching rules (tracecomp/func/batching_rules.py) against torch.vmap, one case per
rule kind: the values, the per-sample gradients (vmap of grad), and that the primitives ran
on the whole batch (no per-sample fallback) where a rule exists."""
import threading

import numpy as np
import pytest
import torch
from twin import both, randn

import tracecomp as tc
from tracecomp.func import batching


def _idx(*values):
    return np.array(values, dtype=np.int64)


# name -> (per-sample function of (lib, *args), arguments, in_dims). Float arguments are
# differentiated (argnums over them); integer ones are indices or targets.
CASES = {
    "unary": (lambda lib, x: x.sin().exp() * x.tanh(), (randn(4, 3, 2),), 0),
    "broadcast": (lambda lib, x, y, z: x * y + (x - y.mean()) / (2 + z.abs()),
                  (randn(3, 4, 5), randn(5, 4, seed=1), randn(5, seed=2)), (1, 1, None)),
    "where": (lambda lib, x, y: lib.where(x > 0, x, y * 2), (randn(4, 3), randn(3, seed=1)),
              (0, None)),
    "reduce": (lambda lib, x: x.sum(1) + x.amax(0).sum() + x.prod(-1) + x.mean(),
               (randn(3, 2, 4),), 0),
    "dim_ops": (lambda lib, x: lib.cat([x.softmax(-1), x.log_softmax(0).flip(1),
                                         x.cumsum(1)], 0), (randn(4, 3, 5),), 0),
    "linalg": (lambda lib, m: lib.linalg.det(m) + lib.linalg.inv(m).sum() +
               lib.linalg.slogdet(m)[1] + lib.linalg.svdvals(m).sum() +
               lib.linalg.cholesky(m @ m.T + 4 * lib.eye(3)).sum() +
               lib.linalg.matrix_exp(m * 0.1).sum() + lib.linalg.eigh(m @ m.T)[1].abs().sum(),
               (randn(4, 3, 3),), 0),
    "fft": (lambda lib, x: lib.fft.irfft(lib.fft.rfft(x, dim=0), n=4, dim=0) +
            lib.fft.fft2(x).abs(), (randn(4, 3, 6),), 1),
    "gather": (lambda lib, x, i: x.gather(1, i), (randn(3, 2, 4), _idx([0, 3], [2, 2])),
               (0, None)),
    "matmul_matrix": (lambda lib, x, w: x @ w, (randn(4, 2, 3), randn(3, 5, seed=1)),
                      (0, None)),
    "matmul_vector": (lambda lib, v, w: (v @ w) @ v + (w @ w.T) @ w,
                      (randn(4, 3), randn(4, 3, 3, seed=1)), (0, 0)),
    "matmul_broadcast": (lambda lib, a, b: a @ b,
                         (randn(2, 5, 3, 4), randn(3, 4, 2, seed=1)), (None, 0)),
    "movement": (lambda lib, x: lib.nn.functional.pad(
        x.reshape(2, 6).t()[1:5:2].unsqueeze(0).expand(3, 2, 2), (1, 2)),
        (randn(5, 3, 4),), 0),
    "index": (lambda lib, x, i: x[i] + x[:, i].sum(), (randn(4, 3, 3), _idx(2, 0, 0)),
              (0, None)),
    "index_apart": (lambda lib, x, i: x[i, :, i], (randn(3, 2, 4, 2), _idx(1, 0)),
                    (0, None)),
    "index_batched": (lambda lib, x, i: x[i] + x[:, i].sum() + x[i, :, i].sum(),
                      (randn(3, 2, 3, 2), _idx([1, 0], [0, 0], [1, 1])), 0),
    "embedding": (lambda lib, i, w: lib.nn.functional.embedding(i, w),
                  (_idx([1, 3], [0, 0], [2, 1]), randn(5, 3)), (0, None)),
    "conv_pool": (lambda lib, x, w: lib.nn.functional.max_pool2d(
        lib.nn.functional.conv2d(x, w, padding=1), 2), (randn(3, 1, 2, 6, 6),
                                                         randn(4, 2, 3, 3, seed=1)), (0, None)),
    "conv_weights": (lambda lib, x, w: lib.nn.functional.avg_pool2d(
        lib.nn.functional.conv2d(x, w), 2), (randn(2, 5, 5), randn(3, 4, 2, 2, 2, seed=1)),
        (None, 0)),
    "nll_mean": (lambda lib, x, t: lib.nn.functional.nll_loss(x.log_softmax(-1), t),
                 (randn(4, 3, 5), _idx([0, 4, 2], [1, 1, 3], [4, 0, 0], [2, 2, 2])), 0),
    "cross_entropy_one": (lambda lib, x, t: lib.nn.functional.cross_entropy(
        x, t, ignore_index=1, reduction="sum"), (randn(4, 5), _idx(0, 1, 3, 4)), 0),
    "nll_none": (lambda lib, x, t: lib.nn.functional.nll_loss(x, t, reduction="none"),
                 (randn(3, 2, 4), _idx([1, 3], [0, 0], [2, 1])), 0),
    "mse": (lambda lib, x, y: lib.nn.functional.mse_loss(x, y),
            (randn(4, 3), randn(3, seed=1)), (0, None)),
    "composites": (lambda lib, x, w: lib.einsum("ij,kj->ik", lib.nn.functional.layer_norm(
        x, (4,)), w).logsumexp(1) + x.topk(2, dim=1).values.sum() + x.roll(1, 0).masked_fill(
        x > 0.5, 0.0).index_select(1, lib.tensor([0, 3])).sum(), (randn(5, 3, 4),
                                                               randn(2, 4, seed=1)), (0, None)),
}


def _floats(args):
    return tuple(i for i, a in enumerate(args) if a.dtype == np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_values_and_per_sample_grads(name):
    fn, args, in_dims = CASES[name]

    argnums = _floats(args)

    def run(lib, *args):
        f = lambda *a: fn(lib, *a)  # noqa: E731
        loss = lambda *a: f(*a).square().sum()  # noqa: E731
        grads = lib.func.grad(loss, argnums=argnums)
        return lib.vmap(f, in_dims)(*args), lib.vmap(grads, in_dims)(*args)
    before = sum(batching.FALLBACKS.values())
    both(run, *args)
    assert sum(batching.FALLBACKS.values()) == before, dict(batching.FALLBACKS)


def test_setitem_with_batched_indices_as_torch_per_sample():
    def put(lib, a, i):
        b = a.clone()
        b[:, i] = a[:, :2] * 2      # index tensors side by side, after a slice
        return b.square().sum()
    x, i = randn(3, 5, 4), _idx([0, 1], [2, 3], [1, 1])
    per_sample = tc.vmap(tc.func.grad(put, argnums=1), in_dims=(None, 0, 0))
    got = per_sample(tc, tc.tensor(x), tc.tensor(i))
    # torch's own vmap refuses this (its index_put rule puts the values' dims apart)
    want = torch.stack([torch.func.grad(put, argnums=1)(torch, torch.tensor(x[k]),
                                                        torch.tensor(i[k])) for k in range(3)])
    assert np.allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_grad_of_vmap_sums_each_samples_share_of_a_shared_weight():
    def run(lib, x, w, t):
        def loss(w):
            logits = lib.vmap(lambda r: lib.nn.functional.linear(r, w).relu())(x)
            return lib.nn.functional.cross_entropy(logits, t)
        return lib.func.grad(loss)(w)
    both(run, randn(6, 3), randn(4, 3, seed=1), _idx(0, 3, 1, 1, 2, 0))


def test_nested_vmap_of_grad_and_chunks():
    def run(lib, x, w):
        loss = lambda w, r: (r @ w).sin().sum()  # noqa: E731
        inner = lib.vmap(lib.func.grad(loss), in_dims=(None, 0))
        return (lib.vmap(inner, in_dims=(None, 1))(w, x),
                lib.vmap(lib.func.grad(loss), in_dims=(None, 0), chunk_size=2)(w, x[0]),
                lib.vmap(lib.vmap(lambda a, b: a @ b, in_dims=(0, None)), in_dims=(None, 1),
                         out_dims=1)(x[:, 0], w))
    both(run, randn(3, 5, 4), randn(4, 2, seed=1))


def test_compositions_with_the_other_transforms():
    def run(lib, x, w):
        f = lambda r, w: (r @ w).tanh()  # noqa: E731
        xg = x.clone().requires_grad_()
        lib.vmap(lambda r: (r @ w).exp())(xg).sum().backward()
        return (lib.vmap(lib.func.hessian(lambda r: f(r, w).sum()))(x),
                lib.func.jacrev(lambda w: lib.vmap(lambda r: f(r, w))(x))(w),
                lib.func.grad(lambda w: lib.func.grad(
                    lambda w: lib.vmap(lambda r: f(r, w))(x).sum())(w).pow(2).sum())(w),
                lib.vmap(lambda r: lib.func.vjp(lambda q: f(q, w), r)[1](lib.ones(2)))(x),
                xg.grad)
    both(run, randn(3, 4), randn(4, 2, seed=1))


def test_ensemble_of_weights_batched_together():
    def run(lib, x, w1, b1, w2):
        def model(w1, b1, w2, x):
            return lib.nn.functional.linear(lib.nn.functional.linear(x, w1, b1).relu(), w2)
        return lib.vmap(model, in_dims=(0, 0, 0, None))(w1, b1, w2, x)
    both(run, randn(5, 3), randn(2, 4, 3, seed=1), randn(2, 4, seed=2), randn(2, 2, 4, seed=3))


def test_primitive_without_rule_runs_per_sample_and_is_counted(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")
    before = batching.FALLBACKS["linalg_matrix_rank"]
    with caplog.at_level("INFO", logger="tracecomp"):
        both(lambda lib, m, v: lib.vmap(lambda a, b: lib.linalg.matrix_rank(a) * b)(m, v),
             randn(3, 4, 4), randn(3, 2, seed=1))
    assert batching.FALLBACKS["linalg_matrix_rank"] == before + 1
    assert "linalg_matrix_rank" in caplog.text and "once per sample" in caplog.text


def test_randomness_different_and_same():
    x = tc.zeros(4, 3)
    different = tc.vmap(lambda r: r + tc.rand(3), randomness="different")(x)
    same = tc.vmap(lambda r: r + tc.rand(3), randomness="same")(x)
    dropped = tc.vmap(lambda r: tc.nn.functional.dropout(r + 1, 0.5), randomness="same")(x)
    noisy = tc.vmap(lambda r: tc.bernoulli(r + 0.5), randomness="different")(tc.zeros(64, 8))
    assert different.shape == same.shape == (4, 3)
    assert len({tuple(row.tolist()) for row in different}) == 4
    assert len({tuple(row.tolist()) for row in same}) == 1
    assert len({tuple(row.tolist()) for row in dropped}) == 1
    assert len({tuple(row.tolist()) for row in noisy}) > 1
    # nested: the inner vmap's 'same' shares a draw within each outer sample only
    nested = tc.vmap(tc.vmap(lambda r: r + tc.rand(3), randomness="same"),
                     randomness="different")(tc.zeros(2, 4, 3))
    assert (nested[:, :1] == nested).all() and not (nested[0] == nested[1]).all()


def test_layout_queries_like_torch():
    def run(lib, x):
        def layout(a):
            return lib.tensor([a.is_contiguous(), a.t().is_contiguous()] + list(a.stride()))
        return lib.vmap(layout)(x), lib.vmap(layout, in_dims=1)(x)
    both(run, randn(3, 4, 6))
    seen = []
    for lib in (torch, tc):
        lib.vmap(lambda r: seen.append(repr(r)) or r, in_dims=1)(lib.ones(2, 3))
    assert seen[0].split("=", 1)[0] == seen[1].split("=", 1)[0] == "BatchedTensor(lvl"
    assert seen[0].split(",", 1)[1] == seen[1].split(",", 1)[1]     # bdim and values


def test_errors_like_torch():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="calling .item"):
            lib.vmap(lambda r: r.sum().item())(lib.ones(2, 3))
        with pytest.raises(RuntimeError, match="data-dependent control flow"):
            lib.vmap(lambda r: r if r.sum() > 0 else -r)(lib.ones(2, 3))
        with pytest.raises(RuntimeError, match="inplace arithmetic|match the broadcast shape"):
            y = lib.zeros(3)
            lib.vmap(lambda r, y=y: y.add_(r))(lib.ones(2, 3))


def test_another_threads_draws_are_not_batched():
    drawn = []

    def f(r):
        other = threading.Thread(target=lambda: drawn.append(tc.rand(3)))
        other.start()
        other.join()
        return r + tc.rand(3)
    assert tc.vmap(f, randomness="different")(tc.zeros(4, 3)).shape == (4, 3)
    assert drawn[0].shape == (3,) and isinstance(drawn[0].numpy(), np.ndarray)
