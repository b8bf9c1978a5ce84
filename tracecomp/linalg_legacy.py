"""torch's top-level linear algebra (torch.det, torch.inverse, torch.svd, ...), which
predates torch.linalg: thin adapters onto tracecomp.linalg with the old names and return
conventions (torch.svd gives V, not Vh; torch.qr's `some`; torch.triangular_solve's reversed
arguments), torch's deprecation warnings, and torch's errors for the ones it removed
(torch.solve, lstsq, symeig, eig, matrix_rank)."""
import warnings

from . import linalg
from . import linalg_lu as L
from .amp.cpu_policy import FP32, autocast_op
from .creation import eye
from .errors import DTypeError, ShapeError
from .grad_fn_names import named
from .ops import elementwise as ew
from .ops import linalg_decomp as D
from .ops import linalg_lu as LUp
from .ops.linalg_decomp import mT
from .ops.public import public
from .return_types import structseq
from .torch_args import scalar_name, with_out
from .user_code import user_stacklevel

SVD = structseq("svd", ["U", "S", "V"])
QR = structseq("qr", ["Q", "R"])
LUWithInfo = structseq("_lu_with_info", ["LU", "pivots", "info"])
TriangularSolve = structseq("triangular_solve", ["solution", "cloned_coefficient"])
Geqrf = structseq("geqrf", ["a", "tau"])


def det(input):  # noqa: A002 - torch's argument name
    return linalg.det(input)


def slogdet(input):  # noqa: A002
    return linalg.slogdet(input)


def logdet(input):  # noqa: A002
    """log(det): NaN for a negative determinant, -inf for a zero one (torch's rule)."""
    sign, logabs = linalg.slogdet(input)
    return ew.where(sign < 0, float("nan"), ew.where(sign == 0, float("-inf"), logabs))


@autocast_op(FP32)
def inverse(input):  # noqa: A002
    return linalg.inv(input)


@autocast_op(FP32)
def pinverse(input, rcond=1e-15):  # noqa: A002
    return linalg.pinv(input, rtol=rcond)


def svd(input, some=True, compute_uv=True):  # noqa: A002
    u, s, vh = linalg.svd(input, full_matrices=not some)
    if not compute_uv:                 # torch returns zero-filled U and V then
        return SVD(u * 0, s, mT(vh) * 0)
    return SVD(u, s, mT(vh))


def qr(input, some=True):  # noqa: A002
    _warn_once("qr", "torch.qr is deprecated in favor of torch.linalg.qr and will be removed in "
               "a future PyTorch release.\nThe boolean parameter 'some' has been replaced "
               "with a string parameter 'mode'.\nQ, R = torch.qr(A, some)\nshould be "
               "replaced with\nQ, R = torch.linalg.qr(A, 'reduced' if some else 'complete')")
    return QR(*linalg.qr(input, "reduced" if some else "complete"))


# --- the Cholesky and LU families under their old names -------------------------------------
_WARNED = set()


def _warn_once(name, text):
    """torch's TORCH_WARN_ONCE: the deprecation UserWarning, once per process"""
    if name not in _WARNED:
        _WARNED.add(name)
        warnings.warn(text, UserWarning, stacklevel=user_stacklevel())


def cholesky(input, upper=False):  # noqa: A002
    _warn_once("cholesky", "torch.cholesky is deprecated in favor of torch.linalg.cholesky and "
               "will be removed in a future PyTorch release.\nL = torch.cholesky(A)\nshould be "
               "replaced with\nL = torch.linalg.cholesky(A)\nand\nU = torch.cholesky(A, "
               "upper=True)\nshould be replaced with\nU = torch.linalg.cholesky(A).mH\nThis "
               "transform will produce equivalent results for all valid (symmetric positive "
               "definite) inputs.")
    return linalg.cholesky(input, upper=upper)


def cholesky_solve(input, input2, upper=False):  # noqa: A002
    """X = A^-1 B for A = L L^T (or U^T U) given its factor input2"""
    L._float(input, "cholesky_solve")
    _b_and_a("cholesky_solve", input, input2)
    return LUp.cholesky_solve(input, input2, upper)


