"""LU against torch 2.13: linalg.lu_factor(_ex), lu, lu_solve, torch.lu_unpack, the
deprecated torch.lu / lu_solve, and inv_ex / solve_ex (LU-based, as torch's). Values,
1-based int32 pivots and infos, gradients (vs torch, and vs central differences in float64)
for square, wide and tall matrices, errors, and compiled code giving eager's numbers."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised
from linalg_twin import check_twin

RNG = np.random.default_rng(7)
SQUARE = RNG.standard_normal((2, 4, 4))
WIDE = RNG.standard_normal((3, 5))
TALL = RNG.standard_normal((2, 5, 3))
RHS = RNG.standard_normal((2, 4, 3))
SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("a", [SQUARE, WIDE, TALL], ids=["square", "wide", "tall"])
def test_lu_factor_and_lu(a):
    check_twin(lambda lib, x: tuple(lib.linalg.lu_factor_ex(x)), [a])
    check_twin(lambda lib, x: tuple(lib.linalg.lu(x)), [a])
    check_twin(lambda lib, x: tuple(lib.lu_unpack(*lib.linalg.lu_factor(x))), [a])


def test_lu_float32_pivots_match_sgetrf():
    check_twin(lambda lib, x: tuple(lib.linalg.lu_factor(x)), [SQUARE.astype(np.float32)],
               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve(left, adjoint):
    def fn(lib, a, b):
        lu, piv = lib.linalg.lu_factor(a)
        return lib.linalg.lu_solve(lu, piv, b if left else b.mT, left=left, adjoint=adjoint)
    check_twin(fn, [SQUARE, RHS], (0, 1))


def test_lu_solve_broadcasts_a_single_factor():
    check_twin(lambda lib, a, b: lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b),
               [SQUARE[0], RHS], (0, 1))


def test_inv_ex_and_solve_ex():
    check_twin(lambda lib, a: tuple(lib.linalg.inv_ex(a)), [SQUARE])
    check_twin(lambda lib, a, b: tuple(lib.linalg.solve_ex(a, b)), [SQUARE, RHS], (0, 1))
    check_twin(lambda lib, a, b: tuple(lib.linalg.solve_ex(a, b[..., 0])), [SQUARE, RHS],
               (0, 1))
    check_twin(lambda lib, a, b: tuple(lib.linalg.solve_ex(a, b.mT, left=False)),
               [SQUARE, RHS], (0, 1))


def test_singular_matrices_give_torchs_infos_and_infinities():
    s = np.stack([np.eye(2), SINGULAR])
    check_twin(lambda lib, a: tuple(lib.linalg.lu_factor_ex(a)), [s], ())
    check_twin(lambda lib, a: tuple(lib.linalg.lu(a)), [s], ())
    check_twin(lambda lib, a: tuple(lib.linalg.inv_ex(a)), [s], ())
    check_twin(lambda lib, a: tuple(lib.linalg.solve_ex(a, lib.ones(2, 2, dtype=a.dtype))), [s], ())


def test_deprecated_lu_and_lu_solve_agree():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_twin(lambda lib, a: tuple(lib.lu(a, get_infos=True)), [SQUARE])
        check_twin(lambda lib, a: tuple(a.lu()), [SINGULAR], ())
        check_twin(lambda lib, a, b: lib.lu_solve(b, *lib.linalg.lu_factor(a)), [SQUARE, RHS],
                   (0, 1))


def test_deprecated_lu_and_lu_solve_warn_once_with_torchs_text():
    from tracecomp import linalg_legacy
    linalg_legacy._WARNED.clear()
    a = tc.eye(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            tc.lu_solve(tc.ones(2, 1), *tc.lu(a))
    texts = [str(w.message) for w in caught]
    assert [w.category for w in caught] == [UserWarning, UserWarning], texts
    assert texts[0].startswith("torch.lu is deprecated in favor of torch.linalg.lu_factor")
    assert texts[1].startswith("torch.lu_solve is deprecated in favor of torch.linalg.lu_solve")


@pytest.mark.parametrize("fn", [
    lambda lib: lib.linalg.lu_factor(lib.tensor(SINGULAR)),
    lambda lib: lib.linalg.lu_factor_ex(lib.stack([lib.eye(2), lib.tensor(SINGULAR)]),
                                        check_errors=True),
    lambda lib: lib.linalg.inv_ex(lib.tensor(SINGULAR), check_errors=True),
    lambda lib: lib.linalg.solve_ex(lib.tensor(SINGULAR), lib.ones(2), check_errors=True),
    lambda lib: lib.linalg.inv(lib.stack([lib.eye(2), lib.tensor(SINGULAR)])),
    lambda lib: lib.linalg.solve(lib.tensor(SINGULAR), lib.ones(2)),
    lambda lib: lib.linalg.lu_factor(lib.ones(3)),
    lambda lib: lib.linalg.lu_factor(lib.ones(2, 2, dtype=lib.int64)),
    lambda lib: lib.linalg.lu(lib.eye(2), pivot=False),
    lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(2)), lib.ones(2)),
    lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(2)), lib.ones(3, 1)),
    lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(2)), lib.ones(3, 1),
                                    left=False),
    lambda lib: lib.linalg.lu_solve(*lib.linalg.lu_factor(lib.eye(2)),
                                    lib.ones(2, 1, dtype=lib.float64)),
    lambda lib: lib.linalg.solve_ex(lib.eye(2), lib.ones(2, dtype=lib.float64)),
    lambda lib: lib.linalg.inv_ex(lib.ones(2, 3)),
    lambda lib: lib.lu_unpack(lib.eye(2), lib.tensor([1.0, 2.0])),
], ids=["lu_factor-singular", "lu_factor_ex-check", "inv_ex-check", "solve_ex-check",
        "inv-batch", "solve-singular", "lu_factor-1d", "lu_factor-long", "lu-no-pivot",
        "lu_solve-vector", "lu_solve-rows", "lu_solve-right", "lu_solve-dtypes",
        "solve_ex-dtypes", "inv_ex-rect", "lu_unpack-pivots"])
def test_errors_match_torch(fn):
    got, want = raised(tc, fn), raised(torch, fn)
    assert str(got) == str(want)
    for kind in (RuntimeError, NotImplementedError):
        assert isinstance(got, kind) == isinstance(want, kind), (type(got), type(want))
    assert isinstance(got, tc.linalg.LinAlgError) == (type(want).__name__ == "_LinAlgError")


def test_compiled_lu_factor_and_solve_give_eagers_numbers():
    a = tc.tensor(SQUARE.astype(np.float32))
    b = tc.tensor(RHS.astype(np.float32))

    def fn(a, b):
        lu, piv = tc.linalg.lu_factor(a)
        p, low, up = tc.linalg.lu(a)
        return tc.linalg.lu_solve(lu, piv, b), lu, piv, p, low, up, tc.linalg.inv_ex(a)[0]
    for got, want in zip(tc.compile(fn, fullgraph=True)(a, b), fn(a, b)):
        assert got.dtype == want.dtype
        assert_close(got, want, 0, 0, what="compiled")


def test_compiled_gradient_through_lu_solve():
    grads = []
    for compiled in (False, True):
        a = tc.tensor(SQUARE, requires_grad=True)
        b = tc.tensor(RHS, requires_grad=True)

        def step(a, b):
            x = tc.linalg.lu_solve(*tc.linalg.lu_factor(a), b)
            loss = (x * x).sum()
            loss.backward()
            return loss
        (tc.compile(step, fullgraph=True) if compiled else step)(a, b)
        grads.append((a.grad, b.grad))
    for got, want in zip(grads[1], grads[0]):
        assert_close(got, want, 1e-12, 1e-12, what="compiled gradient")


def test_grad_fn_names_are_torchs():
    def names(lib):
        a = lib.tensor(SQUARE[0], requires_grad=True)
        lu, piv = lib.linalg.lu_factor(a)
        p, low, up = lib.linalg.lu(a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solved = lib.triangular_solve(a, a)[0]
        return [t.grad_fn.name() for t in (
            lu, low, up, lib.lu_unpack(lu, piv)[1], lib.linalg.lu_solve(lu, piv, a),
            lib.linalg.solve_triangular(a, a, upper=True), lib.linalg.matrix_exp(a),
            lib.cholesky_solve(a, a), lib.cholesky_inverse(a), solved,
            lib.linalg.householder_product(a, a[0]))]
    assert names(tc) == names(torch)


@pytest.mark.parametrize("fn,kind,text", [
    (lambda a: tc.linalg.lu_factor(a)[0] * 2, RuntimeError, "torch.linalg.lu_factor: U[2,2]"),
    (lambda a: tc.linalg.inv_ex(a, check_errors=True)[0] * 2, tc.linalg.LinAlgError,
     "linalg.inv_ex: The diagonal element 2 is zero"),
    (lambda a: tc.linalg.solve_ex(a, a, check_errors=True)[0] * 2, tc.linalg.LinAlgError,
     "torch.linalg.solve_ex: The solver failed"),
], ids=["lu_factor", "inv_ex", "solve_ex"])
def test_compiled_code_raises_torchs_error_on_a_singular_matrix(fn, kind, text):
    with pytest.raises(kind, match=text.replace("[", r"\[").replace("]", r"\]")):
        tc.compile(fn, fullgraph=True)(tc.tensor(SINGULAR))


def test_compiled_ex_variants_return_the_info_instead():
    def fn(a):
        return tc.linalg.inv_ex(a).info, tc.linalg.lu_factor_ex(a).info, \
            tc.linalg.cholesky_ex(a).info
    got = tc.compile(fn, fullgraph=True)(tc.tensor(SINGULAR))
    assert [int(t.item()) for t in got] == [2, 2, 2]


def test_out_arguments_are_written_as_torchs():
    def fn(lib, a):
        lu, piv = lib.empty(0, dtype=a.dtype), lib.empty(0, dtype=lib.int32)
        lib.linalg.lu_factor(a, out=(lu, piv))
        p, low, up = (lib.empty(0, dtype=a.dtype) for _ in range(3))
        lib.lu_unpack(lu, piv, out=(p, low, up))
        inverse = lib.empty(4, 4, dtype=a.dtype)
        lib.cholesky_inverse(up, out=inverse)
        return lu, piv, p, low, up, inverse
    check_twin(fn, [SQUARE[0]], ())
