"""Linear-algebra primitives, part two: QR, SVD, the pseudo-inverse and the matrix rank.

As in linalg_decomp.py, each output of a factorization is its own primitive (recomputed by
the same LAPACK call) and the VJPs are torch's formulas split by output cotangent. No llvm
lowering: in compiled code each runs as a numpy step.
"""
import numpy as np

from .. import dtypes
from ..dispatch import bind
from ..errors import ShapeError
from .linalg_decomp import _guard, _mm, _same, mT, solve
from .registry import defprim


def _matrix_rule(op):
    def check(a):
        if len(a) < 2:
            raise ShapeError(f"{op}: The input tensor A must have at least 2 dimensions.")
        return tuple(a[:-2]), a[-2], a[-1]
    return check


def _cols(x, stop):
    """x[..., :stop]"""
    from .movement import slice as slice_
    return slice_(x, (0,) * x.ndim, tuple(x.shape[:-1]) + (stop,), (1,) * x.ndim)


def _rows(x, stop):
    """x[..., :stop, :]"""
    return mT(_cols(mT(x), stop))


def _rows_from(x, start):
    from .movement import slice as slice_
    return slice_(x, (0,) * (x.ndim - 2) + (start, 0), tuple(x.shape), (1,) * x.ndim)


def _cols_from(x, start):
    return mT(_rows_from(mT(x), start))


# --- QR ------------------------------------------------------------------------------------
def _qr_impl(which):
    def impl(a, mode):
        q, r = np.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
        return q if which == "q" else r
    return impl


def _qr_rule(which):
    check = _matrix_rule("linalg.qr")

    def rule(a, mode):
        batch, m, n = check(a)
        k = m if mode == "complete" else min(m, n)
        return batch + ((m, k) if which == "q" else (k, n))
    return rule


def _qr_grad(a, mode, gq, gr):
    """torch's linalg_qr_backward: for m >= n, gA = (gQ + Q copyltu(M)) R^-H with
    M = R gR^H - gQ^H Q; for m < n, the first m columns take that rule with gQ + Y gV^H,
    and the rest Y = Q V take Q gV."""
    from ..composite import tril
    m, n = a.shape[-2], a.shape[-1]
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                           "when mode='r'. Please use linalg.qr(A, mode='reduced') if you "
                           "are going to differentiate through linalg.qr.")
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' "
                           "and nrows > ncols.")
    q, r = qr_q(a, mode), qr_r(a, mode)

    def square(gq, gr, r):
        mm = (_mm(r, mT(gr)) if gr is not None else 0) - \
            (_mm(mT(gq), q) if gq is not None else 0)
        sym = tril(mm) + mT(tril(mm, -1))
        x = _mm(q, sym) + (gq if gq is not None else 0)
        return mT(solve(r, mT(x)))                  # x R^-T

    if m >= n:
        return square(gq, gr, r)
    u, y = _cols(r, m), _cols_from(a, m)
    gu = _cols(gr, m) if gr is not None else None
    gv = _cols_from(gr, m) if gr is not None else None
    if gv is not None:
        gq = _mm(y, mT(gv)) + (gq if gq is not None else 0)
    gx = square(gq, gu, u)
    from .movement import concat
    if gv is not None:
        gy = _mm(q, gv)
    else:
        from ..creation import full
        gy = full(tuple(a.shape[:-1]) + (n - m,), 0, dtype=a.dtype)
    return concat([gx, gy], a.ndim - 1)


qr_q_p = defprim("linalg_qr_q", _qr_impl("q"), _qr_rule("q"), _same,
                 lambda g, out, a, mode: (_qr_grad(a, mode, g, None),), saves=(0,))
qr_r_p = defprim("linalg_qr_r", _qr_impl("r"), _qr_rule("r"), _same,
                 lambda g, out, a, mode: (_qr_grad(a, mode, None, g),), saves=(0,))


def qr_q(a, mode="reduced"):
    return bind(qr_q_p, a, mode=mode)


def qr_r(a, mode="reduced"):
    return bind(qr_r_p, a, mode=mode)


# --- SVD -----------------------------------------------------------------------------------
def _svd_impl(which):
    def impl(a, full_matrices=False):
        if which == "s":
            return np.linalg.svd(a, compute_uv=False)
        u, _, vh = np.linalg.svd(a, full_matrices=full_matrices)
        return u if which == "u" else vh
    return _guard("linalg.svd", impl)


def _svd_rule(which):
    check = _matrix_rule("linalg.svd")

    def rule(a, full_matrices=False):
        batch, m, n = check(a)
        k = min(m, n)
        if which == "s":
            return batch + (k,)
        if which == "u":
            return batch + (m, m if full_matrices else k)
        return batch + (n if full_matrices else k, n)
    return rule


