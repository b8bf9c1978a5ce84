"""Linear-algebra primitives, part three, on LAPACK/BLAS through scipy (ops/lapack.py):
triangular solves, the LU factorization (its compact LU, pivots and info), the permutation
its pivots make, the matrix exponential, and the factorizations torch does not
differentiate (geqrf, ldl_factor, ldl_solve). Everything else torch builds on them
(lu_solve, lu_unpack, cholesky_solve, householder_product, ...) is composite, in
tracecomp/linalg_lu.py.

As in linalg_decomp.py, each output of a factorization is its own primitive and the VJPs
are torch's formulas (FunctionsManual.cpp). No llvm lowering: in compiled code each runs as
a numpy step.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..errors import ShapeError, fmt_shape
from . import lapack
from .linalg_decomp import _mm, _same, mT, square_rule
from .registry import defprim


def _no_grad_dtype(dtype):
    return lambda *_, **__: dtype


def _tri(x, upper, unitriangular):
    """the triangle solve_triangular reads: triu/tril, without the diagonal when unit"""
    from ..composite import tril, triu
    return triu(x, int(unitriangular)) if upper else tril(x, -int(unitriangular))


# --- triangular solve --------------------------------------------------------------------
def _tri_rule(a, b, upper, unitriangular, op="linalg.solve_triangular"):
    square_rule(op)(a)
    if len(b) < 2:
        raise ShapeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    if b[-2] != a[-1]:
        raise ShapeError(f"{op}: Incompatible shapes of A and B for the equation AX = B "
                         f"({a[-2]}x{a[-1]} and {b[-2]}x{b[-1]})")
    from .rules import broadcast_shapes
    return broadcast_shapes(op, a[:-2], b[:-2]) + tuple(b[-2:])


def _tri_impl(a, b, upper, unitriangular):
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    return lapack.trsm(a, np.broadcast_to(b, batch + b.shape[-2:]), upper, unitriangular)


def _tri_vjp(g, out, a, b, upper, unitriangular):
    """torch's: gB = A^-T g (the transposed triangle), gA = -gB X^T on A's triangle."""
    gb = solve_triangular(mT(a), g, not upper, unitriangular)
    return (_tri(-_mm(gb, mT(out)), upper, unitriangular), gb)


solve_triangular_p = defprim("linalg_solve_triangular", _tri_impl, _tri_rule,
                             lambda a, b, **_: np.result_type(a.dtype, b.dtype), _tri_vjp,
                             saves=(0, "out"))


def solve_triangular(a, b, upper, unitriangular=False, left=True):
    """X with A X = B (left) or X A = B, for A upper or lower triangular (only that
    triangle is read; unitriangular: its diagonal is taken as ones)."""
    if not left:                                   # X A = B  <=>  A^T X^T = B^T
        return mT(solve_triangular(mT(a), mT(b), not upper, unitriangular))
    _tri_rule(tuple(a.shape), tuple(b.shape), upper, unitriangular)
    return bind(solve_triangular_p, a, b, upper=bool(upper), unitriangular=bool(unitriangular))


# --- LU ------------------------------------------------------------------------------------
def _lu_rule(op):
    def rule(a, check=None):
        if len(a) < 2:
            raise ShapeError(f"{op}: Expected tensor with 2 or more dimensions. Got size: "
                             f"{fmt_shape(a)} instead")
        return tuple(a)
    return rule


# the op whose error a zero pivot raises -> which of torch's messages it is
_CHECK_KIND = {"linalg.inv_ex": "inv", "torch.linalg.solve_ex": "solve"}


def _lu_impl(a, check=""):
    """getrf's compact LU; with `check` (the op's name), a zero pivot raises torch's error
    (inv_ex and solve_ex, which factor the same way, raise theirs)"""
    lu, _, info = lapack.getrf(a)
    if check:
        lapack.check_info(check, _CHECK_KIND.get(check, "lu"), info)
    return lu


def _factors(lu, m, n):
    """L (m, k) unit lower and U (k, n) upper from the compact LU, k = min(m, n)"""
    from ..composite import tril, triu
    from ..creation import eye
    from .linalg_factor import _cols, _rows
    k = min(m, n)
    unit = eye(m, k, dtype=lu.dtype, device=lu.device)
    return tril(_cols(lu, k), -1) + unit, triu(_rows(lu, k))


def permutation(pivots, m, dtype):
    """P (..., m, m) with A = P L U, from getrf's 1-based pivots"""
    from ..creation import arange
    from .elementwise import cast
    from .movement import reshape
    perm = bind(lu_perm_p, pivots, m=m)
    rows = reshape(arange(m, device=pivots.device), (m, 1))
    return cast(rows == reshape(perm, tuple(perm.shape[:-1]) + (1, m)), dtype)


