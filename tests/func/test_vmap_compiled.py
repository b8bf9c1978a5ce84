"""vmap inside tracecomp.compile runs the batching rules into the graph: compiled results
against torch.func (eager torch, the oracle) for in_dims/out_dims, nested vmap, vmap(grad)
with functional_call, grad of a vmap and randomness; the traced graph's size does not grow
with the batch; a primitive without a rule is unrolled per sample, that primitive alone."""
import numpy as np
import pytest
import torch
from twin import convert, randn, same_tree

import tracecomp as tc
from tracecomp.func import batching


def compiled_vs_torch(fn, *args, rtol=1e-4, atol=1e-5):
    """fn(lib, *args) compiled with tracecomp (interp backend: the graph as traced) and run
    by eager torch; compared; returns tracecomp's compiled function."""
    compiled = tc.compile(lambda *a: fn(tc, *a), backend="interp", fullgraph=True)
    same_tree(compiled(*convert(tc, args)), fn(torch, *convert(torch, args)), rtol, atol)
    return compiled


def traced_nodes(compiled):
    return len(compiled.graphs["traced"].nodes)


CASES = {
    "in_dims_tuple": (lambda lib, x, y: lib.vmap(lambda a, b: (a * b).sin(), in_dims=(1, None))(
        x, y), (randn(3, 5, 4), randn(3, 4, seed=1))),
    "negative_dims": (lambda lib, x: lib.vmap(lambda a: a.cumsum(0) @ a.T, in_dims=-1,
                                              out_dims=-1)(x), (randn(3, 4, 6),)),
    "out_dims_tree": (lambda lib, x, y: lib.vmap(lambda a, b: (a + b, a.sum(), b * 2),
                                                 in_dims=(0, None), out_dims=(1, 0, None))(x, y),
                      (randn(5, 3, 2), randn(3, 2, seed=1))),
    "dict_in": (lambda lib, d: lib.vmap(lambda p: p["w"] @ p["b"], in_dims=({"w": 0, "b": None},))(
        d), ({"w": randn(6, 3, 4), "b": randn(4, seed=1)},)),
    "nested": (lambda lib, x, y: lib.vmap(lambda a: lib.vmap(lambda b: (a * b).softmax(-1),
                                                             in_dims=1)(y))(x),
               (randn(4, 3), randn(3, 5, seed=1))),
    "chunk_size": (lambda lib, x: lib.vmap(lambda a: a.exp().sum(0), chunk_size=3)(x),
                   (randn(7, 4, 2),)),
    "solve": (lambda lib, a, b: lib.vmap(lambda m, v: lib.linalg.solve(m, v))(a, b),
              (randn(4, 3, 3) + 3 * np.eye(3, dtype=np.float32), randn(4, 3, 2, seed=1))),
    "solve_shared_matrix": (lambda lib, a, b: lib.vmap(lib.func.grad(
        lambda v, m: lib.linalg.solve(m, v.exp()).sum()), in_dims=(0, None))(b, a),
        (randn(3, 3) + 3 * np.eye(3, dtype=np.float32), randn(5, 3, 2, seed=1))),
    "solve_triangular": (lambda lib, a, b: lib.vmap(lambda m, v: lib.linalg.solve_triangular(
        m, v, upper=True), in_dims=(None, 1))(a, b),
        (np.triu(randn(3, 3)) + 3 * np.eye(3, dtype=np.float32), randn(3, 4, 2, seed=1))),
    "cholesky_solve": (lambda lib, a, b: lib.vmap(lambda m, v: lib.cholesky_solve(
        v, lib.linalg.cholesky(m @ m.mT + lib.eye(3))))(a, b),
        (randn(4, 3, 3), randn(4, 3, 2, seed=1))),
    "searchsorted": (lambda lib, s, v, w: (
        lib.vmap(lambda a, b: lib.searchsorted(a, b))(s, v),
        lib.vmap(lambda b: lib.searchsorted(s[0], b, right=True))(v),
        lib.vmap(lambda a, b: lib.searchsorted(a, b), in_dims=(0, None))(s, v[0]),
        lib.vmap(lambda a, b: lib.searchsorted(a, b))(w.exp().cumsum(-1), v[:, None, :].expand(
            5, 2, 3))),
        (np.sort(randn(5, 6), -1), randn(5, 3, seed=1), randn(5, 2, 6, seed=2))),
    "in_place": (lambda lib, x: lib.vmap(lib.func.grad(
        lambda a: _set_row(a.clone().mul_(a), a[1] * a[2]).sin().sum()))(x), (randn(4, 3, 5),)),
    "index_and_loss": (lambda lib, x, t: lib.vmap(
        lambda a, k: lib.nn.functional.cross_entropy(a[1:], k[1:]))(x, t),
        (randn(4, 5, 3), np.array([[0, 1, 2, 0, 1]] * 4, dtype=np.int64))),
}