def cholesky_inverse(input, upper=False):  # noqa: A002
    if input.ndim < 2:
        raise RuntimeError("cholesky_inverse: The input tensor A must have at least 2 "
                           "dimensions.")
    D.square_rule("cholesky_inverse")(tuple(input.shape))
    identity = eye(input.shape[-1], dtype=input.dtype, device=input.device)
    return named(LUp.cholesky_solve(identity, input, upper), "CholeskyInverseBackward0",
                 (input,))


def lu(A, pivot=True, get_infos=False):  # noqa: N803
    _warn_once("lu", "torch.lu is deprecated in favor of torch.linalg.lu_factor / "
               "torch.linalg.lu_factor_ex and will be removed in a future PyTorch release.\n"
               "LU, pivots = torch.lu(A, compute_pivots)\nshould be replaced with\nLU, pivots "
               "= torch.linalg.lu_factor(A, compute_pivots)\nand\nLU, pivots, info = "
               "torch.lu(A, compute_pivots, get_infos=True)\nshould be replaced with\nLU, "
               "pivots, info = torch.linalg.lu_factor_ex(A, compute_pivots)")
    # (torch's check_errors=not get_infos checks only LAPACK's argument errors: a singular
    # A factors without raising either way)
    lu_, pivots, info = L.lu_factor_ex(A, pivot=pivot)
    return LUWithInfo(lu_, pivots, info) if get_infos else (lu_, pivots)


def lu_solve(b, LU_data, LU_pivots):  # noqa: N803
    _warn_once("lu_solve", "torch.lu_solve is deprecated in favor of torch.linalg.lu_solveand "
               "will be removed in a future PyTorch release.\nNote that torch.linalg.lu_solve "
               "has its arguments reversed.\nX = torch.lu_solve(B, LU, pivots)\nshould be "
               "replaced with\nX = torch.linalg.lu_solve(LU, pivots, B)")
    return L.lu_solve(LU_data, LU_pivots, b)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):  # noqa: N803
    _warn_once("triangular_solve", "torch.triangular_solve is deprecated in favor of "
               "torch.linalg.solve_triangularand will be removed in a future PyTorch release."
               "\ntorch.linalg.solve_triangular has its arguments reversed and does not return "
               "a copy of one of the inputs.\nX = torch.triangular_solve(B, A).solution\nshould "
               "be replaced with\nX = torch.linalg.solve_triangular(A, B).")
    L._kernel_dtype(A, "triangular_solve_cpu")
    _b_and_a("triangular_solve", b, A)
    coefficient = mT(A) if transpose else A
    x = LUp.solve_triangular(coefficient, b, upper != transpose, unitriangular)
    return TriangularSolve(named(x, "TriangularSolveBackward0", (b, A)), ew.clone(A))


def _b_and_a(op, b, a):
    """the legacy solves' checks, in their words: b and A of one dtype, rows matching"""
    if b._data.dtype != a._data.dtype:
        raise DTypeError(f"Expected b and A to have the same dtype, but found b of type "
                         f"{scalar_name(b._data.dtype)} and A of type "
                         f"{scalar_name(a._data.dtype)} instead.")
    if b.ndim >= 2 and a.ndim >= 2 and b.shape[-2] != a.shape[-1]:
        raise ShapeError(f"Incompatible matrix sizes for {op}: each A matrix is {a.shape[-2]} "
                         f"by {a.shape[-1]} but each b matrix is {b.shape[-2]} by "
                         f"{b.shape[-1]}")


def geqrf(input):  # noqa: A002
    L._kernel_dtype(input, "geqrf_cpu")
    return Geqrf(*LUp.geqrf(input))


def orgqr(input, tau):  # noqa: A002
    return L.householder_product(input, tau)


def ormqr(input, tau, other, left=True, transpose=False):  # noqa: A002
    return L.ormqr(input, tau, other, left, transpose)


def matrix_exp(input):  # noqa: A002
    return L.matrix_exp(input)


