"""Triangular solves and the Cholesky family against torch 2.13: linalg.solve_triangular
(upper/lower, left/right, unitriangular, batch broadcasting), the deprecated
torch.triangular_solve, linalg.cholesky_ex (its info and potrf's partial factor),
torch.cholesky (deprecated), cholesky_solve and cholesky_inverse (torch's gradients, which
treat the factor as a full matrix). Values, gradients (vs torch and central differences),
errors, compiled code; and an exact-GP marginal likelihood trained by Adam, as GPyTorch
does it, matching torch eagerly and compiled."""
import math
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised
from linalg_twin import check_twin

RNG = np.random.default_rng(11)
A = RNG.standard_normal((2, 4, 4)) + 3 * np.eye(4)     # well away from a zero diagonal
B = RNG.standard_normal((2, 4, 3))
SPD = A @ A.transpose(0, 2, 1) + np.eye(4)
FACTOR = np.linalg.cholesky(SPD)
NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular(upper, left, unit):
    def fn(lib, a, b):
        return lib.linalg.solve_triangular(a, b if left else b.mT, upper=upper, left=left,
                                           unitriangular=unit)
    check_twin(fn, [A, B], (0, 1))


def test_solve_triangular_broadcasts_and_keeps_float32():
    check_twin(lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False),
               [A[0], B], (0, 1))
    check_twin(lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
               [A.astype(np.float32), B.astype(np.float32)], (0, 1), rtol=1e-5, atol=1e-5)


def test_solve_triangular_divides_by_a_zero_diagonal_as_torch():
    check_twin(lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
               [np.zeros((2, 2)), np.ones((2, 1))], ())


@pytest.mark.parametrize("transpose", [False, True])
def test_deprecated_triangular_solve(transpose):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_twin(lambda lib, a, b: tuple(lib.triangular_solve(b, a, transpose=transpose)),
                   [A, B], (0, 1))
        check_twin(lambda lib, a, b: tuple(b.triangular_solve(a, upper=False,
                                                              unitriangular=True)),
                   [A, B], (0, 1))


def test_cholesky_ex_and_deprecated_cholesky():
    """torch's gradient treats A as symmetric (potrf reads one triangle): checked against
    torch as given, against central differences through a symmetrized input"""
    check_twin(lambda lib, a: tuple(lib.linalg.cholesky_ex(a)), [SPD], gradcheck=False)
    check_twin(lambda lib, a: tuple(lib.linalg.cholesky_ex((a + a.mT) / 2, upper=True)), [SPD])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_twin(lambda lib, a: lib.cholesky(a, upper=True), [SPD], gradcheck=False)
        check_twin(lambda lib, a: ((a + a.mT) / 2).cholesky(), [SPD])


def test_cholesky_ex_reports_potrfs_info_and_partial_factor():
    check_twin(lambda lib, a: tuple(lib.linalg.cholesky_ex(a)),
               [np.stack([np.eye(2), NOT_PD])], ())


def test_deprecated_cholesky_warns_once_with_torchs_text():
    from tracecomp import linalg_legacy
    linalg_legacy._WARNED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tc.cholesky(tc.eye(2))
        tc.cholesky(tc.eye(2))
    assert len(caught) == 1 and caught[0].category is UserWarning
    assert str(caught[0].message).startswith(
        "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed")


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse(upper):
    """torch differentiates the factor as a full matrix (A = F F^T), where the solves read
    one triangle: checked against torch as given, against central differences with the
    factor's triangle taken first (the same function on triangular factors)"""
    def factor(f, keep=False):
        f = f if keep else f.tril()
        return f.mT if upper else f
    for keep in (True, False):
        def solve(lib, b, f, keep=keep):
            return lib.cholesky_solve(b, factor(f, keep), upper=upper)

        def solve_method(lib, b, f, keep=keep):
            return b.cholesky_solve(factor(f, keep), upper)

        def inverse(lib, f, keep=keep):
            return lib.cholesky_inverse(factor(f, keep), upper=upper)

        def inverse_method(lib, f, keep=keep):
            return factor(f, keep).cholesky_inverse(upper)
        check_twin(solve, [B, FACTOR], (0, 1), gradcheck=not keep)
        check_twin(solve_method, [B, FACTOR[0]], (0, 1), gradcheck=not keep)
        check_twin(inverse, [FACTOR], gradcheck=not keep)
        check_twin(inverse_method, [FACTOR[1]], gradcheck=not keep)


