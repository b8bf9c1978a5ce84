"""The core computations of pytorch/tutorials' torch.func tutorials (per_sample_grads,
ensembling, jacobians_hessians, neural_tangent_kernels), written here at small sizes and
run under tracecomp and torch with the same weights and data: the numbers must agree to
float32 rounding. Plus functional_call's own behaviour (tied weights, strict, restore)."""
import copy
import warnings

import numpy as np
import pytest
import torch
from twin import convert, randn, same_tree

import tracecomp as tc


class Twin:
    """The same small network built in both libraries, with the same weights."""

    def __init__(self, build, seed=0):
        self.tc, self.torch = build(tc), build(torch)
        rng = np.random.default_rng(seed)
        with torch.no_grad(), tc.no_grad():
            for (_, p_tc), (_, p_t) in zip(self.tc.named_parameters(),
                                           self.torch.named_parameters()):
                value = (rng.standard_normal(tuple(p_t.shape)) * 0.3).astype(np.float32)
                p_t.copy_(torch.tensor(value))
                p_tc.copy_(tc.tensor(value))

    def of(self, lib):
        return self.tc if lib is tc else self.torch


def small_cnn(lib):
    nn = lib.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4 * 3 * 3, 5)

        def forward(self, x):
            x = lib.nn.functional.max_pool2d(self.conv1(x).relu(), 2)
            return lib.nn.functional.log_softmax(self.fc(lib.flatten(x, 1)), dim=1)
    return SmallCNN()


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def test_per_sample_grads_cnn():
    nets = Twin(small_cnn)

    def run(lib, data, targets):
        model = nets.of(lib)
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}

        def compute_loss(params, buffers, sample, target):
            preds = lib.func.functional_call(model, (params, buffers), (sample.unsqueeze(0),))
            return lib.nn.functional.nll_loss(preds, target.unsqueeze(0))
        per_sample = lib.vmap(lib.func.grad(compute_loss), in_dims=(None, None, 0, 0))(
            params, buffers, data, targets)
        by_hand = [lib.autograd.grad(compute_loss(params_rg, buffers, data[i], targets[i]),
                                     list(params_rg.values()))
                   for params_rg in [{k: v.requires_grad_() for k, v in
                                      {k: v.clone() for k, v in params.items()}.items()}]
                   for i in range(data.shape[0])]
        return per_sample, [lib.stack(g) for g in zip(*by_hand)]
    targets = np.array([1, 4, 0, 2], dtype=np.int64)
    (ours, ours_hand), _ = both_run(run, randn(4, 1, 8, 8), targets)
    for k, hand in zip(ours, ours_hand):       # vmap(grad) against per-sample backward
        np.testing.assert_allclose(ours[k].numpy(), hand.numpy(), rtol=1e-5, atol=1e-6)


def both_run(run, *args):
    ours, theirs = run(tc, *convert(tc, args)), run(torch, *convert(torch, args))
    same_tree(ours, theirs)
    return ours, theirs


def test_ensembling_with_stack_module_state():
    nets = [Twin(mlp, seed=s) for s in range(3)]

    def run(lib, minibatches):
        models = [n.of(lib) for n in nets]
        params, buffers = lib.func.stack_module_state(models)
        base = copy.deepcopy(models[0])

        def fmodel(params, buffers, x):
            return lib.func.functional_call(base, (params, buffers), (x,))
        return (lib.vmap(fmodel)(params, buffers, minibatches),
                lib.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatches[0]),
                {k: (tuple(v.shape), v.requires_grad) for k, v in params.items()})
    both_run(run, randn(3, 5, 6))


def test_jacobians_and_hessians_of_a_small_mlp():
    nets = Twin(mlp)

    def run(lib, x, xs):
        model = nets.of(lib)
        params = {k: v.detach() for k, v in model.named_parameters()}
        f = lambda p, x: lib.func.functional_call(model, p, (x,))  # noqa: E731
        scalar = lambda x: f(params, x).pow(2).sum()  # noqa: E731
        return (lib.func.jacrev(f)(params, x), lib.func.jacfwd(f, argnums=1)(params, x),
                lib.func.hessian(scalar)(x),
                lib.vmap(lib.func.jacrev(f, argnums=1), in_dims=(None, 0))(params, xs),
                lib.vmap(lib.func.hessian(scalar))(xs))
    both_run(run, randn(6), randn(4, 6, seed=1))


