"""torch.nn.utils.parametrizations.orthogonal: a weight kept orthogonal (orthonormal columns,
or rows when it is wide) through one of three maps of an unconstrained tensor, torch 2.13's:
matrix_exp of a skew-symmetric matrix, the Cayley map, or a product of Householder
reflectors. With use_trivialization (the default) a buffer `base` holds the orthogonal
matrix the parametrization starts from, and the map's output multiplies it.

The one random step, completing a non-square weight's columns before orthogonalizing it,
draws from tracecomp's generator, not torch's: such a base differs from torch's (it is as
orthogonal); everything else gives torch's numbers.
"""
from enum import Enum, auto

from ... import composite as C
from ... import dtypes
from ...composite import allclose
from ...composite_math import sgn
from ...composite_shape import diagonal
from ...creation import eye, randn, zeros
from ...grad_mode import no_grad
from ...linalg import householder_product, solve
from ...linalg_legacy import geqrf
from ...linalg_lu import matrix_exp
from ...ops import elementwise as ew
from ...tensor import Tensor
from ..module import Module
from . import parametrize


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


def _diagonal(x):
    return diagonal(x, 0, -2, -1)


def _is_orthogonal(q):
    n, k = q.shape[-2], q.shape[-1]
    eps = 10.0 * n * float(dtypes.finfo_np(q._data.dtype).eps)
    return allclose(q.mT @ q, eye(k, dtype=q.dtype, device=q.device), atol=eps)


def _make_orthogonal(a):
    """Q of A = Q R (A tall) with diag(R) >= 0"""
    x, tau = geqrf(a)
    return householder_product(x, tau) * C.unsqueeze(sgn(_diagonal(x)), -2)


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):  # noqa: N803 - torch's names
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X, n, k = X.mT, k, n  # noqa: N806
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = C.tril(X)  # noqa: N806
            if n != k:
                pad = zeros(tuple(X.shape[:-2]) + (n, n - k), dtype=X.dtype,
                            device=X.device)
                X = C.cat([X, pad], -1)  # noqa: N806
            A = X - X.mT  # noqa: N806
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = matrix_exp(A)  # noqa: N806
            else:                               # (I - A/2)^-1 (I + A/2)
                identity = eye(n, dtype=A.dtype, device=A.device)
                Q = solve(identity - 0.5 * A, identity + 0.5 * A)  # noqa: N806
            if n != k:
                Q = C.narrow(Q, -1, 0, k)  # noqa: N806
        else:
            A = C.tril(X, -1)  # noqa: N806
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = householder_product(A, tau)  # noqa: N806
            # torch multiplies by the diagonal truncated to integers (+-1 after
            # right_inverse)
            Q = Q * C.unsqueeze(ew.cast(_diagonal(X), dtypes.int32), -2)  # noqa: N806
        if hasattr(self, "base"):
            Q = self.base @ Q  # noqa: N806
        return Q.mT if transposed else Q

    def right_inverse(self, Q):  # noqa: N803
        with no_grad():
            return self._right_inverse(Q)

    def _right_inverse(self, Q):  # noqa: N803
        if tuple(Q.shape) != tuple(self.shape):
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {Q.shape}.")
        q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q, n, k = Q.mT, k, n  # noqa: N806
        if not hasattr(self, "base"):
            if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                raise NotImplementedError("It is not possible to assign to the matrix "
                                          "exponential or the Cayley parametrizations when "
                                          "use_trivialization=False.")
            # the reflectors, their diagonal the sign forward multiplies by (flipped where
            # tau is 0: no reflection there)
            A, tau = geqrf(Q)  # noqa: N806
            d = _diagonal(A)
            signs = ew.where(tau == 0.0, -sgn(d), sgn(d))
            on_diagonal = eye(n, k, dtype=dtypes.bool_, device=A.device)
            A = ew.where(on_diagonal, C.unsqueeze(signs, -2), A)  # noqa: N806
            return A.mT if transpose else A
        if n == k:
            Q = _make_orthogonal(Q) if not _is_orthogonal(Q) else Q.clone()  # noqa: N806
        else:
            fill = randn(*(tuple(Q.shape[:-2]) + (n, n - k)), dtype=Q.dtype, device=Q.device)
            Q = _make_orthogonal(C.cat([Q, fill], -1))  # noqa: N806
        self.base = Q
        # forward's map of -I is I: the weight starts as base
        n, k = q_init.shape[-2], q_init.shape[-1]
        return C.broadcast_to(-eye(n, k, dtype=q_init.dtype, device=q_init.device),
                              tuple(q_init.shape)) * 1


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """module.<name> kept orthogonal through `orthogonal_map` ("matrix_exp", "cayley",
    "householder"; default: matrix_exp for a square weight, householder otherwise)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square else "householder"
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
