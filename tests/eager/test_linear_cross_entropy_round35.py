"""F.linear_cross_entropy, nn.LinearCrossEntropyLoss and nn.LinearCrossEntropyOptions
against torch 2.13: values and gradients (plain, biased, unbatched, K-dimensional, class
probabilities, weights, ignore_index, label smoothing, each reduction, with options), the
options' checks and warning, torch's errors, and the module's state_dict and repr."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as CF

RNG = np.random.default_rng(0)
X, W, B = RNG.standard_normal((6, 4)), RNG.standard_normal((3, 4)), RNG.standard_normal(3)
WK, BK = RNG.standard_normal((3, 2, 4)), RNG.standard_normal((3, 2))
T, TK = np.array([0, 2, 1, 1, -100, 2]), np.array([[0, 1], [2, 2], [1, 0], [0, 0], [1, 2],
                                                     [2, 1]])
P = RNG.dirichlet(np.ones(3), 6)

CASES = {
    "plain": dict(x=X, w=W, t=T[[0, 1, 2, 3, 5, 0]]),
    "bias": dict(x=X, w=W, t=T[[0, 1, 2, 3, 5, 0]], bias=B),
    "unbatched": dict(x=X[0], w=W, t=np.array(2)),
    "k_dim": dict(x=X, w=WK, t=TK, bias=BK),
    "probabilities": dict(x=X, w=W, t=P, float_target=True),
    "weight_ignore": dict(x=X, w=W, t=T, weight=np.array([0.5, 2.0, 1.0])),
    "ignore_index": dict(x=X, w=W, t=np.array([0, 1, 1, 2, 2, 0]), ignore_index=1),
    "smoothing": dict(x=X, w=W, t=T, label_smoothing=0.2),
    "sum": dict(x=X, w=W, t=T, reduction="sum"), "none": dict(x=X, w=W, t=T, reduction="none"),
    "options": dict(x=X, w=W, t=T, options=True),
    "options_ignored": dict(x=X, w=W, t=T, options=True, label_smoothing=0.1),
}


def _call(lib, F, case):
    c = dict(case)
    x = lib.tensor(c.pop("x"), requires_grad=True)
    w = lib.tensor(c.pop("w"), requires_grad=True)
    t = c.pop("t")
    t = lib.tensor(t) if c.pop("float_target", False) else lib.tensor(t, dtype=lib.int64)
    kwargs = {}
    leaves = [x, w]
    if "bias" in c:
        kwargs["linear_bias"] = lib.tensor(c.pop("bias"), requires_grad=True)
        leaves.append(kwargs["linear_bias"])
    if "weight" in c:
        kwargs["weight"] = lib.tensor(c.pop("weight"))
    if c.pop("options", False):
        kwargs["options"] = lib.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
    kwargs.update(c)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = F.linear_cross_entropy(x, w, t, **kwargs)
    out.sum().backward()
    return (out.detach().numpy(), [leaf.grad.numpy() for leaf in leaves],
            [str(m.message).replace("tracecomp.", "torch.") for m in caught])


@pytest.mark.parametrize("name", CASES)
def test_values_gradients_and_warnings_are_torchs(name):
    (want, want_grads, want_warn), (got, got_grads, got_warn) = (
        _call(torch, TF, CASES[name]), _call(tc, CF, CASES[name]))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    assert got_warn == want_warn


ERRORS = {
    "input_3d": lambda L: (L.zeros(2, 2, 4), L.zeros(3, 4), L.zeros(2, dtype=L.int64), {}),
    "weight_1d": lambda L: (L.zeros(2, 4), L.zeros(4), L.zeros(2, dtype=L.int64), {}),
    "in_features": lambda L: (L.zeros(2, 5), L.zeros(3, 4), L.zeros(2, dtype=L.int64), {}),
    "bias_shape": lambda L: (L.zeros(2, 4), L.zeros(3, 4), L.zeros(2, dtype=L.int64),
                             {"linear_bias": L.zeros(4)}),
    "k_dim_unbatched": lambda L: (L.zeros(4), L.zeros(3, 2, 4), L.zeros(2, dtype=L.int64), {}),
    "probabilities_ignore": lambda L: (L.zeros(2, 4), L.zeros(3, 4), L.zeros(2, 3),
                                       {"ignore_index": 0}),
}


@pytest.mark.parametrize("name", ERRORS)
def test_errors_are_torchs(name):
    got = []
    for lib, F in ((torch, TF), (tc, CF)):
        x, w, t, kwargs = ERRORS[name](lib)
        with pytest.raises(RuntimeError) as error:
            F.linear_cross_entropy(x, w, t, **kwargs)
        got.append(str(error.value))
    assert got[1] == got[0]


@pytest.mark.parametrize("kwargs", [dict(acc_policy="x"), dict(chunking_method="foo"),
                                    dict(chunking_method="aspect_ratio:0"),
                                    dict(batch_chunk_size=0), dict(batch_chunk_size=2.5),
                                    dict(acc_dtype="int32")])
def test_options_checks_are_torchs(kwargs):
    got = []
    for lib in (torch, tc):
        given = dict(kwargs)
        if given.get("acc_dtype") == "int32":
            given["acc_dtype"] = lib.int32
        with pytest.raises(ValueError) as error:
            lib.nn.LinearCrossEntropyOptions(**given)
        got.append(str(error.value).replace("tracecomp.", "torch."))
    assert got[1] == got[0]


def test_options_repr_and_frozen():
    for lib in (torch, tc):
        options = lib.nn.LinearCrossEntropyOptions(chunking_method="aspect_ratio:2")
        with pytest.raises(AttributeError):
            options.batch_chunk_size = 3
    assert repr(tc.nn.LinearCrossEntropyOptions()) == repr(torch.nn.LinearCrossEntropyOptions())


@pytest.mark.parametrize("kwargs", [dict(), dict(bias=True), dict(out_features=(2,)),
                                    dict(bias=True, reduction="sum", label_smoothing=0.1)])
def test_module_matches_torchs_with_its_state_dict(kwargs):
    want = torch.nn.LinearCrossEntropyLoss(4, 3, **kwargs).double()
    got = tc.nn.LinearCrossEntropyLoss(4, 3, **kwargs).double()
    state = want.state_dict()
    assert list(got.state_dict()) == list(state)
    got.load_state_dict({k: tc.tensor(v.numpy()) for k, v in state.items()})
    target = TK if "out_features" in kwargs else T[[0, 1, 2, 3, 5, 0]]
    x = X
    losses = [m(lib.tensor(x), lib.tensor(target, dtype=lib.int64)).detach().numpy()
              for m, lib in ((want, torch), (got, tc))]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-10)
    assert repr(got) == repr(want)


def test_module_checks_are_torchs():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match=r"expected weight shape to be \(3,\), got \(2,\)"):
            lib.nn.LinearCrossEntropyLoss(4, 3, weight=lib.ones(2))
        with pytest.raises(RuntimeError, match=r"label_smoothing to be in range \[0, 1\]"):
            lib.nn.LinearCrossEntropyLoss(4, 3, label_smoothing=1.5)
