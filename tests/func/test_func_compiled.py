"""torch.func inside tracecomp.compile: grad, jacrev, jvp and vmap (batched in the graph)
give eager's numbers, also on a second call with new inputs; a random op under
randomness='error' raises as in eager; randomness='same' draws once in the graph, and a draw
from batched operands, which a graph cannot replay per sample, is a graph break with a
warning (an error under fullgraph=True) and still gives 'same'."""
import warnings

import numpy as np
import pytest

import tracecomp as tc

from helpers import assert_close

CASES = {
    "vmap": lambda x, w: tc.vmap(lambda a: (a * w).sin().sum())(x),
    "grad": lambda x, w: tc.func.grad(lambda w: (x @ w).tanh().sum())(w),
    "vmap_of_grad": lambda x, w: tc.vmap(tc.func.grad(lambda w, a: (a @ w).tanh()),
                                         in_dims=(None, 0))(w, x),
    "jacrev": lambda x, w: tc.func.jacrev(lambda w: (x @ w).tanh())(w),
    "hessian": lambda x, w: tc.func.hessian(lambda w: (x @ w).tanh().sum())(w),
    "jvp": lambda x, w: tc.func.jvp(lambda w: (x @ w).tanh(), (w,), (w * 2,))[1],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_matches_eager(name):
    fn = CASES[name]
    compiled = tc.compile(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no graph break: one graph
        for seed in (0, 1):
            tc.manual_seed(seed)
            x, w = tc.randn(4, 3), tc.randn(3)
            assert_close(compiled(x, w), fn(x, w), rtol=1e-5, atol=1e-6, what=name)


def test_random_op_under_error_mode_raises_when_compiled():
    compiled = tc.compile(lambda x: tc.vmap(lambda a: a + tc.rand(3))(x))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        compiled(tc.ones(2, 3))


def test_randomness_same_draws_once_in_the_graph():
    def fn(x):
        return tc.vmap(lambda a: a + tc.rand(3), randomness="same")(x)
    x = tc.randn(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no graph break: one graph
        noise = tc.compile(fn, fullgraph=True)(x) - x
    assert_close(noise, noise[:1].expand(4, 3), what="'same' noise per sample")
    assert len(set(noise[0].tolist())) == 3


def test_randomness_same_from_batched_operands_breaks_the_graph():
    def fn(p):
        return tc.vmap(lambda a: tc.bernoulli(a), randomness="same")(p)
    p = tc.full((4, 50), 0.5)
    with pytest.warns(UserWarning, match="randomness='same'"):
        draws = tc.compile(fn)(p)
    assert_close(draws, draws[:1].expand(4, 50), what="'same' draws per sample")
    with pytest.raises(tc.TraceError, match="randomness='same'"):
        tc.compile(fn, fullgraph=True)(p)


def test_compiled_per_sample_grads_with_functional_call():
    tc.manual_seed(0)
    model = tc.nn.Sequential(tc.nn.Linear(5, 8), tc.nn.Tanh(), tc.nn.Linear(8, 3))
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x, t):
        out = tc.func.functional_call(model, p, (x.unsqueeze(0),))
        return tc.nn.functional.cross_entropy(out, t.unsqueeze(0))
    per_sample = tc.vmap(tc.func.grad(loss), in_dims=(None, 0, 0))
    compiled = tc.compile(per_sample)
    t = tc.tensor([0, 2, 1, 1])
    for scale in (1.0, 2.0):
        x = tc.randn(4, 5) * scale
        got, want = compiled(params, x, t), per_sample(params, x, t)
        for k in want:
            assert_close(got[k], want[k], rtol=1e-5, atol=1e-6, what=k)
    assert isinstance(model[0].weight, tc.nn.Parameter)     # put back after the call


@pytest.mark.parametrize("needs", [False, True])
def test_compiled_grad_requires_grad_as_eagerly(needs):
    """func.grad's result keeps a graph only where the function reaches something else
    that requires grad (here w, or x itself when it requires grad), as torch.func's: the
    compiled call's answer walks the traced graph where eager's walks the tape."""
    w = tc.randn(3, requires_grad=True)
    x = tc.randn(3, requires_grad=needs)
    for g in (tc.func.grad(lambda x: (x.sin() * 2).sum()),
              tc.func.grad(lambda x: (x * w).sum())):
        eager, compiled = g(x), tc.compile(g)(x)
        assert compiled.requires_grad == eager.requires_grad
        np.testing.assert_allclose(compiled.detach().numpy(), eager.detach().numpy(),
                                   rtol=1e-6)
    assert not tc.func.grad(lambda x: (x.sin() * 2).sum())(tc.randn(3)).requires_grad
