"""Linear-algebra primitives on numpy.linalg: inverse, determinant (through the adjugate,
which exists for singular matrices too), slogdet, solve, Cholesky, symmetric eigensystems,
QR, SVD and the pseudo-inverse. Every one works on batches (..., m, n).

A factorization with several outputs is one primitive per output (eigh -> values, vectors;
qr -> q, r; svd -> u, s, vh): each recomputes the factorization with the same LAPACK call,
so they agree, and a VJP is linear in the output cotangents, so the per-output VJPs add up
to the joint one (the formulas are torch's: FunctionsManual.cpp). None has an llvm lowering:
in compiled code each runs as a numpy step.
"""
import numpy as np

from ..dispatch import bind
from ..errors import ShapeError, fmt_shape
from . import lapack
from .lapack import LinAlgError  # noqa: F401 - torch.linalg.LinAlgError
from .registry import defprim


def _guard(op, fn):
    """fn, with numpy's LinAlgError given torch's message: for inv and solve the first
    singular matrix and where getrf finds it singular."""
    def impl(*args, **params):
        try:
            return fn(*args, **params)
        except np.linalg.LinAlgError as exc:
            if op in _SQUARE:   # eager calls skip the shape rule: its error, not numpy's
                square_rule(op)(args[0].shape)
            if op in _SINGULAR:
                lapack.check_info(_SINGULAR[op][0], _SINGULAR[op][1], lapack.getrf(args[0])[2])
            raise LinAlgError(f"{op}: {_WHY.get(op, 'the operation')} could not be completed "
                              f"({exc})") from None
    return impl


_SINGULAR = {"linalg.inv": ("linalg.inv", "inv"), "linalg.solve": ("torch.linalg.solve",
                                                                   "solve")}
_WHY = {"linalg.eigh": "the eigendecomposition", "linalg.svd": "the SVD"}
_SQUARE = ("linalg.inv", "linalg.solve", "linalg.cholesky", "linalg.eigh")


def square_rule(op):
    def rule(a, *rest, **_):
        if len(a) < 2:
            raise ShapeError(f"{op}: The input tensor A must have at least 2 dimensions.")
        if a[-1] != a[-2]:
            raise ShapeError(f"{op}: A must be batches of square matrices, but they are "
                             f"{a[-2]} by {a[-1]} matrices")
        return tuple(a)
    return rule


def _same(x, *_, **__):
    return x.dtype


def mT(x):
    from .movement import permute
    n = x.ndim
    return permute(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _mm(*xs):
    from .linalg import matmul
    out = xs[0]
    for x in xs[1:]:
        out = matmul(out, x)
    return out


def _last2(x):
    """x (..., k) as (..., 1, 1) over the batch, for scaling matrices"""
    from .movement import reshape
    return reshape(x, tuple(x.shape) + (1, 1))


def _eye_like(n, like):
    from ..creation import eye
    return eye(n, dtype=like.dtype)


# --- inverse, determinant --------------------------------------------------------------
inv_p = defprim("linalg_inv", _guard("linalg.inv", np.linalg.inv), square_rule("linalg.inv"),
                _same, lambda g, out, a: (-_mm(mT(out), g, mT(out)),), saves=("out",))


def inv(a):
    return bind(inv_p, a)


def _adjugate_impl(a):
    """adj(A) = det(Vh) Vh^T diag(prod_{j != i} s_j) det(U) U^T for A = U S Vh: defined
    (and exact) for singular A too."""
    u, s, vh = np.linalg.svd(a)
    n = s.shape[-1]
    ones = np.ones(s.shape[:-1] + (1,), s.dtype)
    left = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.flip(np.concatenate([s[..., 1:], ones], -1), -1), -1), -1)
    others = left * right if n else s
    sign = np.linalg.det(u) * np.linalg.det(vh)
    adj = np.swapaxes(vh, -1, -2) * others[..., None, :] @ np.swapaxes(u, -1, -2)
    return adj * sign[..., None, None]


def _adjugate_vjp(g, out, a):
    """adj(A) = det(A) inv(A) where A is invertible (the second derivative of det at a
    singular matrix raises there, from inv)."""
    from .reduce import reduce_sum
    ai = inv(a)
    d = _last2(det(a))
    inner = _last2(reduce_sum(g * ai, (a.ndim - 2, a.ndim - 1)))
    return (d * inner * mT(ai) - d * _mm(mT(ai), g, mT(ai)),)


adjugate_p = defprim("linalg_adjugate", _adjugate_impl, square_rule("linalg.det"), _same,
                     _adjugate_vjp, saves=(0,))
det_p = defprim("linalg_det", np.linalg.det, lambda a: square_rule("linalg.det")(a)[:-2],
                _same, lambda g, out, a: (_last2(g) * mT(bind(adjugate_p, a)),), saves=(0,))


