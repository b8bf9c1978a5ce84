"""Per-matrix LAPACK and BLAS calls (scipy.linalg.lapack/blas) over a batch (..., m, n), in
the input's own precision as torch's CPU kernels call them (sgetrf for float32, dgetrf for
float64), and torch's messages for a matrix they find singular or not positive-definite.

torch reports LAPACK's `info` as it is: pivots 1-based (int32), the order of the failing
leading minor, the index of the zero diagonal element of U; so do these.
"""
import numpy as np

from ..errors import TracecompError


class LinAlgError(TracecompError, RuntimeError):
    """torch.linalg.LinAlgError: a matrix has no inverse, factorization, ..."""


class ZeroPivotError(TracecompError, RuntimeError):
    """linalg.lu_factor's zero pivot, which torch raises as a plain RuntimeError"""


def funcs(name, a):
    """LAPACK routine `name` for a's dtype (scipy imported on first use: `import tracecomp`
    stays light, tests/eager/test_import_cost.py)"""
    from scipy.linalg import lapack
    return lapack.get_lapack_funcs((name,), (a,))[0]


def getrf(a):
    """LU with partial pivoting of each matrix: (lu, 1-based int32 pivots, int32 info)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    lu = np.array(a, copy=True)
    piv = np.broadcast_to(np.arange(1, k + 1, dtype=np.int32), a.shape[:-2] + (k,)).copy()
    info = np.zeros(a.shape[:-2], np.int32)
    if k == 0:
        return lu, piv, info
    f = funcs("getrf", a)
    for idx in np.ndindex(a.shape[:-2]):
        lu[idx], p, info[idx] = f(a[idx])
        piv[idx] = p + 1
    return lu, piv, info


def potrf(a):
    """The lower Cholesky factor of each matrix, its upper triangle zeroed, and potrf's
    info: where a leading minor is not positive-definite the factor is potrf's partial one
    (what torch.linalg.cholesky_ex returns)."""
    out = np.zeros_like(a)
    info = np.zeros(a.shape[:-2], np.int32)
    if a.shape[-1] == 0:
        return out, info
    f = funcs("potrf", a)
    for idx in np.ndindex(a.shape[:-2]):
        out[idx], info[idx] = f(a[idx], lower=1, clean=1)
    return out, info


def trsm(a, b, upper, unitriangular):
    """X with A X = B for triangular A (..., n, n) and B (..., n, k) of one batch shape:
    BLAS trsm, which divides by a zero diagonal as torch does (inf/nan, no error)."""
    out = np.empty(b.shape, np.result_type(a.dtype, b.dtype))
    if out.size == 0:
        return out
    from scipy.linalg import blas
    f = blas.get_blas_funcs(("trsm",), (a, b))[0]
    for idx in np.ndindex(b.shape[:-2]):
        out[idx] = f(1.0, a[idx], b[idx], side=0, lower=int(not upper),
                     diag=int(unitriangular))
    return out


def each(name, a, *outs, **kw):
    """LAPACK routine `name` on each matrix of a; its first len(outs) results go into outs
    (preallocated, batch-shaped), the rest are dropped."""
    if a.size == 0:
        return outs
    f = funcs(name, a)
    for idx in np.ndindex(a.shape[:-2]):
        got = f(a[idx], **kw)
        for o, g in zip(outs, got):
            o[idx] = g
    return outs


# --- torch's failure messages ----------------------------------------------------------------
_MESSAGES = {
    "inv": "The diagonal element {i} is zero, the inversion could not be completed because "
           "the input matrix is singular.",
    "solve": "The solver failed because the input matrix is singular.",
    "cholesky": "The factorization could not be completed because the input is not "
                "positive-definite (the leading minor of order {i} is not positive-definite).",
    # (torch 2.13 fails an internal assert here instead: "Unknown error code: 1")
    "ldl": "The factorization could not be completed because the input is singular "
           "(D[{i},{i}] is zero).",
    "lu": "U[{i},{i}] is zero and using it on lu_solve would result in a division by zero. "
          "If you still want to perform the factorization, consider calling linalg.lu(A, "
          "pivot) or linalg.lu_factor_ex(A, pivot)",
}
_ERROR = {"lu": ZeroPivotError}


def check_info(op, kind, info):
    """Raise torch's error for the first matrix whose LAPACK info is positive: op names the
    call as torch does ("linalg.inv", "torch.linalg.solve"), kind picks the message."""
    info = np.asarray(info)
    bad = np.flatnonzero(info.reshape(-1) > 0)
    if not bad.size:
        return
    where = f"(Batch element {bad[0]}): " if info.ndim else ""
    text = _MESSAGES[kind].format(i=int(info.reshape(-1)[bad[0]]))
    raise _ERROR.get(kind, LinAlgError)(f"{op}: {where}{text}")
