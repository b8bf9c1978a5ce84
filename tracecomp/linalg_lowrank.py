"""torch.svd_lowrank and torch.pca_lowrank: a rank-q SVD of a (batch of) matrices by the
randomized range finder of Halko, Martinsson and Tropp (2009, algorithm 5.1), as torch's.

A random (n, q) Gaussian test matrix is pushed through A, and `niter` power iterations
(A^H then A, each followed by a QR) sharpen the basis Q of A's dominant range; the SVD of
the small Q^H A then gives U = Q U', S and V. A wide A is handled through A^H, so the
basis is always of the longer side. M, when given, is subtracted from A without forming
A - M (pca_lowrank centres the columns by subtracting their means before the same steps).
The draws come from tracecomp's generator, not torch's, so for a matrix of rank above q
the approximation differs from torch's run by run as torch's does from itself; for rank
at most q both are the exact truncated SVD. Every step is a differentiable op.
"""
from . import composite as C
from . import linalg
from .creation import randn
from .ops.linalg import matmul
from .ops.public import public


def _range_basis(A, q, niter, M):  # noqa: N803
    """An orthonormal (m, q) basis of the dominant range of A - M."""
    def times(X, Y):  # noqa: N803
        out = matmul(X, Y)
        return out if M is None else out - matmul(M if X is A else M.mH, Y)
    R = randn(A.shape[-1], q, dtype=A.dtype, device=A.device)  # noqa: N806
    Q = linalg.qr(times(A, R)).Q  # noqa: N806
    for _ in range(niter):
        Q = linalg.qr(times(A.mH, Q)).Q  # noqa: N806
        Q = linalg.qr(times(A, Q)).Q  # noqa: N806
    return Q


@public("torch")
def svd_lowrank(A, q=6, niter=2, M=None):  # noqa: N803
    """(U, S, V) with A - M ~ U diag(S) V^H, U (m, q), S (q,), V (n, q)."""
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    m, n = A.shape[-2:]
    if M is not None:
        M = C.broadcast_to(M, tuple(A.shape))  # noqa: N806
    wide = m < n
    if wide:
        A = A.mH  # noqa: N806
        M = None if M is None else M.mH  # noqa: N806
    Q = _range_basis(A, q, niter, M)  # noqa: N806
    B = matmul(Q.mH, A)  # noqa: N806
    if M is not None:
        B = B - matmul(Q.mH, M)  # noqa: N806
    U, S, Vh = linalg.svd(B, full_matrices=False)  # noqa: N806
    U, V = matmul(Q, U), Vh.mH  # noqa: N806
    return (V, S, U) if wide else (U, S, V)


@public("torch")
def pca_lowrank(A, q=None, center=True, niter=2):  # noqa: N803
    """svd_lowrank of A with each column's mean subtracted (when `center`): the principal
    directions are V's columns, the components' variances S^2 / (m - 1)."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not 0 <= q <= min(m, n):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than "
                         f"min(m, n)={min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return svd_lowrank(A, q, niter=niter)
    return svd_lowrank(A - C.mean(A, (-2,), keepdim=True), q, niter=niter)
