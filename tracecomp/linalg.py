"""tracecomp.linalg: torch.linalg as users meet it. Norms, cross and multi_dot are
composites (they compile natively); inv, det, slogdet, solve, cholesky, eigh, qr, svd, pinv,
lstsq and matrix_rank run numpy.linalg (ops/linalg_decomp.py, ops/linalg_factor.py), with
torch's gradients where torch defines them; in compiled code they are numpy steps. The
triangular, LU, LDL and _ex families, matrix_exp and householder_product are in
linalg_lu.py.
"""
import math

import numpy as np

from . import composite as C
from . import dtypes
from .amp.cpu_policy import LOWER, autocast_op
from .composite_linalg import cross as _cross
from .composite_linalg import vector_norm
from .dtypes import np_kind
from .errors import DTypeError, ShapeError
from .grad_fn_names import grouped
from .linalg_lu import (  # noqa: F401 - torch.linalg's names
    cholesky_ex,
    cond,
    householder_product,
    inv_ex,
    ldl_factor,
    ldl_factor_ex,
    ldl_solve,
    lu,
    lu_factor,
    lu_factor_ex,
    lu_solve,
    matrix_exp,
    solve_ex,
    solve_triangular,
    tensorinv,
    tensorsolve,
    vander,
)
from .ops import elementwise as ew
from .ops import linalg_decomp as D
from .ops import linalg_eig as E
from .ops import linalg_factor as F
from .ops import movement as mv
from .ops import reduce as rd
from .ops.linalg import matmul
from .return_types import structseq
from .tensor import _wrap_dim
from .torch_args import scalar_name, with_out

LinAlgError = D.LinAlgError

SlogDet = structseq("linalg_slogdet", ["sign", "logabsdet"])
QR = structseq("linalg_qr", ["Q", "R"])
SVD = structseq("linalg_svd", ["U", "S", "Vh"])
Eigh = structseq("linalg_eigh", ["eigenvalues", "eigenvectors"])
Eig = structseq("linalg_eig", ["eigenvalues", "eigenvectors"])
Lstsq = structseq("linalg_lstsq", ["solution", "residuals", "rank",
                                                "singular_values"])


def _float(x, op):
    if x._data.dtype.kind == "c":       # the factorizations here are written for reals
        raise DTypeError(f"{op}: tracecomp's linalg has no complex matrices yet (got "
                         f"{x.dtype.name}); torch.linalg takes them")
    if np_kind(x._data.dtype) != "f":
        raise DTypeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                         f"{scalar_name(x._data.dtype)}")
    return x


def _eps_rtol(a):
    return dtypes.finfo_np(a._data.dtype).eps * max(a.shape[-2], a.shape[-1])


def _empty(like, dtype=None):
    from .creation import full
    return full((0,), 0, dtype=dtype or like.dtype)


# --- inverse, determinants, solve ------------------------------------------------------
def inv(A):  # noqa: N803 - torch's argument names
    return D.inv(_float(A, "linalg.inv"))


def det(A):  # noqa: N803
    return D.det(_float(A, "linalg.det"))


def slogdet(A):  # noqa: N803
    return SlogDet(*grouped(D.slogdet(_float(A, "linalg.slogdet")), "LinalgSlogdetBackward0",
                            A))


def _is_vector_rhs(A, B):  # noqa: N803
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def solve(A, B, *, left=True):  # noqa: N803
    _float(A, "linalg.solve")
    if B._data.dtype != A._data.dtype:
        raise DTypeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                         f"A of type {scalar_name(A._data.dtype)} and B of type "
                         f"{scalar_name(B._data.dtype)} instead")
    if not left:                                    # X A = B  <=>  A^T X^T = B^T
        return D.mT(solve(D.mT(A), D.mT(B)))
    if _is_vector_rhs(A, B):
        return C.squeeze(D.solve(A, C.unsqueeze(B, -1)), -1)
    return D.solve(A, B)


def cholesky(A, *, upper=False):  # noqa: N803
    L = D.cholesky(_float(A, "linalg.cholesky"))  # noqa: N806
    return D.mT(L) if upper else L


# --- eigen and singular value decompositions -------------------------------------------
def _uplo(UPLO):  # noqa: N803
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO


def eigh(A, UPLO="L"):  # noqa: N803
    _float(A, "linalg.eigh")
    return Eigh(*grouped((D.eigh_values(A, _uplo(UPLO)), D.eigh_vectors(A, _uplo(UPLO))),
                         "LinalgEighBackward0", A))