def _lu_vjp(g, out, a, check=""):
    """torch's linalg_lu_backward, the cotangents of L and U read off the compact LU's:
    gL = tril(g, -1), gU = triu(g); square, wide (m < n) and tall (m > n) cases."""
    from ..composite import tril, triu
    from .linalg_factor import _cols, _cols_from, _rows, _rows_from
    from .movement import concat
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    lower, upper = _factors(out, m, n)
    gl, gu = tril(_cols(g, k), -1), triu(_rows(g, k))
    if m == n:
        ga = tril(_mm(mT(lower), gl), -1) + triu(_mm(gu, mT(upper)))
        ga = solve_triangular(mT(upper), ga, False, left=False)
        ga = solve_triangular(mT(lower), ga, True, True)
    elif m < n:
        ga = tril(_mm(mT(lower), gl) - _mm(gu, mT(upper)), -1)
        ga = solve_triangular(mT(_cols(upper, k)), ga, False, left=False)
        ga = concat([ga + _cols(gu, k), _cols_from(gu, k)], a.ndim - 1)
        ga = solve_triangular(mT(lower), ga, True, True)
    else:
        ga = triu(_mm(gu, mT(upper)) - _mm(mT(lower), gl))
        ga = solve_triangular(mT(_rows(lower, k)), ga, True, True)
        ga = concat([ga + _rows(gl, k), _rows_from(gl, k)], a.ndim - 2)
        ga = solve_triangular(mT(upper), ga, False, left=False)
    return (_mm(permutation(lu_pivots(a), m, out.dtype), ga),)


lu_factor_p = defprim("linalg_lu_factor", _lu_impl, _lu_rule("torch.lu_factor"), _same,
                      _lu_vjp, saves=(0, "out"))


def _lu_shape(a, **_):
    return tuple(_lu_rule("torch.lu_factor")(a)[:-2]) + (min(a[-2], a[-1]),)


lu_pivots_p = defprim("linalg_lu_pivots", lambda a: lapack.getrf(a)[1], _lu_shape,
                      _no_grad_dtype(np.dtype(np.int32)))
lu_info_p = defprim("linalg_lu_info", lambda a: lapack.getrf(a)[2],
                    lambda a: _lu_shape(a)[:-1], _no_grad_dtype(np.dtype(np.int32)))


def _perm_impl(pivots, m):
    """the row order getrf's swaps make: row i of P^T A is row perm[i] of A"""
    perm = np.broadcast_to(np.arange(m), pivots.shape[:-1] + (m,)).copy()
    index = np.indices(pivots.shape[:-1])
    for i in range(pivots.shape[-1]):
        j = pivots[..., i].astype(np.int64) - 1
        here, there = perm[..., i].copy(), perm[(*index, j)]
        perm[..., i] = there
        perm[(*index, j)] = here
    return perm


lu_perm_p = defprim("linalg_lu_perm", _perm_impl,
                    lambda pivots, m: tuple(pivots[:-1]) + (m,), _no_grad_dtype(dtypes.I64))


def lu_factor(a, check=""):
    return bind(lu_factor_p, a, check=check)


def lu_pivots(a):
    return bind(lu_pivots_p, a)


def lu_info(a):
    return bind(lu_info_p, a)


def factors(lu):
    """(L, U) of a compact LU"""
    return _factors(lu, lu.shape[-2], lu.shape[-1])


# --- Cholesky: its info, and solves with a factor -----------------------------------------
def _chol_solve_rule(b, f, upper):
    for name, shape in (("b", b), ("u", f)):
        if len(shape) < 2:
            raise ShapeError(f"{name} should have at least 2 dimensions, but has {len(shape)} "
                             f"dimensions instead")
    if f[-1] != f[-2] or b[-2] != f[-1]:
        raise ShapeError(f"Incompatible matrix sizes for cholesky_solve: each A matrix is "
                         f"{f[-2]} by {f[-1]} but each b matrix is {b[-2]} by {b[-1]}")
    from .rules import broadcast_shapes
    return broadcast_shapes("cholesky_solve", b[:-2], f[:-2]) + tuple(b[-2:])


def _chol_solve_impl(b, f, upper):
    """X = (L L^T)^-1 B, or (U^T U)^-1 B: two triangular solves (potrs's)"""
    first = _tri_impl(np.swapaxes(f, -1, -2) if upper else f, b, False, False)
    return _tri_impl(f if upper else np.swapaxes(f, -1, -2), first, True, False)


def _chol_solve_vjp(g, out, b, f, upper):
    """torch's cholesky_solve_backward: the factor as a full matrix (not its triangle):
    gB = A^-1 g, gL = -(gB X^T + X gB^T) L (or -U (...) when upper)."""
    gb = cholesky_solve(g, f, upper)
    common = _mm(gb, mT(out))
    common = common + mT(common)
    return (gb, -_mm(f, common) if upper else -_mm(common, f))


cholesky_solve_p = defprim("cholesky_solve", _chol_solve_impl, _chol_solve_rule,
                           lambda b, f, **_: np.result_type(b.dtype, f.dtype), _chol_solve_vjp,
                           saves=(1, "out"))


def cholesky_solve(b, f, upper=False):
    _chol_solve_rule(tuple(b.shape), tuple(f.shape), upper)
    return bind(cholesky_solve_p, b, f, upper=bool(upper))


