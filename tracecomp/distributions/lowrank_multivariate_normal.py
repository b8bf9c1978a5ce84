"""LowRankMultivariateNormal(loc, cov_factor W, cov_diag D) (torch's): a Gaussian with
covariance W W^T + diag(D), handled through the m x m capacitance matrix
C = I + W^T D^-1 W (Woodbury's identity and the matrix determinant lemma), never the n x n
covariance: the latent-factor posteriors of large-output models."""
import math

from .. import creation, linalg
from ..composite import broadcast_tensors
from ..ops.movement import diag_embed
from . import constraints
from .distribution import NO_SHAPE, Distribution, lazy_property, standard_normal
from .multivariate_normal import batch_mahalanobis, tril_solve


def _capacitance_tril(W, D):      # noqa: N803 - the factors' usual names
    """The Cholesky factor of I + W^T D^-1 W."""
    wt_dinv = W.mT / D.unsqueeze(-2)
    return linalg.cholesky(wt_dinv @ W + creation.eye(W.shape[-1], dtype=W.dtype))


def _lowrank_logdet(W, D, cap_tril):      # noqa: N803
    """log |W W^T + D| = log |C| + log |D|."""
    return 2 * cap_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) + D.log().sum(-1)


def _lowrank_mahalanobis(W, D, x, cap_tril):      # noqa: N803
    """x^T (W W^T + D)^-1 x = x^T D^-1 x - |C_L^-1 W^T D^-1 x|^2."""
    wt_dinv_x = ((W.mT / D.unsqueeze(-2)) @ x.unsqueeze(-1)).squeeze(-1)
    return (x.pow(2) / D).sum(-1) - batch_mahalanobis(cap_tril, wt_dinv_x)


class LowRankMultivariateNormal(Distribution):
    arg_constraints = {"loc": constraints.real_vector,
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = tuple(loc.shape[-1:])
        if cov_factor.ndim < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if tuple(cov_factor.shape[-2:-1]) != event_shape:
            raise ValueError(f"cov_factor must be a batch of matrices with shape "
                             f"{event_shape[0]} x m")
        if tuple(cov_diag.shape[-1:]) != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape "
                             f"{loc.shape[-1:]}")
        try:
            loc_, self.cov_factor, diag_ = broadcast_tensors(loc.unsqueeze(-1), cov_factor,
                                                             cov_diag.unsqueeze(-1))
        except Exception as e:
            raise ValueError(f"Incompatible batch shapes: loc {loc.shape}, cov_factor "
                             f"{cov_factor.shape}, cov_diag {cov_diag.shape}") from e
        self.loc, self.cov_diag = loc_[..., 0], diag_[..., 0]
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        self._capacitance_tril = _capacitance_tril(cov_factor, cov_diag)
        super().__init__(self.loc.shape[:-1], loc.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
            new.__dict__.pop(name, None)    # made again, in the new batch shape, on use
        return new

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        return (self._unbroadcasted_cov_factor.pow(2).sum(-1) +
                self._unbroadcasted_cov_diag).expand(self._batch_shape + self._event_shape)

    def _full(self, matrix):
        return matrix.expand(self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def scale_tril(self):
        """D^1/2 chol(I + D^-1/2 W W^T D^-1/2): a Cholesky of a matrix with eigenvalues
        >= 1, well conditioned however small D is."""
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        sqrt_d = d.sqrt().unsqueeze(-1)
        scaled = w / sqrt_d
        eye = creation.eye(w.shape[-2], dtype=w.dtype)
        return self._full(sqrt_d * linalg.cholesky(scaled @ scaled.mT + eye))

    @lazy_property
    def covariance_matrix(self):
        w = self._unbroadcasted_cov_factor
        return self._full(w @ w.mT + diag_embed(self._unbroadcasted_cov_diag))

    @lazy_property
    def precision_matrix(self):
        """Woodbury: D^-1 - D^-1 W C^-1 W^T D^-1."""
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        a = tril_solve(self._capacitance_tril, w.mT / d.unsqueeze(-2))
        return self._full(diag_embed(d.reciprocal()) - a.mT @ a)

    def rsample(self, sample_shape=NO_SHAPE):
        shape = tuple(self._extended_shape(sample_shape))
        eps_w = standard_normal(shape[:-1] + tuple(self.cov_factor.shape[-1:]), self.loc)
        eps_d = standard_normal(shape, self.loc)
        w = self._unbroadcasted_cov_factor
        return self.loc + (w @ eps_w.unsqueeze(-1)).squeeze(-1) + \
            self._unbroadcasted_cov_diag.sqrt() * eps_d

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        w, d, cap = (self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                     self._capacitance_tril)
        m = _lowrank_mahalanobis(w, d, value - self.loc, cap)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) +
                       _lowrank_logdet(w, d, cap) + m)

    def entropy(self):
        log_det = _lowrank_logdet(self._unbroadcasted_cov_factor,
                                  self._unbroadcasted_cov_diag, self._capacitance_tril)
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + log_det)
        return h if len(self._batch_shape) == 0 else h.expand(self._batch_shape)

