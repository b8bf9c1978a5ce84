"""torch.linalg's triangular solves, LU, Cholesky and LDL families, the _ex variants (their
LAPACK info as an int32 tensor), matrix_exp, householder_product, cond, tensorinv,
tensorsolve and vander.

The factorizations are primitives (ops/linalg_lu.py, ops/linalg_decomp.py); what torch
computes from them is composed here from public ops, so it differentiates as torch does and
compiles (lu_solve is a permutation and two triangular solves, householder_product a
product of reflectors I - tau v v^T). tracecomp.linalg re-exports these names.
"""
import math

from . import composite as C
from .creation import eye, full
from .errors import DTypeError, ShapeError
from .grad_fn_names import named
from .ops import elementwise as ew
from .ops import linalg_decomp as D
from .ops import linalg_lu as LU
from .ops import reduce as rd
from .ops.linalg import matmul
from .ops.linalg_decomp import mT
from .return_types import structseq
from .torch_args import scalar_name, with_out

CholeskyEx = structseq("linalg_cholesky_ex", ["L", "info"])
InvEx = structseq("linalg_inv_ex", ["inverse", "info"])
SolveEx = structseq("linalg_solve_ex", ["result", "info"])
LUFactor = structseq("linalg_lu_factor", ["LU", "pivots"])
LUFactorEx = structseq("linalg_lu_factor_ex", ["LU", "pivots", "info"])
PLU = structseq("linalg_lu", ["P", "L", "U"])
LUUnpack = structseq("lu_unpack", ["P", "L", "U"])
LDLFactor = structseq("linalg_ldl_factor", ["LD", "pivots"])
LDLFactorEx = structseq("linalg_ldl_factor_ex", ["LD", "pivots", "info"])


def _float(x, op, takes_complex=False):
    """x, refused unless floating point (or complex, for the ops written for it: torch takes
    complex matrices everywhere, most of ours are written for reals)."""
    if x._data.dtype.kind == "c" and not takes_complex:
        raise DTypeError(f"{op}: tracecomp's linalg has no complex matrices yet (got "
                         f"{x.dtype.name}); torch.linalg takes them")
    if x._data.dtype.kind not in "fc":     # (bfloat16's numpy kind is "V": refused)
        raise DTypeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                         f"{scalar_name(x._data.dtype)}")
    return x


def _kernel_dtype(x, kernel):
    """torch's CPU kernels dispatch on float types only: '"lu_cpu" not implemented for
    'Long''"""
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f'"{kernel}" not implemented for '
                                  f"'{scalar_name(x._data.dtype)}'")
    return x


def _same_dtype(op, a, b):
    if a._data.dtype != b._data.dtype:
        raise DTypeError(f"{op}: Expected A and B to have the same dtype, but found A of type "
                         f"{scalar_name(a._data.dtype)} and B of type "
                         f"{scalar_name(b._data.dtype)} instead")


def _is_vector_rhs(A, B):  # noqa: N803 - torch's argument names
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


# --- triangular solves -------------------------------------------------------------------
def solve_triangular(A, B, *, upper, left=True, unitriangular=False):  # noqa: N803
    _kernel_dtype(A, "triangular_solve_cpu")
    if B._data.dtype != A._data.dtype:      # torch solves in A's dtype
        B = ew.cast(B, A.dtype)  # noqa: N806
    return LU.solve_triangular(A, B, upper, unitriangular, left)


# --- Cholesky ----------------------------------------------------------------------------
def cholesky_ex(A, *, upper=False, check_errors=False):  # noqa: N803
    _float(A, "linalg.cholesky_ex")
    L = D.cholesky(A, "linalg.cholesky_ex" if check_errors else "")  # noqa: N806
    return CholeskyEx(mT(L) if upper else L, LU.cholesky_info(A))


# --- LU ------------------------------------------------------------------------------------
def _need_pivot(pivot, op):
    if not pivot:
        raise RuntimeError(f"{op}: LU without pivoting is not implemented on the CPU")