def _set_row(t, row):
    t[0] = row
    return t


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_vmap_matches_torch(name):
    fn, args = CASES[name]
    compiled_vs_torch(fn, *args)


def test_graph_size_does_not_grow_with_batch():
    def fn(lib, x, w):
        return lib.vmap(lib.func.grad(lambda w, a: (a @ w).tanh().square().sum()),
                        in_dims=(None, 0))(w, x)
    sizes = [traced_nodes(compiled_vs_torch(fn, randn(b, 3), randn(3, 2, seed=1)))
             for b in (2, 16, 64)]
    assert sizes[0] == sizes[1] == sizes[2], f"traced nodes per batch 2, 16, 64: {sizes}"


def _cnn(lib):
    lib.manual_seed(0)
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5), nn.LogSoftmax(dim=1))


def test_per_sample_grads_with_functional_call_match_torch_func():
    ours, ref = _cnn(tc), _cnn(torch)
    ours.load_state_dict({k: tc.tensor(v.numpy()) for k, v in ref.state_dict().items()})

    def per_sample(lib, model):
        def loss(params, x, t):
            out = lib.func.functional_call(model, params, (x.unsqueeze(0),))
            return lib.nn.functional.nll_loss(out, t.unsqueeze(0))
        return lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))
    x, t = randn(6, 1, 8, 8), np.arange(6, dtype=np.int64) % 5
    compiled = tc.compile(per_sample(tc, ours))
    params = {k: v.detach() for k, v in ours.named_parameters()}
    got = compiled(params, tc.tensor(x), tc.tensor(t))
    want = per_sample(torch, ref)({k: v.detach() for k, v in ref.named_parameters()},
                                  torch.tensor(x), torch.tensor(t))
    same_tree(got, want)
    assert got["4.weight"].shape == (6, 5, 36)


def test_model_ensemble_with_stacked_state_matches_torch():
    torch.manual_seed(0)
    refs = [torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
            for _ in range(5)]
    ours = [tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3))
            for _ in range(5)]
    for m, r in zip(ours, refs):
        m.load_state_dict({k: tc.tensor(v.numpy()) for k, v in r.state_dict().items()})

    def ensemble(lib, models, x, compile_it):
        params, buffers = lib.func.stack_module_state(models)

        def one(p, b, xb):
            return lib.func.functional_call(models[0], (p, b), (xb,))
        run = lib.vmap(one, in_dims=(0, 0, None))
        out = (tc.compile(run) if compile_it else run)(params, buffers, x)
        out.square().sum().backward()       # gradients reach the stacked parameters
        return out, {k: v.grad for k, v in params.items()}
    x = randn(7, 4)
    same_tree(ensemble(tc, ours, tc.tensor(x), True), ensemble(torch, refs, torch.tensor(x), False))


def test_grad_of_compiled_vmap_trains_like_torch():
    def step(lib, x, w):
        w = w.clone().requires_grad_()
        y = lib.vmap(lambda a: (a @ w).tanh().sum())(x)
        y.square().sum().backward()
        return w.grad, lib.func.grad(lambda w: lib.vmap(lambda a: (a @ w).exp().mean())(x)
                                     .sum())(w.detach())
    compiled_vs_torch(step, randn(5, 3), randn(3, 2, seed=1))


