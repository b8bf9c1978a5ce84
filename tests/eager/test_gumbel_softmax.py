"""F.gumbel_softmax vs torch 2.13. The noise comes from tracecomp's generator, not torch's,
so each check fixes it: the same seed gives the noise `-empty_like(x).exponential_().log()`
(how torch draws it), which torch's formula is then fed; the rest are exact properties
(one-hot hard samples, the straight-through gradient, sums of 1) and the noise's moments.
"""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close

RNG = np.random.default_rng(0)
SEED = 1234


def noise_for(x):
    """The Gumbel noise gumbel_softmax draws after tc.manual_seed(SEED), drawn the way torch
    draws it."""
    tc.manual_seed(SEED)
    return -tc.empty_like(x).exponential_().log()


def torch_formula(logits, gumbels, tau, hard, dim):
    """torch 2.13's gumbel_softmax body with its noise draw replaced by `gumbels`."""
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = torch.zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def ours_and_torchs(x, **kwargs):
    """(tracecomp's sample, torch's formula on the same noise), each with the gradient of
    its logits under one random cotangent."""
    ours = tc.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    gumbels = noise_for(ours.detach()).numpy()
    tc.manual_seed(SEED)
    got = F.gumbel_softmax(ours, **kwargs)
    want = torch_formula(theirs, torch.tensor(gumbels), kwargs.get("tau", 1),
                         kwargs.get("hard", False), kwargs.get("dim", -1))
    cot = RNG.standard_normal(x.shape).astype(x.dtype)
    (got * tc.tensor(cot)).sum().backward()
    (want * torch.tensor(cot)).sum().backward()
    return (got, ours.grad), (want, theirs.grad)


CASES = [({}, (4, 6)), ({"tau": 0.3}, (5, 7)), ({"tau": 2.0, "dim": 0}, (5, 3)),
         ({"dim": 1}, (2, 5, 3)), ({}, (9,))]


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("kwargs,shape", CASES)
def test_sample_is_torchs_formula_on_the_same_noise(kwargs, shape, hard):
    x = RNG.standard_normal(shape).astype(np.float32)
    (got, got_grad), (want, want_grad) = ours_and_torchs(x, hard=hard, **kwargs)
    assert_close(got, want)
    assert_close(got_grad, want_grad, what="logits gradient")


@pytest.mark.parametrize("kwargs,shape", CASES)
def test_soft_samples_sum_to_one(kwargs, shape):
    y = F.gumbel_softmax(tc.tensor(RNG.standard_normal(shape)), **kwargs)
    np.testing.assert_allclose(y.sum(kwargs.get("dim", -1)).numpy(), 1.0, rtol=1e-12)
    assert (y.numpy() > 0).all()


@pytest.mark.parametrize("kwargs,shape", CASES)
def test_hard_samples_are_one_hot_with_the_soft_samples_gradient(kwargs, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    dim = kwargs.get("dim", -1)
    cot = tc.tensor(RNG.standard_normal(shape).astype(np.float32))
    grads, samples = [], []
    for hard in (False, True):
        logits = tc.tensor(x, requires_grad=True)
        tc.manual_seed(SEED)
        y = F.gumbel_softmax(logits, hard=hard, **kwargs)
        (y * cot).sum().backward()
        grads.append(logits.grad.numpy())
        samples.append(y.detach().numpy())
    soft, hard = samples
    assert set(np.unique(hard)) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(dim), 1.0)
    np.testing.assert_array_equal(np.argmax(hard, dim), np.argmax(soft, dim))
    np.testing.assert_array_equal(grads[1], grads[0])


def test_noise_is_gumbel_and_reproducible_by_seed():
    """The noise has Gumbel(0, 1)'s mean (Euler's gamma) and variance (pi^2 / 6), within 5
    standard errors; with logits 0 and tau 1 the sample is softmax(noise), so log(y) gives
    the noise back up to a shift; another seed gives another sample."""
    n = 200_000
    g = noise_for(tc.zeros(n, dtype=tc.float64)).numpy()
    assert abs(g.mean() - 0.5772156649) < 5 * math.sqrt(math.pi ** 2 / 6 / n)
    var = math.pi ** 2 / 6      # the sample variance's variance: (kurtosis 5.4 - 1) var^2 / n
    assert abs(g.var() - var) < 5 * math.sqrt(4.4 * var ** 2 / n)
    tc.manual_seed(SEED)
    y = F.gumbel_softmax(tc.zeros(n, dtype=tc.float64)).numpy()
    recovered = np.log(y) - np.log(y).mean()
    np.testing.assert_allclose(recovered, g - g.mean(), atol=1e-9)
    tc.manual_seed(SEED + 1)
    assert not np.array_equal(F.gumbel_softmax(tc.zeros(8)).numpy(), y[:8])


def test_dtype_and_eps_warning_match_torch():
    x = RNG.standard_normal((3, 4))
    for lib, f in ((tc, F), (torch, TF)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert f.gumbel_softmax(lib.tensor(x)).dtype == lib.float64
        with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect"):
            f.gumbel_softmax(lib.tensor(x), eps=1e-5)