def lu_factor_ex(A, *, pivot=True, check_errors=False):  # noqa: N803
    _kernel_dtype(A, "lu_cpu")
    _need_pivot(pivot, "linalg.lu_factor")
    lu = LU.lu_factor(A, "torch.linalg.lu_factor_ex" if check_errors else "")
    return LUFactorEx(lu, LU.lu_pivots(A), LU.lu_info(A))


def lu_factor(A, *, pivot=True):  # noqa: N803
    _kernel_dtype(A, "lu_cpu")
    _need_pivot(pivot, "linalg.lu_factor")
    return LUFactor(LU.lu_factor(A, "torch.linalg.lu_factor"), LU.lu_pivots(A))


def _lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):  # noqa: N803
    """P, L, U with A = P L U from lu_factor's compact LU and 1-based pivots; the parts not
    asked for are empty tensors, as torch's."""
    if LU_data.ndim < 2:
        raise RuntimeError(f"torch.lu_unpack: Expected tensor with 2 or more dimensions. Got "
                           f"size: {list(LU_data.shape)} instead")
    if LU_pivots._data.dtype.kind not in "iu":
        raise RuntimeError("torch.lu_unpack: LU_pivots is expected to be a contiguous tensor "
                           "of torch.int32 dtype.\nNote: this function is intended to be used "
                           "with the output produced by torch.linalg.lu_factor")
    m = LU_data.shape[-2]
    empty = full((0,), 0, dtype=LU_data.dtype, device=LU_data.device)
    lower, upper = LU.factors(LU_data) if unpack_data else (empty, empty)
    p = LU.permutation(LU_pivots, m, LU_data.dtype) if unpack_pivots else empty
    return LUUnpack(p, *(named(t, "LuUnpackBackward0", (LU_data,)) for t in (lower, upper)))


def lu(A, *, pivot=True):  # noqa: N803
    _kernel_dtype(A, "lu_cpu")
    _need_pivot(pivot, "linalg.lu_factor")
    p, lower, upper = _lu_unpack(LU.lu_factor(A), LU.lu_pivots(A))
    return PLU(p, *(named(t, "LinalgLuBackward0", (A,)) for t in (lower, upper)))


def lu_solve(LU_, pivots, B, *, left=True, adjoint=False):  # noqa: N803
    """A X = B (left) or X A = B for A = P L U; adjoint: with A^T."""
    D.square_rule("torch.linalg.lu_solve")(tuple(LU_.shape))
    if LU_._data.dtype != B._data.dtype:
        raise DTypeError(f"linalg.lu_solve: Expected LU and B to have the same dtype, but "
                         f"found LU of type {scalar_name(LU_._data.dtype)} and B of type "
                         f"{scalar_name(B._data.dtype)} instead")
    if B.ndim < 2:
        raise ShapeError("linalg.lu_solve: The input tensor B must have at least 2 "
                         "dimensions.")
    n, k = LU_.shape[-1], B.shape[-2] if left else B.shape[-1]
    if k != n:
        eq = "AX = B" if left else "XA = B"
        raise ShapeError(f"linalg.lu_solve: Incompatible shapes of A and B for the equation "
                         f"{eq} ({n}x{n} and {B.shape[-2]}x{B.shape[-1]})")
    if not left:                         # X A = B  <=>  A^T X^T = B^T
        return mT(lu_solve(LU_, pivots, mT(B), adjoint=not adjoint))
    lower, upper = LU.factors(LU_)
    p = LU.permutation(pivots, n, LU_.dtype)
    if adjoint:                          # A^T = U^T L^T P^T
        y = LU.solve_triangular(mT(upper), B, False)
        return matmul(p, LU.solve_triangular(mT(lower), y, True, True))
    y = LU.solve_triangular(lower, matmul(mT(p), B), False, True)
    return named(LU.solve_triangular(upper, y, True), "LinalgLuSolveBackward0", (LU_, B))