cholesky_info_p = defprim("linalg_cholesky_info", lambda a: lapack.potrf(a)[1],
                          lambda a: square_rule("linalg.cholesky_ex")(a)[:-2],
                          _no_grad_dtype(np.dtype(np.int32)))


def cholesky_info(a):
    return bind(cholesky_info_p, a)


# --- matrix exponential ---------------------------------------------------------------------
def _expm_impl(a):
    """scipy's Pade approximant with scaling and squaring, in float64 or complex128 (torch's
    float32 kernel picks its degree for float32; float64 is at least as close to exp)"""
    import scipy.linalg  # (on first use: tests/eager/test_import_cost)
    if a.shape[-1] == 0:
        return np.array(a, copy=True)
    return scipy.linalg.expm(a.astype(np.promote_types(a.dtype, np.float64))).astype(a.dtype)


def _expm_vjp(g, out, a):
    """torch's backward_analytic_function_of_a_matrix: the upper right block of
    exp([[A^H, G], [0, A^H]])."""
    from ..creation import full
    from .elementwise import conj
    from .linalg_factor import _cols_from, _rows
    from .movement import concat
    n, last = a.shape[-1], a.ndim - 1
    at = mT(conj(a) if a.dtype.is_complex else a)
    zero = full(tuple(a.shape), 0, dtype=a.dtype, device=a.device)
    big = concat([concat([at, g], last), concat([zero, at], last)], last - 1)
    return (_cols_from(_rows(matrix_exp(big), n), n),)


matrix_exp_p = defprim("linalg_matrix_exp", _expm_impl, square_rule("linalg.matrix_exp"),
                       _same, _expm_vjp, saves=(0,))


def matrix_exp(a):
    return bind(matrix_exp_p, a)


# --- factorizations torch does not differentiate: geqrf, ldl -------------------------------
def _geqrf(a):
    m, n = a.shape[-2:]
    qr = np.array(a, copy=True)
    tau = np.zeros(a.shape[:-2] + (min(m, n),), a.dtype)
    return lapack.each("geqrf", a, qr, tau)


def _geqrf_rule(which):
    def rule(a):
        if len(a) < 2:
            raise ShapeError("torch.geqrf: input must have at least 2 dimensions.")
        return tuple(a) if which == 0 else tuple(a[:-2]) + (min(a[-2], a[-1]),)
    return rule


geqrf_a_p = defprim("geqrf_a", lambda a: _geqrf(a)[0], _geqrf_rule(0), _same)
geqrf_tau_p = defprim("geqrf_tau", lambda a: _geqrf(a)[1], _geqrf_rule(1), _same)


def geqrf(a):
    return bind(geqrf_a_p, a), bind(geqrf_tau_p, a)


def _sytrf(a):
    """Bunch-Kaufman LDL^T of each matrix's lower triangle (LAPACK sytrf, as torch)"""
    ld = np.zeros_like(a)
    piv = np.zeros(a.shape[:-1], np.int32)
    info = np.zeros(a.shape[:-2], np.int32)
    ld, piv, info = lapack.each("sytrf", a, ld, piv, info, lower=1)
    return np.tril(ld), piv, info


def _ldl_impl(a, check=""):
    """sytrf's LD; with `check` (the op's name) a singular D raises"""
    ld, _, info = _sytrf(a)
    if check:
        lapack.check_info(check, "ldl", info)
    return ld


ldl_ld_p = defprim("linalg_ldl_ld", _ldl_impl, square_rule("linalg.ldl_factor"), _same)
ldl_pivots_p = defprim("linalg_ldl_pivots", lambda a: _sytrf(a)[1],
                       lambda a: square_rule("linalg.ldl_factor")(a)[:-1],
                       _no_grad_dtype(np.dtype(np.int32)))
ldl_info_p = defprim("linalg_ldl_info", lambda a: _sytrf(a)[2],
                     lambda a: square_rule("linalg.ldl_factor")(a)[:-2],
                     _no_grad_dtype(np.dtype(np.int32)))


def ldl_factor(a, check=""):
    return bind(ldl_ld_p, a, check=check), bind(ldl_pivots_p, a), bind(ldl_info_p, a)


def _sytrs(ld, pivots, b):
    batch = np.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
    ld = np.broadcast_to(ld, batch + ld.shape[-2:])
    pivots = np.broadcast_to(pivots, batch + pivots.shape[-1:])
    out = np.array(np.broadcast_to(b, batch + b.shape[-2:]), dtype=ld.dtype)
    if out.size == 0:
        return out
    f = lapack.funcs("sytrs", ld)
    for idx in np.ndindex(batch):
        out[idx] = f(ld[idx], pivots[idx], out[idx], lower=1)[0]
    return out


ldl_solve_p = defprim("linalg_ldl_solve", _sytrs,
                      lambda ld, pivots, b: _tri_rule(ld, b, False, False, "linalg.ldl_solve"),
                      _same)


def ldl_solve(ld, pivots, b):
    return bind(ldl_solve_p, ld, pivots, b)
