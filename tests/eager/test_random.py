"""Random ops (tracecomp/random.py and the random creators): distributions checked with fixed
seeds against their exact moments, exact properties (multinomial without replacement draws
distinct indices, never a zero-probability category while others remain), generator
reproducibility and state round trips, compiled code drawing afresh, and torch's shapes,
dtypes, requires_grad and error messages.

Numbers differ from torch's (numpy's PCG64, not torch's mt19937), so no test compares
samples with torch's; tolerances are several standard errors of each estimate.
"""
import re

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

P = [0.1, 0.2, 0.0, 0.7]


def _freq(idx, n):
    return np.bincount(np.asarray(idx).ravel(), minlength=n) / np.asarray(idx).size


# --- multinomial ------------------------------------------------------------------------
def test_multinomial_with_replacement_follows_p():
    g = tc.Generator().manual_seed(0)
    idx = tc.multinomial(tc.tensor(P), 40_000, replacement=True, generator=g)
    assert idx.dtype == tc.int64 and tuple(idx.shape) == (40_000,)
    f = _freq(idx.numpy(), 4)
    assert f[2] == 0, "a zero-probability category was drawn"
    assert np.allclose(f, P, atol=0.01), f"frequencies {f} | p {P}"


def test_multinomial_without_replacement_is_distinct_and_proportional():
    tc.manual_seed(1)
    probs = tc.tensor([P] * 20_000)                    # unnormalized rows are fine too
    idx = tc.multinomial(probs * 3, 3).numpy()
    assert idx.shape == (20_000, 3)
    assert all(len(set(row)) == 3 for row in idx[:2000]), "repeated index without replacement"
    assert not np.any(idx == 2), "zero-probability category drawn while others remained"
    assert np.allclose(_freq(idx[:, 0], 4), P, atol=0.015)   # the first draw follows p


def test_multinomial_zero_probabilities_come_last():
    idx = tc.multinomial(tc.tensor([0.0, 1.0, 1.0]), 3).tolist()
    assert sorted(idx[:2]) == [1, 2] and idx[2] == 0