# --- the _ex forms of inv and solve: LU-based, as torch's ------------------------------------
def solve_ex(A, B, *, left=True, check_errors=False):  # noqa: N803
    _float(A, "linalg.solve_ex")
    _same_dtype("linalg.solve", A, B)
    lu = LU.lu_factor(A, "torch.linalg.solve_ex" if check_errors else "")
    pivots = LU.lu_pivots(A)
    if left and _is_vector_rhs(A, B):
        x = C.squeeze(lu_solve(lu, pivots, C.unsqueeze(B, -1)), -1)
    else:
        x = lu_solve(lu, pivots, B, left=left)
    return SolveEx(x, LU.lu_info(A))


def inv_ex(A, *, check_errors=False):  # noqa: N803
    _float(A, "linalg.inv_ex")
    D.square_rule("linalg.inv")(tuple(A.shape))
    lu = LU.lu_factor(A, "linalg.inv_ex" if check_errors else "")
    identity = eye(A.shape[-1], dtype=A.dtype, device=A.device)
    return InvEx(lu_solve(lu, LU.lu_pivots(A), identity), LU.lu_info(A))


# --- LDL (not differentiable in torch either) --------------------------------------------
def ldl_factor_ex(A, *, hermitian=False, check_errors=False):  # noqa: N803
    _kernel_dtype(A, "ldl_factor_cpu")
    return LDLFactorEx(*LU.ldl_factor(A, "torch.linalg.ldl_factor_ex" if check_errors else ""))


def ldl_factor(A, *, hermitian=False):  # noqa: N803
    _kernel_dtype(A, "ldl_factor_cpu")
    ld, pivots, _ = LU.ldl_factor(A, "torch.linalg.ldl_factor")
    return LDLFactor(ld, pivots)


def ldl_solve(LD, pivots, B, *, hermitian=False):  # noqa: N803
    _kernel_dtype(LD, "ldl_solve_cpu")
    return LU.ldl_solve(LD, pivots, B)


# --- Householder products -------------------------------------------------------------------
def _reflect(c, v, t, left):
    """(I - t v v^T) c (left) or c (I - t v v^T): v (..., m, 1), t (..., 1, 1)"""
    if left:
        return c - t * matmul(v, matmul(mT(v), c))
    return c - t * matmul(matmul(c, v), mT(v))


def _reflectors(A, tau):  # noqa: N803
    """v_i (..., m, 1): column i of A below the diagonal, 1 on it, 0 above; t_i (..., 1, 1)"""
    from .creation import arange
    m = A.shape[-2]
    rows = C.unsqueeze(arange(m, device=A.device), -1)
    out = []
    for i in range(tau.shape[-1]):
        col = C.narrow(A, -1, i, 1)
        v = ew.where(rows > i, col, ew.cast(rows == i, A.dtype))
        out.append((v, C.unsqueeze(C.narrow(tau, -1, i, 1), -1)))
    return out


def householder_product(A, tau):  # noqa: N803
    """The first n columns of H_1 ... H_k (LAPACK orgqr), H_i = I - tau_i v_i v_i^T."""
    op = "torch.linalg.householder_product"
    _float(A, "linalg.householder_product")
    if A.ndim < 2:
        raise ShapeError(f"{op}: input must have at least 2 dimensions.")
    if A.shape[-2] < A.shape[-1]:
        raise ShapeError(f"{op}: input.shape[-2] must be greater than or equal to "
                         f"input.shape[-1]")
    if A.shape[-1] < tau.shape[-1]:
        raise ShapeError(f"{op}: input.shape[-1] must be greater than or equal to "
                         f"tau.shape[-1]")
    if tau.ndim != A.ndim - 1 or tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise ShapeError(f"{op}: Expected batch dimensions of tau to be equal to "
                         f"input.shape[:-2], but got {list(tau.shape[:-1])}")
    q = eye(A.shape[-2], A.shape[-1], dtype=A.dtype, device=A.device)
    for v, t in reversed(_reflectors(A, tau)):
        q = _reflect(q, v, t, True)
    return named(q, "LinalgHouseholderProductBackward0", (A, tau))