def _svd_grad(a, gu, gs, gvh, full_matrices):
    """torch's svd_backward (real case), one cotangent at a time:
    gA = U [skew(U^T gU)/E * S + S * skew(V^T gV)/E + diag(gS)] V^T
         + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T), E_ij = s_j^2 - s_i^2."""
    from .movement import diag_embed, reshape
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    u = _cols(svd_u(a, full_matrices), k)
    vh = _rows(svd_vh(a, full_matrices), k)
    s = svd_s(a)
    row = reshape(s, tuple(s.shape[:-1]) + (1, k))           # s_j along columns
    col = reshape(s, tuple(s.shape) + (1,))                  # s_i along rows
    if gs is not None:
        return _mm(u, diag_embed(gs), vh)
    e = row * row - col * col + diag_embed(s * 0 + 1)
    if gu is not None:
        gu = _cols(gu, k)
        x = _mm(mT(u), gu)
        inner = _mm(u, (x - mT(x)) / e * row, vh)
        if m > k:
            gus = gu / row
            inner = inner + _mm(gus - _mm(u, _mm(mT(u), gus)), vh)
        return inner
    gv = mT(_rows(gvh, k))
    v = mT(vh)
    x = _mm(mT(v), gv)
    inner = _mm(u, col * (x - mT(x)) / e, vh)
    if n > k:
        gvs = mT(gv / row)                                   # S^-1 gV^T
        inner = inner + _mm(u, gvs - _mm(_mm(gvs, v), vh))
    return inner


svd_u_p = defprim("linalg_svd_u", _svd_impl("u"), _svd_rule("u"), _same,
                  lambda g, out, a, full_matrices: (_svd_grad(a, g, None, None,
                                                              full_matrices),), saves=(0,))
svd_s_p = defprim("linalg_svd_s", _svd_impl("s"), _svd_rule("s"), _same,
                  lambda g, out, a: (_svd_grad(a, None, g, None, False),), saves=(0,))
svd_vh_p = defprim("linalg_svd_vh", _svd_impl("vh"), _svd_rule("vh"), _same,
                   lambda g, out, a, full_matrices: (_svd_grad(a, None, None, g,
                                                               full_matrices),), saves=(0,))


def svd_u(a, full_matrices=False):
    return bind(svd_u_p, a, full_matrices=bool(full_matrices))


def svd_s(a):
    return bind(svd_s_p, a)


def svd_vh(a, full_matrices=False):
    return bind(svd_vh_p, a, full_matrices=bool(full_matrices))


# --- pseudo-inverse and rank ---------------------------------------------------------------
def _cutoff(s, rtol, atol):
    """torch's rule: singular values at most max(atol, rtol * the largest) count as 0."""
    top = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
    return np.maximum(atol, rtol * top)


def _pinv_impl(a, rtol, atol):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    keep = s > _cutoff(s, rtol, atol)
    inv_s = np.where(keep, 1 / np.where(keep, s, 1), 0)
    return (np.swapaxes(vh, -1, -2) * inv_s[..., None, :]) @ np.swapaxes(u, -1, -2)


def _pinv_vjp(g, out, a, rtol, atol):
    """Golub & Pereyra's derivative (constant rank): gA = -P^T G P^T
    + (I - A P) G^T P P^T + P^T P G^T (I - P A)."""
    p, pt, gt = out, mT(out), mT(g)
    left = _mm(gt, p, pt)
    left = left - _mm(a, _mm(p, left))
    right = _mm(pt, p, gt)
    right = right - _mm(_mm(right, p), a)
    return (-_mm(pt, g, pt) + left + right,)


def _pinv_rule(a, rtol, atol):
    batch, m, n = _matrix_rule("linalg.pinv")(a)
    return batch + (n, m)


pinv_p = defprim("linalg_pinv", _guard("linalg.pinv", _pinv_impl), _pinv_rule, _same,
                 _pinv_vjp, saves=(0, "out"))


def pinv(a, rtol, atol=0.0):
    return bind(pinv_p, a, rtol=float(rtol), atol=float(atol))


def _rank_impl(a, rtol, atol):
    if a.size == 0:
        return np.zeros(a.shape[:-2], dtypes.I64)
    s = np.linalg.svd(a, compute_uv=False)
    return (s > _cutoff(s, rtol, atol)).sum(-1).astype(dtypes.I64)


matrix_rank_p = defprim("linalg_matrix_rank", _rank_impl,
                        lambda a, rtol, atol: _matrix_rule("linalg.matrix_rank")(a)[0],
                        lambda a, rtol, atol: dtypes.I64, None)


def matrix_rank(a, rtol, atol=0.0):
    return bind(matrix_rank_p, a, rtol=float(rtol), atol=float(atol))
