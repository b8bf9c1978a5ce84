"""The count families (torch's): Poisson(rate), Geometric(probs | logits) failures before
the first success, Binomial(total_count, probs | logits), NegativeBinomial(total_count,
probs | logits) successes before total_count failures, and Multinomial(total_count,
probs | logits). Their draws carry no gradient (torch's has_rsample = False)."""
import math

from .. import creation, grad_mode, random
from ..composite_math import xlogy
from ..dtype_info import finfo
from ..nn import functional as F
from ..ops.special import lgamma
from ..tensor import Size
from . import constraints
from .categorical import OverCategorical
from .distribution import (
    NO_SHAPE,
    Distribution,
    batch_shape_of,
    broadcast_all,
    probs_and_logits,
    valid,
)
from .exp_family import ExponentialFamily


def _one_of(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


class Poisson(ExponentialFamily):
    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(batch_shape_of((rate,), self.rate), validate_args=validate_args)

    mean = property(lambda self: self.rate)
    mode = property(lambda self: self.rate.floor())
    variance = property(lambda self: self.rate)

    def sample(self, sample_shape=NO_SHAPE):
        shape = tuple(self._extended_shape(sample_shape))
        return random.poisson(self.rate.detach().expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return xlogy(value, rate) - rate - lgamma(value + 1)

    @property
    def _natural_params(self):
        return (self.rate.log(),)

    def _log_normalizer(self, x):
        return x.exp()


class Geometric(Distribution):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        given = probs if probs is not None else logits
        (param,) = broadcast_all(given)
        self.__dict__["probs" if probs is not None else "logits"] = param
        super().__init__(batch_shape_of((given,), param), validate_args=validate_args)
        if self._validate_args and probs is not None and \
                not valid(constraints.positive, self.probs):
            value = self.probs
            raise ValueError(f"Expected parameter probs ({type(value).__name__} of shape "
                             f"{tuple(value.shape)}) of distribution {self!r} to be positive "
                             f"but found invalid values:\n{value[~(value > 0)]}")

    probs, logits = probs_and_logits(is_binary=True)

    mean = property(lambda self: 1.0 / self.probs - 1.0)
    mode = property(lambda self: creation.zeros_like(self.probs))
    variance = property(lambda self: (1.0 / self.probs - 1.0) / self.probs)

    def sample(self, sample_shape=NO_SHAPE):
        probs = self.probs.detach()
        shape = tuple(self._extended_shape(sample_shape))
        u = creation.rand(shape, dtype=probs.dtype).clamp(min=finfo(probs.dtype).tiny)
        return (u.log() / (-probs).log1p()).floor()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        # a sure success (probs 1) puts all mass on 0 failures: 0 * log(0) is 0 there
        probs = probs.masked_fill((probs == 1) & (value == 0), 0.0)
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs,
                                                  reduction="none") / self.probs


def _clamp_by_zero(x):
    """max(x, 0), with gradient 1/2 at 0 (torch's _clamp_by_zero)."""
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


def _count_and_odds(dist, total_count, probs, logits, validate_args):
    """Binomial's and NegativeBinomial's constructor: a count and probs or logits, broadcast
    together, the one given kept as its parameter."""
    _one_of(probs, logits)
    name = "probs" if probs is not None else "logits"
    count, param = broadcast_all(total_count, probs if probs is not None else logits)
    dist.total_count = count.to(param.dtype)
    dist.__dict__[name] = param
    dist._param = param
    Distribution.__init__(dist, param.size(), validate_args=validate_args)


class Binomial(Distribution):
    arg_constraints = {"total_count": constraints.nonnegative_integer,
                       "probs": constraints.unit_interval, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        _count_and_odds(self, total_count, probs, logits, validate_args)

    _expand_also = ("_param",)

    probs, logits = probs_and_logits(is_binary=True)

    @property
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    mean = property(lambda self: self.total_count * self.probs)
    mode = property(lambda self: ((self.total_count + 1) * self.probs).floor().clamp(
        max=self.total_count))
    variance = property(lambda self: self.total_count * self.probs * (1 - self.probs))

    def sample(self, sample_shape=NO_SHAPE):
        shape = tuple(self._extended_shape(sample_shape))
        return random.binomial(self.total_count.detach().expand(shape),
                               self.probs.detach().expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n, logits = self.total_count, self.logits
        # log(1 + e^logits) written to stay finite for large |logits|
        normalize = n * _clamp_by_zero(logits) + n * (-logits.abs()).exp().log1p() - \
            lgamma(n + 1)
        return value * logits - lgamma(value + 1) - lgamma(n - value + 1) - normalize

    def _count(self, what):
        """The one total count of every member, which `what` needs."""
        top = int(self.total_count.max())
        if int(self.total_count.min()) != top:
            raise NotImplementedError(f"Inhomogeneous total count not supported by `{what}`.")
        return top

    def entropy(self):
        self._count("entropy")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(log_prob.exp() * log_prob).sum(0)

    def enumerate_support(self, expand=True):
        values = creation.arange(1 + self._count("enumerate_support"), dtype=self._param.dtype)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values


class NegativeBinomial(Distribution):
    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    support = constraints.nonnegative_integer
    _expand_also = ("_param",)

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        _count_and_odds(self, total_count, probs, logits, validate_args)

    probs, logits = probs_and_logits(is_binary=True)

    param_shape = property(lambda self: self._param.size())
    mean = property(lambda self: self.total_count * self.logits.exp())
    mode = property(lambda self: ((self.total_count - 1) * self.logits.exp()).floor().clamp(
        min=0.0))
    variance = property(lambda self: self.mean / (-self.logits).sigmoid())

    def sample(self, sample_shape=NO_SHAPE):
        """A Poisson draw whose rate is a Gamma(total_count, e^-logits) draw."""
        from .gamma import Gamma
        with grad_mode.no_grad():
            gamma = Gamma(self.total_count, (-self.logits).exp(), validate_args=False)
            return random.poisson(gamma.sample(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self.total_count
        unnormalized = n * F.logsigmoid(-self.logits) + value * F.logsigmoid(self.logits)
        normalization = -lgamma(n + value) + lgamma(1.0 + value) + lgamma(n)
        # no failures wanted and none seen: probability 1, whatever lgamma(0) says
        normalization = normalization.masked_fill(n + value == 0.0, 0.0)
        return unnormalized - normalization


class Multinomial(OverCategorical, Distribution):
    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._over(probs, logits, validate_args)
        self._binomial = Binomial(total_count=total_count, probs=self._categorical.probs)

    mean = property(lambda self: self.probs * self.total_count)
    variance = property(lambda self: self.total_count * self.probs * (1 - self.probs))

    @property
    def support(self):
        return constraints.multinomial(self.total_count)

    def sample(self, sample_shape=NO_SHAPE):
        sample_shape = Size(sample_shape)
        draws = self._categorical.sample(Size((self.total_count,) + tuple(sample_shape)))
        draws = draws.permute(*range(1, draws.ndim), 0)       # the draws' dim last
        counts = creation.zeros(tuple(self._extended_shape(sample_shape)), dtype=draws.dtype)
        counts = counts.scatter_add(-1, draws, creation.ones_like(draws))
        return counts.to(self.probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        # a category that cannot occur and did not: 0 * -inf counts as 0
        logits = logits.masked_fill((value == 0) & (logits == -math.inf), 0.0)
        return lgamma(value.sum(-1) + 1) - lgamma(value + 1).sum(-1) + \
            (logits * value).sum(-1)

    def entropy(self):
        n = creation.tensor(float(self.total_count), dtype=self.probs.dtype)
        term1 = n * self._categorical.entropy() - lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = self._binomial.log_prob(support).exp()
        return term1 + (binomial_probs * lgamma(support + 1)).sum((0, -1))