def ormqr(input, tau, other, left=True, transpose=False):  # noqa: A002 - torch's names
    """op(Q) @ other (left) or other @ op(Q), Q = H_1 ... H_k from geqrf's reflectors,
    op(Q) = Q^T when transpose."""
    if input.ndim < 2 or other.ndim < 2:
        raise ShapeError("torch.ormqr: input and other must have at least 2 dimensions.")
    size = other.shape[-2] if left else other.shape[-1]
    if input.shape[-2] != size:
        raise ShapeError(f"torch.ormqr: other.shape[{-2 if left else -1}] must be equal to "
                         f"input.shape[-2]")
    hs = _reflectors(input, tau)
    # Q c applies H_k first; Q^T c (= H_k ... H_1 c) H_1 first; on the right the reverse
    if left != transpose:
        hs = hs[::-1]
    out = other
    for v, t in hs:
        out = _reflect(out, v, t, left)
    return out


# --- matrix functions and tensor forms ---------------------------------------------------------
def matrix_exp(A):  # noqa: N803
    return LU.matrix_exp(_float(A, "linalg.matrix_exp", takes_complex=True))


def cond(A, p=None):  # noqa: N803
    """||A||_p ||A^-1||_p; for p = None, 2, -2 the ratio of extreme singular values; inf
    for a singular A (torch's rule)"""
    from . import linalg
    from .ops import linalg_factor as F
    _float(A, "linalg.cond")
    if p in (None, 2, -2):
        s = F.svd_s(A)
        top, low = rd.reduce_max(s, (s.ndim - 1,)), rd.reduce_min(s, (s.ndim - 1,))
        return low / top if p == -2 else top / low
    D.square_rule(f"linalg.cond(ord={p})")(tuple(A.shape))
    inverse, info = inv_ex(A)
    value = linalg.matrix_norm(A, p) * linalg.matrix_norm(inverse, p)
    return ew.where(info > 0, math.inf, value)


def tensorinv(A, ind=2):  # noqa: N803
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    out_shape, in_shape = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    rows, cols = math.prod(out_shape), math.prod(in_shape)
    if rows != cols:
        raise RuntimeError(f"Expected self to satisfy the requirement "
                           f"prod(self.shape[ind:]) == prod(self.shape[:ind]), but got "
                           f"{cols} != {rows}")
    from . import linalg
    return C.reshape(linalg.inv(C.reshape(A, (rows, cols))), in_shape + out_shape)


def tensorsolve(A, B, dims=None):  # noqa: N803
    from . import linalg
    if dims is not None:
        n = A.ndim
        dims = [d % n for d in dims]
        A = C.movedim(A, tuple(dims), tuple(range(n - len(dims), n)))  # noqa: N806
    result_shape = tuple(A.shape[B.ndim:])
    rows, cols = B.numel(), math.prod(result_shape)
    if rows != cols or tuple(A.shape[:B.ndim]) != tuple(B.shape):
        raise RuntimeError(f"Expected self to satisfy the requirement "
                           f"prod(self.shape[other.ndim:]) == prod(self.shape[:other.ndim]), "
                           f"but got {cols} != {rows}")
    x = linalg.solve(C.reshape(A, (rows, cols)), C.reshape(B, (rows,)))
    return C.reshape(x, result_shape)


def vander(x, *, N=None):  # noqa: N803
    """columns x^0, x^1, ..., x^(N-1) as torch builds them: a cumulative product"""
    from .composite_reduce import cumprod
    n = (x.shape[-1] if x.ndim else 1) if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    ones = C.unsqueeze(ew.cast(x * 0 + 1, x.dtype), -1)
    powers = cumprod(C.broadcast_to(C.unsqueeze(x, -1), tuple(x.shape) + (n - 1,)), -1)
    return C.cat([ones, powers], -1)


lu_unpack = with_out(_lu_unpack, "lu_unpack")
