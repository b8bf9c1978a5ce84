"""Wishart(df, covariance_matrix | precision_matrix | scale_tril) (torch's): the law of
sums of df outer products of Gaussian vectors, a prior on covariance matrices. Draws by
Bartlett's decomposition: L A A^T L^T, A lower-triangular with sqrt(Chi2(df - i)) on its
diagonal and standard normals below, so they are reparameterized (through the Chi2's
Gamma draws)."""
import math

from .. import creation, linalg
from ..dtype_info import finfo
from ..ops.movement import diag_embed
from ..ops.special import digamma
from ..tensor import Size, Tensor
from ..torch_aliases import broadcast_shapes
from ..user_code import user_stacklevel
from . import constraints
from .distribution import NO_SHAPE, standard_normal, valid
from .exp_family import ExponentialFamily
from .gamma import Chi2
from .lkj_cholesky import mvlgamma
from .multivariate_normal import (
    CholeskyParametrized,
    _precision_to_scale_tril,
    half_log_det,
)

_LOG_2 = math.log(2)


def _mvdigamma(x, p):
    """d/dx of mvlgamma(x, p): sum_j digamma(x - j/2)."""
    if not valid(constraints.greater_than((p - 1) / 2), x):
        raise AssertionError("Wrong domain for multivariate digamma function.")
    return sum(digamma(x - j / 2) for j in range(p))


class Wishart(CholeskyParametrized, ExponentialFamily):
    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self):
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(self._event_shape[-1] - 1)}

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        given = {"covariance_matrix": covariance_matrix, "precision_matrix": precision_matrix,
                 "scale_tril": scale_tril}
        given = {k: v for k, v in given.items() if v is not None}
        if len(given) != 1:
            raise AssertionError("Exactly one of covariance_matrix or precision_matrix or "
                                 "scale_tril may be specified.")
        (name, param), = given.items()
        if param.ndim < 2:
            raise ValueError("scale_tril must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if isinstance(df, Tensor):
            batch_shape = broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape))
            self.df = df.expand(batch_shape)
        else:
            batch_shape = tuple(param.shape[:-2])
            self.df = creation.tensor(float(df), dtype=param.dtype)
        p = param.shape[-1]
        # (checked where df is known: not inside compiled code, as torch.compile's guards)
        if not valid(constraints.greater_than(p - 1), self.df):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = "
                             f"{p - 1}.")
        if not valid(constraints.greater_than_eq(p), self.df):
            import warnings
            warnings.warn("Low df values detected. Singular samples are highly likely to "
                          "occur for ndim - 1 < df < ndim.", stacklevel=user_stacklevel())
        self.__dict__[name] = param.expand(batch_shape + (-1, -1))
        super().__init__(Size(batch_shape), Size(param.shape[-2:]), validate_args=validate_args)
        self._unbroadcasted_scale_tril = (
            param if name == "scale_tril" else linalg.cholesky(param)
            if name == "covariance_matrix" else _precision_to_scale_tril(param))
        self._dist_chi2 = self._chi2()

    def _chi2(self):
        """Chi2(df - i) for the i-th diagonal entry of Bartlett's factor."""
        offsets = creation.arange(self._event_shape[-1], dtype=self.df.dtype)
        return Chi2(self.df.unsqueeze(-1) - offsets.expand(tuple(self._batch_shape) + (-1,)))

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        new.df = self.df.expand(batch_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(
            tuple(batch_shape) + tuple(self._event_shape))
        new._dist_chi2 = new._chi2()
        return new

    def _full(self, matrix):
        return matrix.expand(self._batch_shape + self._event_shape)

    def _df_matrix(self):
        return self.df.reshape(tuple(self._batch_shape) + (1, 1))

    mean = property(lambda self: self._df_matrix() * self.covariance_matrix)

    @property
    def mode(self):
        factor = self.df - self._event_shape[-1] - 1
        factor = factor.masked_fill(factor <= 0, math.nan)
        return factor.reshape(tuple(self._batch_shape) + (1, 1)) * self.covariance_matrix

    @property
    def variance(self):
        v = self.covariance_matrix
        d = v.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (v.pow(2) + d.unsqueeze(-1) * d.unsqueeze(-2))

    def rsample(self, sample_shape=NO_SHAPE):
        sample_shape = Size(sample_shape)
        diag = self._dist_chi2.rsample(sample_shape).sqrt()
        diag = diag.clamp(min=finfo(diag.dtype).eps)
        below = standard_normal(self._extended_shape(sample_shape), diag).tril(-1)
        chol = self._unbroadcasted_scale_tril @ (diag_embed(diag) + below)
        return chol @ chol.mT

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        nu, p, L = self.df, self._event_shape[-1], self._unbroadcasted_scale_tril  # noqa: N806
        # tr(Sigma^-1 X), solved with Sigma = L L^T built from all of L: torch's
        # cholesky_solve, whose gradient reaches L's upper entries too
        trace = linalg.solve(L @ L.mT, value).diagonal(dim1=-2, dim2=-1).sum(-1)
        return -nu * (p * _LOG_2 / 2 + half_log_det(L)) - mvlgamma(nu / 2, p) + \
            (nu - p - 1) / 2 * linalg.slogdet(value).logabsdet - trace / 2

    def entropy(self):
        nu, p = self.df, self._event_shape[-1]
        return (p + 1) * (p * _LOG_2 / 2 + half_log_det(self._unbroadcasted_scale_tril)) + \
            mvlgamma(nu / 2, p) - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p) + nu * p / 2

    @property
    def _natural_params(self):
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (self.df - p - 1) / 2

    def _log_normalizer(self, x, y):
        p = self._event_shape[-1]
        return (y + (p + 1) / 2) * (-linalg.slogdet(-2 * x).logabsdet + _LOG_2 * p) + \
            mvlgamma(y + (p + 1) / 2, p)