def eig(A):  # noqa: N803
    """Eigenvalues and eigenvectors of square A, complex (ops/linalg_eig.py)."""
    E.check(A, "linalg.eig")
    return Eig(*grouped((E.eig_values(A), E.eig_vectors(A)), "LinalgEigBackward0", A))


def eigvals(A):  # noqa: N803
    """The eigenvalues of square A, complex; NaN for a matrix with infs or NaNs (torch's
    eig refuses those, as eigvals does where A requires grad)."""
    return E.eig_values(E.check(A, "linalg.eigvals", finite=A.requires_grad))


def eigvalsh(A, UPLO="L"):  # noqa: N803
    return D.eigh_values(_float(A, "linalg.eigvalsh"), _uplo(UPLO))


def qr(A, mode="reduced"):  # noqa: N803
    _float(A, "linalg.qr")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    R = F.qr_r(A, mode)  # noqa: N806
    if mode == "r":
        return QR(_empty(A), R)
    return QR(*grouped((F.qr_q(A, mode), R), "LinalgQrBackward0", A))


def svd(A, full_matrices=True, *, driver=None):  # noqa: N803
    _float(A, "linalg.svd")
    return SVD(*grouped((F.svd_u(A, full_matrices), F.svd_s(A), F.svd_vh(A, full_matrices)),
                        "LinalgSvdBackward0", A))


def svdvals(A, *, driver=None):  # noqa: N803
    return F.svd_s(_float(A, "linalg.svdvals"))


def pinv(A, *, atol=None, rtol=None, hermitian=False):  # noqa: N803
    _float(A, "linalg.pinv")
    if rtol is None:
        rtol = _eps_rtol(A) if not atol else 0.0
    return F.pinv(A, rtol, 0.0 if atol is None else atol)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):  # noqa: N803
    _float(A, "linalg.matrix_rank")
    if rtol is None:
        rtol = _eps_rtol(A) if not atol else 0.0
    return F.matrix_rank(A, rtol, 0.0 if atol is None else atol)


def lstsq(A, B, rcond=None, *, driver=None):  # noqa: N803
    """The minimum-norm least-squares solution (pinv(A) @ B, what the gelsy/gelsd drivers
    give); rank for gelsy/gelsd/gelss, singular values for gelsd/gelss, residuals for the
    other drivers when m > n and A has full rank (torch's rules)."""
    _float(A, "linalg.lstsq")
    driver = driver or "gelsy"
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of (gels, "
                           f"gelsy, gelsd, gelss), but got {driver}")
    vector = B.ndim == A.ndim - 1
    rhs = C.unsqueeze(B, -1) if vector else B
    if rhs.shape[-2] != A.shape[-2]:
        raise ShapeError(f"torch.linalg.lstsq: input.size(-2) should match other.size(-2), "
                         f"got {A.shape[-2]} and {rhs.shape[-2]}")
    rtol = _eps_rtol(A) if rcond is None else rcond
    x = matmul(F.pinv(A, rtol, 0.0), rhs)
    solution = C.squeeze(x, -1) if vector else x
    m, n = A.shape[-2], A.shape[-1]
    rank = F.matrix_rank(A, rtol, 0.0) if driver != "gels" else _empty(A, dtypes.I64)
    values = F.svd_s(A) if driver in ("gelsd", "gelss") else _empty(A)
    residuals = _empty(A)
    if driver != "gelsy" and m > n and isinstance(A._data, np.ndarray) and \
            bool(np.all(F.matrix_rank(A, rtol, 0.0)._data == n)):
        r = matmul(A, x) - rhs
        residuals = rd.reduce_sum(r * r, (r.ndim - 2,))
        residuals = C.squeeze(residuals, -1) if vector else residuals
    return Lstsq(solution, residuals, rank, values)


# --- norms -----------------------------------------------------------------------------
def _matrix_dims(A, dim, op):  # noqa: N803
    if len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple. Got {list(dim)}")
    d = tuple(_wrap_dim(x, A.ndim, op) for x in dim)
    if d[0] == d[1]:
        raise RuntimeError(f"{op}: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: N803,A002
    if dtype is not None:
        A = ew.cast(A, dtype)  # noqa: N806
    _float(A, "linalg.matrix_norm")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    d0, d1 = _matrix_dims(A, dim, "linalg.matrix_norm")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        moved = C.movedim(A, (d0, d1), (-2, -1))
        s = F.svd_s(moved)
        out = rd.reduce_sum(s, (s.ndim - 1,)) if ord == "nuc" else \
            (rd.reduce_max if ord == 2 else rd.reduce_min)(s, (s.ndim - 1,))
        if keepdim:
            for d in sorted((d0, d1)):
                out = C.unsqueeze(out, d)
        return out
    if ord in (math.inf, -math.inf, 1, -1):
        summed, kept = (d1, d0) if ord in (math.inf, -math.inf) else (d0, d1)
        total = rd.reduce_sum(ew.abs(A), (summed,), True)
        pick = rd.reduce_max if ord > 0 else rd.reduce_min
        out = pick(total, (kept,), True)
        return out if keepdim else mv.reshape(
            out, tuple(s for i, s in enumerate(A.shape) if i not in (d0, d1)))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: N803,A002
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is None and ord is not None:
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        if A.ndim != 1:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input "
                               f"must be 1D or 2D. Got {A.ndim}D.")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