# --- removed in torch 1.9+: calling them raises torch's RuntimeError with the replacement ---
_REMOVED = {
    "solve": "`torch.solve` is deprecated in favor of `torch.linalg.solve`. `torch.linalg.solve` "
             "has its arguments reversed and does not return the LU factorization.\n\nTo get "
             "the LU factorization see `torch.lu`, which can be used with `torch.lu_solve` or "
             "`torch.lu_unpack`.\nX = torch.solve(B, A).solution should be replaced with:\nX = "
             "torch.linalg.solve(A, B)",
    "lstsq": "`torch.lstsq` is deprecated in favor of `torch.linalg.lstsq`.\n`torch.linalg."
             "lstsq` has reversed arguments and does not return the QR decomposition in the "
             "returned tuple (although it returns other information about the problem).\n\nTo "
             "get the QR decomposition consider using `torch.linalg.qr`.\n\nThe returned "
             "solution in `torch.lstsq` stored the residuals of the solution in the last m - n "
             "columns of the returned value whenever m > n. In torch.linalg.lstsq, the "
             "residuals are in the field 'residuals' of the returned named tuple.\n\nThe "
             "unpacking of the solution, as in\nX, _ = torch.lstsq(B, A).solution[:A.size(1)]"
             "\nshould be replaced with:\nX = torch.linalg.lstsq(A, B).solution",
    "symeig": "The default behavior has changed from using the upper triangular portion of the "
              "matrix by default to using the lower triangular portion.\n\nL, _ = torch.symeig"
              "(A, upper=upper) should be replaced with:\nL = torch.linalg.eigvalsh(A, UPLO='U' "
              "if upper else 'L')\n\nand\n\nL, V = torch.symeig(A, eigenvectors=True) should be "
              "replaced with:\nL, V = torch.linalg.eigh(A, UPLO='U' if upper else 'L')",
    "eig": "`torch.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` rather "
           "than real tensors mimicking complex tensors.\n\nL, _ = torch.eig(A) should be "
           "replaced with:\nL_complex = torch.linalg.eigvals(A)\n\nand\n\nL, V = torch.eig(A, "
           "eigenvectors=True) should be replaced with:\nL_complex, V_complex = "
           "torch.linalg.eig(A)",
    "matrix_rank": "\nPlease use the `torch.linalg.matrix_rank` function instead. The "
                   "parameter 'symmetric' was renamed in `torch.linalg.matrix_rank()` to "
                   "'hermitian'.",
}


# --- the norms torch keeps for TorchScript only (each warns once, as torch's) -----------------
@public("torch")
def nuclear_norm(input, dim=(-2, -1), keepdim=False):  # noqa: A002
    _warn_once("nuclear_norm", "at::nuclear_norm is deprecated and it is just left for JIT "
               "compatibility. It will be removed in a future PyTorch release. Please use "
               "`linalg.matrix_norm(A, 'nuc', dim, keepdim)` instead")
    dims = (dim, dim) if isinstance(dim, int) else tuple(dim)
    return linalg.matrix_norm(input, "nuc", dims, keepdim)


@public("torch")
def frobenius_norm(input, dim, keepdim=False):  # noqa: A002
    _warn_once("frobenius_norm", "at::frobenius_norm is deprecated and it is just left for "
               "JIT compatibility. It will be removed in a future PyTorch release. Please use "
               "`linalg.vector_norm(A, 2., dim, keepdim)` instead")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) > 2:
        raise RuntimeError(f"Expected at most 2 dimensions, but got {len(dims)} dimensions "
                           f"instead.")
    if not (input.is_floating_point() or input.is_complex()):
        raise RuntimeError(f"norm(): input dtype should be either floating point or complex. "
                           f"Got {scalar_name(input._data.dtype)} instead.")
    return linalg.vector_norm(input, 2.0, dims or None, keepdim)


def _removed(name):
    def call(*args, **kwargs):
        raise RuntimeError("This function was deprecated since version 1.9 and is now removed."
                           + ("" if _REMOVED[name][0] == "\n" else " ") + _REMOVED[name])
    call.__name__ = call.__qualname__ = name
    return call


solve, lstsq, symeig, eig, matrix_rank = (_removed(n) for n in
                                          ("solve", "lstsq", "symeig", "eig", "matrix_rank"))
# torch's out= (the deprecated ones that warn stay unwrapped: their warning names the caller)
cholesky_solve = with_out(cholesky_solve, "cholesky_solve")
cholesky_inverse = with_out(cholesky_inverse, "cholesky_inverse")
geqrf = with_out(geqrf, "geqrf")
orgqr = with_out(orgqr, "orgqr")
ormqr = with_out(ormqr, "ormqr")