def det(a):
    return bind(det_p, a)


def _slogdet_rule(a):
    return square_rule("linalg.slogdet")(a)[:-2]


def _zero_vjp(g, out, a):
    """the sign is piecewise constant: zero gradient (torch marks it differentiable too)"""
    from ..creation import full
    return (full(tuple(a.shape), 0, dtype=g.dtype),)


slogdet_sign_p = defprim("linalg_slogdet_sign", lambda a: np.linalg.slogdet(a)[0],
                         _slogdet_rule, _same, _zero_vjp, saves=())
logabsdet_p = defprim("linalg_logabsdet", lambda a: np.linalg.slogdet(a)[1], _slogdet_rule,
                      _same, lambda g, out, a: (_last2(g) * mT(inv(a)),), saves=(0,))


def slogdet(a):
    return bind(slogdet_sign_p, a), bind(logabsdet_p, a)


# --- solve -------------------------------------------------------------------------------
def _solve_rule(a, b):
    square_rule("linalg.solve")(a)
    if len(b) < 2 or b[-2] != a[-1]:
        raise ShapeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                         f"AX = B ({a[-2]}x{a[-1]} and {fmt_shape(b)})")
    from .rules import broadcast_shapes
    return broadcast_shapes("linalg.solve", a[:-2], b[:-2]) + tuple(b[-2:])


def _solve_vjp(g, out, a, b):
    gb = solve(mT(a), g)
    return (-_mm(gb, mT(out)), gb)


solve_p = defprim("linalg_solve", _guard("linalg.solve", np.linalg.solve), _solve_rule,
                  lambda a, b: np.result_type(a.dtype, b.dtype), _solve_vjp, saves=(0, "out"))


def solve(a, b):
    """A X = B for matrices B (..., n, k)."""
    return bind(solve_p, a, b)


# --- Cholesky ----------------------------------------------------------------------------
def _cholesky_impl(a, check="linalg.cholesky"):
    """potrf, as torch: with `check` (the op's name) a matrix that is not positive-definite
    raises; without (cholesky_ex), its factor is potrf's partial one."""
    out, info = lapack.potrf(a)
    if check:
        lapack.check_info(check, "cholesky", info)
    return out


def _cholesky_vjp(g, out, a, check="linalg.cholesky"):
    """torch's rule (Murray 2016): gA = L^-H sym(tril(L^H gL)) L^-1."""
    from ..composite import tril
    p = tril(_mm(mT(out), g))
    p = 0.5 * (p + mT(tril(p, -1)))
    li = inv(out)
    return (_mm(mT(li), p, li),)


cholesky_p = defprim("linalg_cholesky", _cholesky_impl, square_rule("linalg.cholesky"), _same,
                     _cholesky_vjp, saves=("out",))


def cholesky(a, check="linalg.cholesky"):
    """the lower factor; check: the op name its error names, "" for none (cholesky_ex)"""
    return bind(cholesky_p, a, check=check)


# --- symmetric eigensystems --------------------------------------------------------------
def _eigh_values_vjp(g, out, a, uplo):
    v = eigh_vectors(a, uplo)
    from .movement import diag_embed
    return (_mm(v, diag_embed(g), mT(v)),)


def _eigh_vectors_vjp(g, out, a, uplo):
    from .movement import diag_embed
    w = eigh_values(a, uplo)
    vg = _mm(mT(out), g)
    skew = 0.5 * (vg - mT(vg))
    from .movement import reshape
    gap = reshape(w, tuple(w.shape[:-1]) + (1, w.shape[-1])) - \
        reshape(w, tuple(w.shape) + (1,))
    gap = gap + diag_embed(w * 0 + 1)              # 1 on the diagonal (skew's is 0 there)
    return (_mm(out, skew / gap, mT(out)),)


def _eigh_rule(shape_of):
    def rule(a, uplo):
        square_rule("linalg.eigh")(a)
        return shape_of(a)
    return rule


eigh_values_p = defprim("linalg_eigh_values",
                        _guard("linalg.eigh", lambda a, uplo: np.linalg.eigh(a, uplo)[0]),
                        _eigh_rule(lambda a: tuple(a[:-1])), _same, _eigh_values_vjp, saves=(0,))
eigh_vectors_p = defprim("linalg_eigh_vectors",
                         _guard("linalg.eigh", lambda a, uplo: np.linalg.eigh(a, uplo)[1]),
                         _eigh_rule(tuple), _same, _eigh_vectors_vjp, saves=(0, "out"))


def eigh_values(a, uplo="L"):
    return bind(eigh_values_p, a, uplo=uplo)


def eigh_vectors(a, uplo="L"):
    return bind(eigh_vectors_p, a, uplo=uplo)