def test_randomness_different_draws_per_sample_in_one_graph():
    def fn(lib, x):
        return lib.vmap(lambda a: a + lib.rand(3) + lib.randn_like(a), randomness="different")(x)
    compiled = tc.compile(lambda x: fn(tc, x), backend="interp")
    tc.manual_seed(0)       # (the bounds below are 5 standard errors wide)
    small, large = compiled(tc.zeros(4, 3)), compiled(tc.zeros(4000, 3))
    assert small.shape == (4, 3) and len(set(small[:, 0].tolist())) == 4
    # uniform(0, 1) + normal(0, 1): mean 0.5, variance 1/12 + 1, per sample independent
    assert abs(large.mean().item() - 0.5) < 0.05
    assert abs(large.var().item() - (1 / 12 + 1)) < 0.08
    counts = []
    for b in (4, 64):
        c = tc.compile(lambda x: fn(tc, x), backend="interp")
        c(tc.zeros(b, 3))
        counts.append(traced_nodes(c))
    assert counts[0] == counts[1]


def test_randomness_error_raises_when_compiled_as_torch():
    def fn(lib, x):
        return lib.vmap(lambda a: a * lib.rand(3))(x)
    with pytest.raises(RuntimeError, match="randomness error mode") as theirs:
        fn(torch, torch.ones(2, 3))
    with pytest.raises(RuntimeError, match="randomness error mode") as ours:
        tc.compile(lambda x: fn(tc, x))(tc.ones(2, 3))
    assert str(ours.value) == str(theirs.value)


def test_primitive_without_rule_is_unrolled_alone_inside_compile():
    def fn(lib, a, b):
        return lib.vmap(lambda m, v: lib.linalg.matrix_rank(m.exp()) * v.sin())(a, b)
    before = batching.FALLBACKS["linalg_matrix_rank"]
    compiled = compiled_vs_torch(fn, randn(5, 3, 3), randn(5, 3, seed=1))
    assert batching.FALLBACKS["linalg_matrix_rank"] > before
    ops = [n.op for n in compiled.graphs["traced"].nodes]
    assert ops.count("linalg_matrix_rank") == 5 and ops.count("sin") == 1 and \
        ops.count("exp") == 1


def test_compiled_training_after_an_eager_grad_of_vmap():
    # the eager backward brings cotangents into an ended vmap's batch, which leaves the
    # batching hook armed: traced code outside any vmap must keep the graph's autodiff
    w = tc.randn(3, requires_grad=True)
    tc.vmap(lambda a: (a * w).sum())(tc.randn(4, 3)).sum().backward()

    def step(lib, x, w):
        w = w.clone().requires_grad_()
        (x @ w).tanh().sum().backward()
        return w.grad
    compiled_vs_torch(step, randn(5, 3), randn(3, 2, seed=1))


def _scaled_pair(lib):
    """A custom Function with two outputs whose backward reduces over a sample (a rule that
    ran the user's backward on the whole batch as one sample would sum across samples)."""
    class ScaledPair(lib.autograd.Function):
        generate_vmap_rule = True       # torch's flag; tracecomp batches every Function

        @staticmethod
        def forward(x, w):
            return x * w.sum(), x.exp()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g0, g1):
            x, w = ctx.saved_tensors
            return g0 * w.sum() + g1 * x.exp(), (g0 * x).sum() * lib.ones_like(w)
    return ScaledPair


def test_custom_function_batched_in_eager_and_compiled_vmap():
    def fn(lib, x, w):
        pair = _scaled_pair(lib)

        def f(a, v):
            y, z = pair.apply(a, v)
            return (y.sin() * z).sum()
        per_sample = lib.vmap(lib.func.grad(f, argnums=(0, 1)))(x, w)
        whole = lib.func.grad(lambda x, w: lib.vmap(f)(x, w).square().sum(), argnums=(0, 1))(
            x, w)
        return per_sample, whole, lib.vmap(f, in_dims=(0, None))(x, w[0])
    before = batching.FALLBACKS["custom_vjp"]
    args = randn(4, 3), randn(4, 2, seed=1)
    same_tree(fn(tc, *convert(tc, args)), fn(torch, *convert(torch, args)))
    compiled_vs_torch(fn, *args)
    assert batching.FALLBACKS["custom_vjp"] == before


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_recurrent_layer_batched_and_per_sample_grads_against_torch(mode):
    """torch.vmap has no rule for its fused recurrent layers: the oracle is torch per
    sample (outputs, and autograd.grad of each sample's loss for the parameters). Eagerly
    the layer is one rnn_scan (its rule folds the batch in); compiled, its steps unroll."""
    ref = getattr(torch.nn, mode)(3, 4, num_layers=2, bidirectional=True)
    ours = getattr(tc.nn, mode)(3, 4, num_layers=2, bidirectional=True)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    x = randn(4, 5, 2, 3)

    def loss(lib, model):
        return lambda p, a: lib.func.functional_call(model, p, (a,))[0].square().sum()
    want = torch.stack([ref(a)[0] for a in torch.tensor(x)]).detach()
    per_sample = [torch.autograd.grad(loss(torch, ref)(dict(ref.named_parameters()), a),
                                      list(ref.parameters())) for a in torch.tensor(x)]
    params = {k: v.detach() for k, v in ours.named_parameters()}
    run = tc.vmap(lambda a: ours(a)[0])
    grads = tc.vmap(tc.func.grad(loss(tc, ours)), in_dims=(None, 0))
    before = batching.FALLBACKS["rnn_scan"]
    for wrap in (lambda f: f, tc.compile):
        got = wrap(run)(tc.tensor(x))
        same_tree(got, want.requires_grad_(got.requires_grad))
        got = wrap(grads)(params, tc.tensor(x))
        for (name, _), g in zip(ref.named_parameters(), zip(*per_sample)):
            same_tree(got[name], torch.stack(g), what=name)
    assert batching.FALLBACKS["rnn_scan"] == before


