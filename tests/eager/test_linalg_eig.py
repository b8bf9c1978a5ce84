"""torch.linalg.eig and eigvals against torch: complex results (compared through
A V = V diag(L), sorted eigenvalues, unit-norm eigenvectors equal up to a phase, and LAPACK's
own order, which torch's shares), gradients on matrices with distinct eigenvalues (real and
complex input), the phase-dependent loss torch refuses, torch's errors, and compiled calls
(complex is not compiled: a TraceError naming the op, a graph break by default)."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, raised

rng = np.random.default_rng(0)


def _matrices(dtype, shape=(2, 4, 4)):
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_eig_matches_torch(dtype):
    a = _matrices(dtype)
    values, vectors = tc.linalg.eig(tc.tensor(a))
    want_values, want_vectors = torch.linalg.eig(torch.tensor(a))
    tol = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10
    assert str(values.dtype).split(".")[-1] == str(want_values.dtype).split(".")[-1]
    assert str(vectors.dtype) == str(values.dtype) and vectors.shape == (2, 4, 4)
    L, V = values.numpy(), vectors.numpy()
    # A V = V diag(L), with unit eigenvectors
    assert np.abs(a @ V - V * L[..., None, :]).max() < tol * 10
    assert np.allclose(np.linalg.norm(V, axis=-2), 1, atol=tol)
    # the same eigenvalues; in LAPACK's order, as torch's
    assert np.allclose(np.sort_complex(L), np.sort_complex(want_values.numpy()), atol=tol)
    assert np.allclose(L, want_values.numpy(), atol=tol)
    # each eigenvector torch's up to a phase: |<v, v_torch>| = 1
    overlap = np.abs(np.einsum("...ij,...ij->...j", V.conj(), want_vectors.numpy()))
    assert np.allclose(overlap, 1, atol=tol)
    assert_close(tc.linalg.eigvals(tc.tensor(a)), values)


def _loss(lib, A):
    """A loss of L and V that does not depend on the eigenvectors' phases."""
    L, V = lib.linalg.eig(A)
    weights = lib.arange(float(A.shape[-1]), dtype=lib.float64)
    return ((L.real * 1.3 + L.imag ** 2).sum() + (V.abs() ** 2 * weights).sum()
            + lib.linalg.eigvals(A).abs().sum())


COMPLEX_PAIR = np.array([[0.0, -2.0, 1.0], [1.0, 0.0, 0.5], [0.3, 0.2, 1.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, "complex_pair"])
def test_eig_gradients_match_torch(dtype):
    a = COMPLEX_PAIR if dtype == "complex_pair" else _matrices(dtype, (3, 3))
    ours, ref = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    _loss(tc, ours).backward()
    _loss(torch, ref).backward()
    assert_close(ours.grad, ref.grad, rtol=1e-8, atol=1e-10, what="dA")


def test_eig_gradient_against_finite_differences():
    a = _matrices(np.float64, (3, 3))
    A = tc.tensor(a, requires_grad=True)
    assert tc.autograd.gradcheck(lambda x: tc.linalg.eigvals(x).abs(), (A,))


def test_phase_dependent_loss_is_refused_as_torch():
    a = COMPLEX_PAIR
    errors = [raised(lib, lambda lib: lib.linalg.eig(lib.tensor(a, requires_grad=True))[1]
                     .real.sum().backward()) for lib in (tc, torch)]
    assert type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1])


@pytest.mark.parametrize("op", ["eig", "eigvals"])
@pytest.mark.parametrize("shape", [(2, 3), (3,), (4, 2, 3)])
def test_non_square_errors_as_torch(op, shape):
    errors = [raised(lib, lambda lib: getattr(lib.linalg, op)(lib.ones(*shape)))
              for lib in (tc, torch)]
    assert isinstance(errors[0], RuntimeError) and str(errors[0]) == str(errors[1])


def test_other_errors():
    a = np.array([[1.0, np.nan], [0.0, 2.0]])
    for lib in (tc, torch):
        with pytest.raises(RuntimeError, match="should not contain infs or NaNs"):
            lib.linalg.eig(lib.tensor(a))
    assert np.isnan(tc.linalg.eigvals(tc.tensor(a)).numpy()).all()   # garbage in: NaN out
    with pytest.raises(RuntimeError, match="Long"):
        tc.linalg.eig(tc.ones(2, 2, dtype=tc.int64))
    with pytest.raises(RuntimeError, match="Long"):
        torch.linalg.eig(torch.ones(2, 2, dtype=torch.int64))
    for name in ("float16", "bfloat16"):
        errors = [raised(lib, lambda lib, name=name: lib.linalg.eig(lib.ones(
            2, 2, dtype=getattr(lib, name)))) for lib in (tc, torch)]
        assert type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1])
    empty = tc.linalg.eig(tc.zeros(0, 0))
    assert empty.eigenvalues.shape == (0,) and empty.eigenvectors.dtype == tc.complex64


def test_out_arguments():
    a = tc.tensor(_matrices(np.float64, (3, 3)))
    values, vectors = tc.empty(3, dtype=tc.complex128), tc.empty(3, 3, dtype=tc.complex128)
    got = tc.linalg.eig(a, out=(values, vectors))
    assert got.eigenvalues is values and got.eigenvectors is vectors
    assert_close(values, tc.linalg.eigvals(a))
    assert tc.linalg.eigvals(a, out=values) is values


def test_compiled_eig_is_a_trace_error_naming_the_op():
    a = tc.tensor(_matrices(np.float64, (3, 3)))
    strict = tc.compile(lambda x: tc.linalg.eigvals(x * 2).abs(), fullgraph=True)
    with pytest.raises(tc.errors.TraceError, match="linalg_eig_values"):
        strict(a)
    loose = tc.compile(lambda x: tc.linalg.eigvals(x * 2).abs())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = loose(a)
    assert_close(got, tc.linalg.eigvals(a * 2).abs())