def test_empirical_ntk_both_methods():
    nets = Twin(mlp)

    def run(lib, x1, x2):
        model = nets.of(lib)
        params = {k: v.detach() for k, v in model.named_parameters()}

        def single(params, x):
            return lib.func.functional_call(model, params, (x.unsqueeze(0),)).squeeze(0)

        def contraction(x1, x2):
            j1 = [j.flatten(2) for j in lib.vmap(lib.func.jacrev(single), (None, 0))(
                params, x1).values()]
            j2 = [j.flatten(2) for j in lib.vmap(lib.func.jacrev(single), (None, 0))(
                params, x2).values()]
            return lib.stack([lib.einsum("Naf,Mbf->NMab", a, b) for a, b in zip(j1, j2)]
                             ).sum(0)

        def ntk_vps(x1, x2):
            def get_ntk(x1, x2):
                out, vjp_fn = lib.func.vjp(lambda p: single(p, x1), params)

                def ntk_slice(vec):
                    return lib.func.jvp(lambda p: single(p, x2), (params,), vjp_fn(vec))[1]
                return lib.vmap(ntk_slice)(lib.eye(out.numel()))
            return lib.vmap(lib.vmap(get_ntk, (None, 0)), (0, None))(x1, x2)
        return contraction(x1, x2), ntk_vps(x1, x2)
    (full, vps), _ = both_run(run, randn(3, 6), randn(2, 6, seed=1))
    np.testing.assert_allclose(full.numpy(), vps.numpy(), rtol=1e-4, atol=1e-5)


# --- functional_call itself --------------------------------------------------------------
def tied(lib):
    class Tied(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.nn.Linear(2, 2, bias=False)
            self.b = lib.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight
            self.register_buffer("scale", lib.ones(2))

        def forward(self, x):
            return self.b(self.a(x)) * self.scale
    return Tied()


def test_functional_call_ties_restores_and_checks_keys():
    nets = Twin(tied)

    def run(lib, w, s, x):
        m = nets.of(lib)
        before = m.a.weight
        out = (lib.func.functional_call(m, {"a.weight": w}, x),
               lib.func.functional_call(m, ({"a.weight": w}, {"scale": s}), (x,),
                                        tie_weights=False),
               lib.func.functional_call(m, {"a.weight": w, "b.weight": w}, (x,)))
        assert m.a.weight is before and isinstance(m.a.weight, lib.nn.Parameter)
        return out
    both_run(run, randn(2, 2), randn(2, seed=1), randn(3, 2, seed=2))


FC_ERRORS = [
    ("tied twice", lambda lib, m: lib.func.functional_call(
        m, {"a.weight": lib.ones(2, 2), "b.weight": lib.zeros(2, 2)}, (lib.ones(2),)),
     ValueError, "functional_call got multiple values for keys ['a.weight', 'b.weight'], "
                 "which are tied. Consider using tie_weights=False"),
    ("strict", lambda lib, m: lib.func.functional_call(
        m, {"a.weight": lib.ones(2, 2), "c": lib.ones(1)}, (lib.ones(2),), strict=True),
     RuntimeError, "Error(s) in reparametrizing for Tied:\n\tUnexpected key(s): 'c'.\n\t"
                   "Missing key(s): "),
    ("repeated keys", lambda lib, m: lib.func.functional_call(
        m, ({"scale": lib.ones(2)}, {"scale": lib.ones(2)}), (lib.ones(2),)),
     ValueError, "['scale'] appeared in multiple dictionaries"),
    ("no such submodule", lambda lib, m: lib.func.functional_call(
        m, {"c.weight": lib.ones(2, 2)}, (lib.ones(2),)), AttributeError,
     "Tied has no attribute `c`"),
    ("no models", lambda lib, m: lib.func.stack_module_state([]), RuntimeError,
     "stack_module_state: Expected at least one model, got 0."),
]


@pytest.mark.parametrize("case", FC_ERRORS, ids=[c[0] for c in FC_ERRORS])
def test_functional_call_errors_match_torch(case):
    _, call, kind, text = case
    for lib in (torch, tc):
        with pytest.raises(kind) as info:
            call(lib, tied(lib))
        assert text in str(info.value), f"{lib.__name__}: {info.value}"


def test_stateless_functional_call_warns_as_torch():
    nets = Twin(mlp)
    x = randn(2, 6)
    for lib in (torch, tc):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = lib.nn.utils.stateless.functional_call(
                nets.of(lib), {"0.bias": lib.zeros(8)}, lib.tensor(x))
        assert any(issubclass(w.category, FutureWarning) for w in caught)
        if lib is torch:
            want = out
        else:
            same_tree(out, want)