def test_recurrent_ensemble_with_per_model_weights_runs_per_sample():
    refs = [torch.nn.GRU(3, 4) for _ in range(3)]
    ours = [tc.nn.GRU(3, 4) for _ in range(3)]
    for o, r in zip(ours, refs):
        o.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in r.state_dict().items()})
    params, buffers = tc.func.stack_module_state(ours)
    x = randn(5, 2, 3)

    def one(p, b, a):
        return tc.func.functional_call(ours[0], (p, b), (a,))[0]
    want = torch.stack([r(torch.tensor(x))[0] for r in refs]).detach()
    before = batching.FALLBACKS["rnn_scan"]
    for wrap in (lambda f: f, tc.compile):
        got = wrap(tc.vmap(one, in_dims=(0, 0, None)))(params, buffers, tc.tensor(x))
        same_tree(got, want.requires_grad_(got.requires_grad))
    assert batching.FALLBACKS["rnn_scan"] == before + 1   # weights batched: per model, eagerly


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_loss_batched_against_torch_per_sample(reduction):
    """ctc_loss and its gradient under vmap, eager and compiled, against torch per sample
    (torch.vmap's fallback cannot stack ctc's per-sample workspaces); lengths as tensors
    batched with the samples, and as a Python tuple the same for all."""
    rng = np.random.default_rng(0)
    lp = rng.standard_normal((3, 6, 2, 5)).astype(np.float32)
    targets = rng.integers(1, 5, (3, 2, 3))
    input_lengths, target_lengths = np.array([[6, 5]] * 3), np.array([[3, 2], [1, 3], [2, 2]])

    def loss(lib):
        F = lib.nn.functional
        return lambda a, t, i, k: F.ctc_loss(a.log_softmax(-1), t, i, k, reduction=reduction)

    def fn(lib, lp, targets, input_lengths, target_lengths):
        f = loss(lib)
        tuple_lengths = lib.vmap(lambda a, t: f(a, t, (6, 4), (3, 2)))(lp, targets)
        return (lib.vmap(f)(lp, targets, input_lengths, target_lengths), tuple_lengths,
                lib.vmap(lib.func.grad(lambda *a: f(*a).sum()))(lp, targets, input_lengths,
                                                                 target_lengths))
    f = loss(torch)
    samples = list(zip(*(torch.tensor(a) for a in (lp, targets, input_lengths,
                                                   target_lengths))))
    want = (torch.stack([f(*s) for s in samples]),
            torch.stack([f(a, t, (6, 4), (3, 2)) for a, t, _, _ in samples]),
            torch.stack([torch.func.grad(lambda *a: f(*a).sum())(*s) for s in samples]))
    before = batching.FALLBACKS["ctc_loss"] + batching.FALLBACKS["ctc_loss_backward"]
    args = convert(tc, (lp, targets, input_lengths, target_lengths))
    for got in (fn(tc, *args), tc.compile(lambda *a: fn(tc, *a))(*args)):
        same_tree(tuple(g.detach() for g in got), want)
    assert batching.FALLBACKS["ctc_loss"] + batching.FALLBACKS["ctc_loss_backward"] == before
