"""Laplace, Cauchy, StudentT and GeneralizedPareto (torch's): heavy-tailed location-scale
families, all reparameterized (StudentT through its Chi2 draw)."""
import math

from .. import creation
from ..ops import elementwise as ew
from ..ops.special import digamma, lgamma
from . import constraints
from .distribution import NO_SHAPE, Distribution, batch_shape_of, broadcast_all, standard_normal
from .gamma import Chi2


def _uniform(shape, like, low, high):
    return low + creation.rand(tuple(shape), dtype=like.dtype) * (high - low)


class _LocScale(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(batch_shape_of((loc, scale), self.loc), validate_args=validate_args)

    mode = property(lambda self: self.loc)

    def _checked(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return value


class Laplace(_LocScale):
    mean = property(lambda self: self.loc)
    variance = property(lambda self: 2 * self.scale.pow(2))
    stddev = property(lambda self: math.sqrt(2) * self.scale)

    def rsample(self, sample_shape=NO_SHAPE):
        from ..dtype_info import finfo
        u = _uniform(self._extended_shape(sample_shape), self.loc, finfo(self.loc.dtype).eps - 1,
                     1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        value = self._checked(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        d = self._checked(value) - self.loc
        return 0.5 - 0.5 * d.sign() * (-d.abs() / self.scale).expm1()

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()


class Cauchy(_LocScale):
    mean = property(lambda self: creation.full(tuple(self._extended_shape()), math.nan,
                                               dtype=self.loc.dtype))
    variance = property(lambda self: creation.full(tuple(self._extended_shape()), math.inf,
                                                   dtype=self.loc.dtype))

    def rsample(self, sample_shape=NO_SHAPE):
        u = _uniform(self._extended_shape(sample_shape), self.loc, 0.0, 1.0)
        return self.loc + (math.pi * (u - 0.5)).tan() * self.scale

    def log_prob(self, value):
        z = (self._checked(value) - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - z.pow(2).log1p()

    def cdf(self, value):
        return ((self._checked(value) - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value):
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class StudentT(Distribution):
    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        super().__init__(batch_shape_of((df, loc, scale), self.df), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        new._chi2 = self._chi2.expand(batch_shape)
        return new

    mean = property(lambda self: self.loc.masked_fill(self.df <= 1, math.nan))
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        """scale^2 df / (df - 2) for df > 2, infinite for 1 < df <= 2, undefined below."""
        df = self.df
        finite = self.scale.pow(2) * df / (df - 2)
        return finite.masked_fill(df <= 2, math.inf).masked_fill(df <= 1, math.nan)

    def rsample(self, sample_shape=NO_SHAPE):
        x = standard_normal(self._extended_shape(sample_shape), self.df)
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        z = self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi) + \
            lgamma(0.5 * df) - lgamma(0.5 * (df + 1.0))
        return -0.5 * (df + 1.0) * (y.pow(2) / df).log1p() - z

    def entropy(self):
        df = self.df
        lbeta = lgamma(0.5 * df) + math.lgamma(0.5) - lgamma(0.5 * (df + 1))
        return self.scale.log() + 0.5 * (df + 1) * (digamma(0.5 * (df + 1)) -
                                                    digamma(0.5 * df)) + 0.5 * df.log() + lbeta


class GeneralizedPareto(Distribution):
    """The limit law of exceedances over a high threshold: survival function
    (1 + c z)^(-1/c), z = (x - loc) / scale, and e^-z at c = 0 (where the c != 0 form is
    0/0, so c = 0 takes its own branch with a safe c in the other)."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        super().__init__(batch_shape_of((loc, scale, concentration), self.loc),
                         validate_args=validate_args)

    def _zero_and_safe(self):
        c = self.concentration
        zero = c.abs() <= 1e-8      # torch.isclose(c, 0)
        return zero, ew.where(zero, creation.ones_like(c), c)

    def rsample(self, sample_shape=NO_SHAPE):
        return self.icdf(_uniform(self._extended_shape(sample_shape), self.loc, 0.0, 1.0))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._zero_and_safe()
        y = 1 / c + creation.ones_like(z)
        nonzero = ew.where(y == 0, y, y * (c * z).log1p())
        return -self.scale.log() - ew.where(zero, z, nonzero)

    def log_survival_function(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._zero_and_safe()
        return ew.where(zero, -z, -(c * z).log1p() / c)

    def log_cdf(self, value):
        return (-self.log_survival_function(value).exp()).log1p()

    def cdf(self, value):
        return self.log_cdf(value).exp()

    def icdf(self, value):
        zero, c = self._zero_and_safe()
        log_u = (-value).log1p()
        return ew.where(zero, self.loc - self.scale * log_u,
                        self.loc + self.scale / c * (-c * log_u).expm1())

    @property
    def mean(self):
        c = self.concentration
        finite = c < 1
        result = self.loc + self.scale / (1 - ew.where(finite, c, 0.5))
        return ew.where(finite, result, math.nan)

    @property
    def variance(self):
        c = self.concentration
        finite = c < 0.5
        safe = ew.where(finite, c, 0.25)
        return ew.where(finite, self.scale.pow(2) / ((1 - safe).pow(2) * (1 - 2 * safe)),
                        math.nan)

    def entropy(self):
        return (self.scale.log() + self.concentration + 1).expand(self._batch_shape)

    mode = property(lambda self: self.loc)

    @property
    def support(self):
        upper = ew.where(self.concentration < 0, self.loc - self.scale / self.concentration,
                         math.inf)
        return constraints.interval(self.loc, upper)
