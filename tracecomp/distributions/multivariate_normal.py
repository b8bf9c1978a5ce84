"""MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril) (torch's):
a Gaussian over vectors, kept as the lower Cholesky factor L of its covariance (as given,
before broadcasting to the batch), so rsample is loc + L eps and log_prob needs one
triangular solve. The policy of continuous-action PPO agents and the posterior of VAEs
with full covariance."""
import math

from .. import creation, linalg
from ..tensor import Size
from ..torch_aliases import broadcast_shapes
from . import constraints
from .distribution import NO_SHAPE, Distribution, lazy_property, standard_normal


def tril_solve(L, b):     # noqa: N803 - the factor's usual name
    """L^-1 b for lower-triangular L (batch dims broadcast): torch's solve_triangular, which
    reads only L's lower triangle, so the entries above take no gradient."""
    return linalg.solve_triangular(L, b, upper=False)


def batch_mahalanobis(L, x):     # noqa: N803
    """x^T (L L^T)^-1 x over the last dim: the squared length of L^-1 x."""
    shape = broadcast_shapes(tuple(L.shape[:-2]), tuple(x.shape[:-1]))
    n = L.shape[-1]
    solved = tril_solve(L.expand(shape + (n, n)), x.expand(shape + (n,)).unsqueeze(-1))
    return solved.squeeze(-1).pow(2).sum(-1)


def half_log_det(L):     # noqa: N803
    """log sqrt(det(L L^T)): the log of L's diagonal, summed."""
    return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def _precision_to_scale_tril(P):     # noqa: N803
    """The lower Cholesky factor of P^-1, without inverting P: L_f = chol(flip(P)) gives
    P^-1 = (flip(L_f)^-T)(flip(L_f)^-1), and flip(L_f)^T is lower-triangular (torch's)."""
    lf = linalg.cholesky(P.flip((-2, -1)))
    l_inv = lf.flip((-2, -1)).mT
    eye = creation.eye(P.shape[-1], dtype=P.dtype)
    return tril_solve(l_inv, eye.expand(tuple(l_inv.shape)))


class CholeskyParametrized:
    """scale_tril, covariance_matrix and precision_matrix of a distribution kept as the
    Cholesky factor `_unbroadcasted_scale_tril` (MultivariateNormal, Wishart): the ones not
    given are made from it on first use, broadcast by the class's `_full`."""

    scale_tril = lazy_property(lambda self: self._full(self._unbroadcasted_scale_tril))
    covariance_matrix = lazy_property(lambda self: self._full(
        self._unbroadcasted_scale_tril @ self._unbroadcasted_scale_tril.mT))

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril     # noqa: N806
        l_inv = tril_solve(L, creation.eye(L.shape[-1], dtype=L.dtype).expand(L.shape))
        return self._full(l_inv.mT @ l_inv)


class MultivariateNormal(CholeskyParametrized, Distribution):
    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = {"scale_tril": scale_tril, "covariance_matrix": covariance_matrix,
                 "precision_matrix": precision_matrix}
        given = {k: v for k, v in given.items() if v is not None}
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        (name, matrix), = given.items()
        if matrix.ndim < 2:
            raise ValueError(f"{name} matrix must be at least two-dimensional, with "
                             f"optional leading batch dimensions")
        batch_shape = broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        self.__dict__[name] = matrix.expand(batch_shape + (-1, -1))
        self.loc = loc.expand(batch_shape + (-1,))
        super().__init__(Size(batch_shape), Size(self.loc.shape[-1:]),
                         validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = linalg.cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)

    def _full(self, matrix):
        return matrix.expand(self._batch_shape + self._event_shape + self._event_shape)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(
            self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=NO_SHAPE):
        eps = standard_normal(self._extended_shape(sample_shape), self.loc)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        m = batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - \
            half_log_det(self._unbroadcasted_scale_tril)

    def entropy(self):
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + \
            half_log_det(self._unbroadcasted_scale_tril)
        return h if len(self._batch_shape) == 0 else h.expand(self._batch_shape)