@pytest.mark.parametrize("fn", [
    lambda lib: lib.linalg.solve_triangular(lib.ones(2, 3), lib.ones(2, 1), upper=True),
    lambda lib: lib.linalg.solve_triangular(lib.ones(2, 2), lib.ones(3, 1), upper=True),
    lambda lib: lib.linalg.solve_triangular(lib.ones(2, 2), lib.ones(2), upper=True),
    lambda lib: lib.linalg.solve_triangular(lib.ones(2, 2, dtype=lib.int64),
                                            lib.ones(2, 1, dtype=lib.int64), upper=True),
    lambda lib: lib.triangular_solve(lib.ones(3, 1), lib.eye(2)),
    lambda lib: lib.triangular_solve(lib.ones(2, 1), lib.eye(2, dtype=lib.float64)),
    lambda lib: lib.linalg.cholesky(lib.stack([lib.eye(2), lib.tensor(NOT_PD)])),
    lambda lib: lib.linalg.cholesky_ex(lib.tensor(NOT_PD), check_errors=True),
    lambda lib: lib.linalg.cholesky(lib.ones(2, 2, dtype=lib.int64)),
    lambda lib: lib.cholesky_solve(lib.ones(3, 1), lib.eye(2)),
    lambda lib: lib.cholesky_solve(lib.ones(2), lib.eye(2)),
    lambda lib: lib.cholesky_solve(lib.ones(2, 1), lib.ones(2)),
    lambda lib: lib.cholesky_solve(lib.ones(2, 1), lib.eye(2, dtype=lib.float64)),
    lambda lib: lib.cholesky_inverse(lib.ones(3)),
], ids=["st-rect", "st-rows", "st-vector", "st-long", "ts-rows", "ts-dtypes",
        "cholesky-batch", "cholesky_ex-check", "cholesky-long", "cs-rows", "cs-vector-b",
        "cs-vector-u", "cs-dtypes", "ci-1d"])
def test_errors_match_torch(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, want = raised(tc, fn), raised(torch, fn)
    assert str(got) == str(want)
    for kind in (RuntimeError, NotImplementedError):
        assert isinstance(got, kind) == isinstance(want, kind), (type(got), type(want))


def test_compiled_solve_triangular_and_cholesky_solve_give_eagers_numbers():
    a, b = tc.tensor(A.astype(np.float32)), tc.tensor(B.astype(np.float32))

    def fn(a, b):
        low = tc.linalg.cholesky(a @ a.mT + tc.eye(4))
        return (tc.linalg.solve_triangular(a, b, upper=True),
                tc.linalg.solve_triangular(a, b.mT, upper=False, left=False),
                tc.cholesky_solve(b, low), tc.cholesky_inverse(low), tc.linalg.cholesky_ex(a)[1])
    for got, want in zip(tc.compile(fn, fullgraph=True)(a, b), fn(a, b)):
        assert got.dtype == want.dtype
        assert_close(got, want, 0, 0, what="compiled")


# --- an exact GP's marginal likelihood, GPyTorch-style -----------------------------------------
X = RNG.uniform(-2, 2, (12, 2)).astype(np.float32)
Y = (np.sin(X[:, 0]) + 0.1 * RNG.standard_normal(12)).astype(np.float32)


def _gp_model(lib):
    """log lengthscale, outputscale, noise; and the negative log marginal likelihood"""
    params = [lib.tensor(v, requires_grad=True) for v in (0.0, 0.3, -1.0)]

    def nll(x, y):
        log_ls, log_os, log_noise = params
        d2 = ((x.unsqueeze(1) - x.unsqueeze(0)) ** 2).sum(-1)
        k = log_os.exp() * (-0.5 * d2 / log_ls.exp() ** 2).exp()
        k = k + (log_noise.exp() + 1e-4) * lib.eye(x.shape[0])
        low = lib.linalg.cholesky(k)
        white = lib.linalg.solve_triangular(low, y.unsqueeze(-1), upper=False)
        logdet = 2 * low.diagonal().log().sum()
        return 0.5 * (white * white).sum() + 0.5 * logdet + 0.5 * x.shape[0] * math.log(2 * math.pi)
    return params, nll


def _gp_losses(lib, compiled=False):
    params, nll = _gp_model(lib)
    opt = lib.optim.Adam(params, lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = nll(x, y)
        loss.backward()
        opt.step()
        return loss
    run = tc.compile(step, fullgraph=True) if compiled else step
    losses = [run(lib.tensor(X), lib.tensor(Y)).item() for _ in range(3)]
    return losses, [p.detach().numpy() for p in params]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_exact_gp_marginal_likelihood_trains_as_torch(compiled):
    got_losses, got_params = _gp_losses(tc, compiled)
    want_losses, want_params = _gp_losses(torch)
    assert_close(np.array(got_losses), np.array(want_losses), 1e-5, 1e-5, what="losses")
    for g, w in zip(got_params, want_params):
        assert_close(g, w, 1e-5, 1e-5, what="parameter")