# --- products ----------------------------------------------------------------------------
def cross(input, other, *, dim=-1):  # noqa: A002
    return _cross(input, other, dim)


@autocast_op(LOWER)
def vecdot(x, y, *, dim=-1):
    """sum(conj(x) * y) along dim: torch's, which conjugates a complex x."""
    x = ew.conj(x) if x.is_complex() else x
    return rd.reduce_sum(x * y, (_wrap_dim(dim, max(x.ndim, y.ndim), "linalg.vecdot"),))


def multi_dot(tensors):
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for k, t in enumerate(tensors):
        if t.ndim != 2 and not (t.ndim == 1 and k in (0, len(tensors) - 1)):
            raise RuntimeError(f"multi_dot(): tensor {k} must be 2D but got {t.ndim}D")
    out = tensors[0]
    for t in tensors[1:]:
        out = matmul(out, t)
    return out


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):  # noqa: N803
    from .composite_shape import diagonal as diag_of
    return diag_of(A, offset, dim1, dim2)


def matrix_power(A, n):  # noqa: N803
    """A @ A @ ... (n times) by repeated squaring; n = 0 is the identity, n < 0 the
    inverse's power."""
    from .creation import eye
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ShapeError(f"linalg.matrix_power: A must be batches of square matrices, but they "
                         f"are {A.shape[-2] if A.ndim > 1 else 1} by "
                         f"{A.shape[-1] if A.ndim else 1} matrices")
    if n == 0:
        identity = eye(A.shape[-1], dtype=A.dtype, device=A.device)
        return ew.clone(C.broadcast_to(identity, tuple(A.shape)))
    base, result, k = (inv(A) if n < 0 else A), None, abs(n)
    while True:
        if k & 1:
            result = base if result is None else matmul(result, base)
        k >>= 1
        if not k:
            break
        base = matmul(base, base)
    return ew.clone(result) if result is A else result


matmul = with_out(matmul, "linalg.matmul")
matrix_power = with_out(matrix_power, "linalg.matrix_power")
inv = with_out(inv, "linalg.inv")
det = with_out(det, "linalg.det")
solve = with_out(solve, "linalg.solve")
cholesky = with_out(cholesky, "linalg.cholesky")
eig = with_out(eig, "linalg.eig")
eigvals = with_out(eigvals, "linalg.eigvals")
solve_triangular = with_out(solve_triangular, "linalg.solve_triangular")
lu_solve = with_out(lu_solve, "linalg.lu_solve")
matrix_exp = with_out(matrix_exp, "linalg.matrix_exp")
lu_factor = with_out(lu_factor, "linalg.lu_factor")
lu_factor_ex = with_out(lu_factor_ex, "linalg.lu_factor_ex")
lu = with_out(lu, "linalg.lu")
cholesky_ex = with_out(cholesky_ex, "linalg.cholesky_ex")
inv_ex = with_out(inv_ex, "linalg.inv_ex")
solve_ex = with_out(solve_ex, "linalg.solve_ex")
householder_product = with_out(householder_product, "linalg.householder_product")
ldl_factor = with_out(ldl_factor, "linalg.ldl_factor")
ldl_factor_ex = with_out(ldl_factor_ex, "linalg.ldl_factor_ex")
ldl_solve = with_out(ldl_solve, "linalg.ldl_solve")
cond = with_out(cond, "linalg.cond")
tensorinv = with_out(tensorinv, "linalg.tensorinv")
tensorsolve = with_out(tensorsolve, "linalg.tensorsolve")
norm = with_out(norm, "linalg.norm", cast="unsafe")
matrix_norm = with_out(matrix_norm, "linalg.matrix_norm", cast="unsafe")

from . import support as _support  # noqa: E402

# a torch.linalg name we lack raises NotImplementedError naming it (SUPPORT.md)
__getattr__ = _support.missing_in("torch.linalg")