def test_multinomial_generator_reproducible_and_default_generator_seeded():
    probs = tc.tensor([[0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    a = tc.multinomial(probs, 5, True, generator=tc.Generator(device="cpu").manual_seed(7))
    b = tc.multinomial(probs, 5, True, generator=tc.Generator().manual_seed(7))
    assert a.tolist() == b.tolist()
    tc.manual_seed(3)
    c = probs.multinomial(2)
    tc.manual_seed(3)
    assert c.tolist() == tc.multinomial(probs, 2).tolist()


@pytest.mark.parametrize("call", [
    lambda lib: lib.multinomial(lib.tensor([0.1, 0.2]), 5),
    lambda lib: lib.multinomial(lib.tensor([1, 2]), 1),
    lambda lib: lib.multinomial(lib.tensor([-1.0, 2.0]), 1),
    lambda lib: lib.multinomial(lib.tensor([float("nan"), 2.0]), 1),
    lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1),
    lambda lib: lib.multinomial(lib.tensor(1.0), 1),
    lambda lib: lib.multinomial(lib.ones(2, 2, 2), 1),
    lambda lib: lib.multinomial(lib.tensor([0.5, 0.5]), 0),
])
def test_multinomial_errors_match_torch(call):
    with pytest.raises(RuntimeError) as want:
        call(torch)
    with pytest.raises(RuntimeError, match=re.escape(str(want.value))):
        call(tc)


def test_multinomial_compiled_draws_afresh_from_its_generator():
    g = tc.Generator().manual_seed(11)
    f = tc.compile(lambda p: tc.multinomial(p, 4, replacement=True, generator=g) + 0,
                   backend="llvm")
    probs = tc.tensor([[0.25] * 4] * 8)
    first, second = f(probs).numpy(), f(probs).numpy()
    assert first.shape == (8, 4) and first.min() >= 0 and first.max() <= 3
    assert not np.array_equal(first, second), "compiled multinomial baked one sample in"
    g.manual_seed(11)
    assert np.array_equal(f(probs).numpy(), first), "the generator's seed did not replay"


# --- normal -----------------------------------------------------------------------------
def test_normal_forms_shapes_dtypes_and_requires_grad_match_torch():
    forms = [
        lambda lib, m: lib.normal(0, 0.01, (2, 1), requires_grad=True),
        lambda lib, m: lib.normal(m),
        lambda lib, m: lib.normal(m, m.abs()),
        lambda lib, m: lib.normal(0.0, m.abs()),
        lambda lib, m: lib.normal(m, 2.0),
        lambda lib, m: lib.normal(m.double(), m.abs()),
        lambda lib, m: lib.normal(m, lib.ones(2, 3)),
        lambda lib, m: lib.normal(1.0, 2.0, size=(4,), dtype=lib.float64),
        lambda lib, m: lib.normal(m.detach().requires_grad_(), 1.0),
    ]
    for k, form in enumerate(forms):
        got, want = form(tc, tc.tensor([0.5, -1.0, 2.0])), form(torch, torch.tensor([0.5, -1.0,
                                                                                      2.0]))
        assert tuple(got.shape) == tuple(want.shape), f"form {k}: shape"
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], f"form {k}"
        assert got.requires_grad == want.requires_grad, f"form {k}: requires_grad"
        assert got.is_leaf == want.is_leaf, f"form {k}: is_leaf"


def test_normal_gradients_are_zero_as_torch():
    for lib in (tc, torch):
        m = lib.tensor([1.0, 2.0], requires_grad=True)
        s = lib.tensor([1.0, 3.0], requires_grad=True)
        lib.normal(m, s).sum().backward()
        assert m.grad.tolist() == [0.0, 0.0] and s.grad.tolist() == [0.0, 0.0], lib.__name__


def test_normal_moments():
    tc.manual_seed(5)
    x = tc.normal(2.0, 3.0, (200_000,)).numpy()
    assert abs(x.mean() - 2.0) < 0.03 and abs(x.std() - 3.0) < 0.03
    mean = tc.tensor([[-5.0, 10.0]]).expand(100_000, 2)
    std = tc.tensor([0.5, 2.0])
    y = tc.normal(mean, std).numpy()
    assert np.allclose(y.mean(0), [-5.0, 10.0], atol=0.03)
    assert np.allclose(y.std(0), [0.5, 2.0], rtol=0.02)
    z = tc.normal(tc.zeros(100_000)).numpy()
    assert abs(z.mean()) < 0.015 and abs(z.std() - 1) < 0.015


@pytest.mark.parametrize("call, kind", [
    (lambda lib: lib.normal(lib.tensor([1.0]), -1.0), RuntimeError),
    (lambda lib: lib.normal(0.0, -1.0, (2,)), RuntimeError),
    (lambda lib: lib.normal(lib.tensor([1.0]), lib.tensor([-1.0])), RuntimeError),
    (lambda lib: lib.normal(lib.tensor([1, 2]), 1.0), NotImplementedError),
    (lambda lib: lib.normal(0, 1, size=(2,), dtype=lib.int64), NotImplementedError),
    (lambda lib: lib.zeros(2, dtype=lib.int64).normal_(), NotImplementedError),
])
def test_normal_errors_match_torch(call, kind):
    with pytest.raises(kind) as want:
        call(torch)
    with pytest.raises(kind, match=re.escape(str(want.value))):
        call(tc)
    for lib in (torch, tc):          # both refuse a size with tensor arguments
        with pytest.raises(TypeError, match="normal"):
            lib.normal(lib.tensor([1.0]), size=(3,))


def test_random_draws_with_a_generator_inside_compiled_code_are_not_constants():
    g = tc.Generator().manual_seed(2)
    f = tc.compile(lambda x: x + tc.randn(3, generator=g) + tc.rand(3, generator=g),
                   backend="llvm")
    x = tc.zeros(3)
    a, b = f(x).numpy(), f(x).numpy()
    assert not np.array_equal(a, b)
    g.manual_seed(2)
    assert np.array_equal(f(x).numpy(), a)


# --- generators and RNG state -------------------------------------------------------------
def test_generator_state_round_trip_and_fresh_generators_are_reproducible():
    g = tc.Generator(device=tc.device("cpu"))
    assert g.initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert tc.rand(3, generator=tc.Generator()).tolist() == \
        tc.rand(3, generator=tc.Generator()).tolist()
    state = g.get_state()
    assert state.dtype == tc.uint8 and state.ndim == 1
    first = tc.randn(4, generator=g).tolist()
    g.set_state(state)
    assert tc.randn(4, generator=g).tolist() == first
    with pytest.raises(RuntimeError, match="RNG state is wrong size"):
        g.set_state(tc.zeros(3, dtype=tc.uint8))


def test_default_rng_state_seed_and_fork_rng():
    tc.manual_seed(123)
    assert tc.initial_seed() == 123 and tc.random.initial_seed() == 123
    state = tc.get_rng_state()
    a = tc.rand(5).tolist()
    tc.set_rng_state(state)
    assert tc.rand(5).tolist() == a
    with tc.random.fork_rng():
        tc.rand(100)
    b = tc.rand(5).tolist()
    tc.random.set_rng_state(state)
    tc.rand(5)
    assert tc.rand(5).tolist() == b, "fork_rng did not restore the default generator"
    s = tc.random.seed()
    assert tc.initial_seed() == s
    tc.random.manual_seed(-1)
    assert tc.initial_seed() == torch.manual_seed(-1).initial_seed() == 2 ** 64 - 1


# --- bernoulli, poisson -------------------------------------------------------------------
def test_bernoulli_forms_moments_and_grad():
    g = tc.Generator().manual_seed(4)
    p = tc.tensor([0.0, 0.25, 1.0]).expand(100_000, 3)
    draws = tc.bernoulli(p, generator=g).numpy()
    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert np.allclose(draws.mean(0), [0.0, 0.25, 1.0], atol=0.01)
    assert tc.bernoulli(tc.zeros(4, dtype=tc.float64), 0.5).dtype == tc.float64
    assert abs(tc.bernoulli(tc.zeros(100_000), 0.3).numpy().mean() - 0.3) < 0.01
    x = tc.zeros(4)
    assert x.bernoulli_(tc.tensor([1.0, 0.0, 1.0, 0.0])).tolist() == [1.0, 0.0, 1.0, 0.0]
    for lib in (tc, torch):
        q = lib.tensor([0.3, 0.6], requires_grad=True)
        out = lib.bernoulli(q)
        assert out.requires_grad
        out.sum().backward()
        assert q.grad.tolist() == [0.0, 0.0]


def test_poisson_moments_dtype_and_errors():
    tc.manual_seed(8)
    rates = tc.tensor([0.5, 4.0, 30.0], dtype=tc.float64).expand(50_000, 3)
    x = tc.poisson(rates).numpy()
    assert x.dtype == np.float64 and np.all(x == np.round(x))
    assert np.allclose(x.mean(0), [0.5, 4.0, 30.0], rtol=0.03)
    assert np.allclose(x.var(0), [0.5, 4.0, 30.0], rtol=0.05)
    for call, kind in [(lambda lib: lib.poisson(lib.tensor([1, 5])), NotImplementedError),
                       (lambda lib: lib.poisson(lib.tensor([-1.0])), RuntimeError),
                       (lambda lib: lib.bernoulli(lib.tensor([2.0])), RuntimeError),
                       (lambda lib: lib.bernoulli(lib.tensor([1, 0])), NotImplementedError)]:
        with pytest.raises(kind) as want:
            call(torch)
        with pytest.raises(kind, match=re.escape(str(want.value))):
            call(tc)


# --- *_like and in-place samplers ---------------------------------------------------------
def test_like_creators():
    x = tc.zeros(2000, 3)
    r = tc.randint_like(x, 10)
    assert r.dtype == tc.float32 and r.numpy().min() >= 0 and r.numpy().max() <= 9
    r = tc.randint_like(x, 3, 6, dtype=tc.int64).numpy()
    assert r.dtype == np.int64 and set(np.unique(r)) == {3, 4, 5}
    u = tc.rand_like(x, dtype=tc.float64, requires_grad=True)
    assert u.dtype == tc.float64 and u.requires_grad and u.is_leaf
    n = tc.randn_like(x, requires_grad=True, device="cpu")
    assert n.requires_grad and tuple(n.shape) == (2000, 3)
    for call, kind in [(lambda lib: lib.randint_like(lib.zeros(2), 0), RuntimeError),
                       (lambda lib: lib.randint_like(lib.zeros(2), 5, 2), RuntimeError),
                       (lambda lib: lib.rand_like(lib.tensor([1, 2])), NotImplementedError),
                       (lambda lib: lib.randn_like(lib.tensor([True])), NotImplementedError)]:
        with pytest.raises(kind) as want:
            call(torch)
        with pytest.raises(kind, match=re.escape(str(want.value))):
            call(tc)


def test_random_fills_the_documented_ranges():
    tc.manual_seed(9)
    assert set(np.unique(tc.zeros(5000).random_(5).numpy())) == {0, 1, 2, 3, 4}
    v = tc.zeros(5000, dtype=tc.int64).random_(-2, 2).numpy()
    assert set(np.unique(v)) == {-2, -1, 0, 1}
    v = tc.zeros(5000).random_().numpy()
    assert np.all(v == np.round(v)) and v.min() >= 0 and v.max() <= 2 ** 24
    assert set(np.unique(tc.zeros(100, dtype=tc.bool).random_().numpy())) == {False, True}
    v = tc.zeros(5000, dtype=tc.uint8).random_().numpy()
    assert v.max() > 200 and v.min() < 50
    v = tc.zeros(3000).random_(to=3).numpy()
    assert set(np.unique(v)) == {0, 1, 2}


@pytest.mark.parametrize("call", [
    lambda lib: lib.zeros(2).random_(5, 2),
    lambda lib: lib.zeros(2, dtype=lib.uint8).random_(0, 300),
    lambda lib: lib.zeros(2, dtype=lib.uint8).random_(-3, 0),
    lambda lib: lib.zeros(3).exponential_(-1),
    lambda lib: lib.zeros(2, dtype=lib.int64).exponential_(),
    lambda lib: lib.zeros(2).cauchy_(0, -1),
    lambda lib: lib.zeros(2, dtype=lib.int64).cauchy_(),
    lambda lib: lib.zeros(2).log_normal_(1, 0),
    lambda lib: lib.zeros(2).geometric_(0),
    lambda lib: lib.zeros(2).geometric_(1.5),
    lambda lib: lib.zeros(2).bernoulli_(1.5),
    lambda lib: lib.empty(3).normal_(0, -1),
])
def test_inplace_sampler_errors_match_torch(call):
    with pytest.raises((RuntimeError, NotImplementedError)) as want:
        call(torch)
    with pytest.raises(type(want.value), match=re.escape(str(want.value))):
        call(tc)


def test_inplace_sampler_moments():
    g = tc.Generator().manual_seed(10)
    e = tc.zeros(100_000).exponential_(2.0, generator=g).numpy()
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 0.01
    c = tc.zeros(100_000).cauchy_(1.0, 2.0, generator=g).numpy()
    assert abs(np.median(c) - 1.0) < 0.05
    assert abs(np.quantile(c, 0.75) - 3.0) < 0.1            # median + sigma
    ln = tc.zeros(100_000, dtype=tc.float64).log_normal_(1.0, 0.5, generator=g).numpy()
    assert abs(np.log(ln).mean() - 1.0) < 0.01 and abs(np.log(ln).std() - 0.5) < 0.01
    geo = tc.zeros(100_000).geometric_(0.25, generator=g).numpy()
    assert geo.min() == 1 and np.all(geo == np.round(geo)) and abs(geo.mean() - 4.0) < 0.05
    n = tc.zeros(100_000).normal_(3.0, 0.5, generator=g).numpy()
    assert abs(n.mean() - 3.0) < 0.01 and abs(n.std() - 0.5) < 0.01


# --- deterministic creators ---------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda lib: lib.logspace(0, 2, 3), lambda lib: lib.logspace(0, 2, 3, base=2),
    lambda lib: lib.logspace(0, 1, 5, dtype=lib.int64), lambda lib: lib.logspace(-1, 1, 4),
    lambda lib: lib.logspace(0, 1, 0), lambda lib: lib.tril_indices(3, 3),
    lambda lib: lib.triu_indices(3, 4, 1), lambda lib: lib.tril_indices(4, 3, -1),
    lambda lib: lib.triu_indices(2, 5, -1, dtype=lib.int32), lambda lib: lib.tril_indices(0, 3),
])
def test_logspace_and_triangle_indices_match_torch(call):
    assert_close(call(tc), call(torch), 1e-6, 0)


class _JustBelowOne:
    """A generator's numpy side that draws the largest value below 1 of the dtype asked:
    what rounds to 1.0 when a float64 draw is cast to float32 (3 in 10^8 draws)."""

    def __init__(self):
        self.asked = []

    def random(self, shape, dtype=np.float64, out=None):
        self.asked.append(np.dtype(dtype))
        below = np.nextafter(np.dtype(dtype).type(1), np.dtype(dtype).type(0))
        values = np.full(shape, below, dtype=dtype)
        if out is None:
            return values
        out[...] = values
        return out


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_rand_and_uniform_stay_below_one(monkeypatch, dtype):
    """torch's rand is in [0, 1): draws are made in the tensor's dtype (float16's from
    float32, kept below 1), never rounded up from float64"""
    fake = _JustBelowOne()
    monkeypatch.setattr(tc.default_generator, "rng", fake)
    assert (tc.rand(1000, dtype=getattr(tc, dtype)) < 1).all()
    if dtype != "float16":
        assert fake.asked[-1] == np.dtype(dtype)
    if dtype == "float32":      # (float64's uniform_ draws with rng.uniform: no rounding)
        assert (tc.empty(1000).uniform_() < 1).all()
