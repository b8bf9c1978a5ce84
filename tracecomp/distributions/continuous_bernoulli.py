"""ContinuousBernoulli(probs | logits) (torch's; Loaiza-Ganem & Cunningham 2019): the
density on [0, 1] proportional to p^x (1 - p)^(1 - x), a VAE likelihood for pixel
intensities. Its normalizer and moments have a removable singularity at p = 1/2, so inside
`lims` they are their Taylor expansions; draws are the inverse CDF of a uniform, so they
are reparameterized."""
import math

from .. import creation
from ..nn import functional as F
from ..ops import elementwise as ew
from . import constraints
from .distribution import (
    NO_SHAPE,
    batch_shape_of,
    broadcast_all,
    clamp_probs,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
    valid,
)
from .exp_family import ExponentialFamily


class ContinuousBernoulli(ExponentialFamily):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True
    _mean_carrier_measure = 0
    _expand_also = ("_param",)

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        given = probs if probs is not None else logits
        (param,) = broadcast_all(given)
        if probs is not None:
            if validate_args is not None and not valid(self.arg_constraints["probs"], param):
                raise ValueError("The parameter probs has invalid values")
            param = clamp_probs(param)
        self.__dict__["probs" if probs is not None else "logits"] = param
        self._param, self._lims = param, lims
        super().__init__(batch_shape_of((given,), param), validate_args=validate_args)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    param_shape = property(lambda self: self._param.size())

    def _outside_unstable_region(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        """probs, moved off the unstable region around 1/2 (where the Taylor forms serve)."""
        return ew.where(self._outside_unstable_region(), self.probs,
                        self._lims[0] * creation.ones_like(self.probs))

    def _cont_bern_log_norm(self):
        """log C(p): log(|log(1-p) - log p| / |1 - 2p|)."""
        p = self._cut_probs()
        below = ew.where(p <= 0.5, p, creation.zeros_like(p))
        above = ew.where(p >= 0.5, p, creation.ones_like(p))
        log_norm = ((-p).log1p() - p.log()).abs().log() - ew.where(
            p <= 0.5, (-2.0 * below).log1p(), (2.0 * above - 1.0).log())
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return ew.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        p = self._cut_probs()
        mus = p / (2.0 * p - 1.0) + 1.0 / ((-p).log1p() - p.log())
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return ew.where(self._outside_unstable_region(), mus, taylor)

    @property
    def variance(self):
        p = self._cut_probs()
        variances = p * (p - 1.0) / (1.0 - 2.0 * p).pow(2) + \
            1.0 / ((-p).log1p() - p.log()).pow(2)
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return ew.where(self._outside_unstable_region(), variances, taylor)

    def rsample(self, sample_shape=NO_SHAPE):
        shape = tuple(self._extended_shape(sample_shape))
        return self.icdf(creation.rand(shape, dtype=self.probs.dtype))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none") + \
            self._cont_bern_log_norm()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        p = self._cut_probs()
        cdfs = (p.pow(value) * (1.0 - p).pow(1.0 - value) + p - 1.0) / (2.0 * p - 1.0)
        inside = ew.where(self._outside_unstable_region(), cdfs, value)
        return ew.where(value <= 0.0, creation.zeros_like(value),
                        ew.where(value >= 1.0, creation.ones_like(value), inside))

    def icdf(self, value):
        p = self._cut_probs()
        return ew.where(self._outside_unstable_region(),
                        ((-p + value * (2.0 * p - 1.0)).log1p() - (-p).log1p()) /
                        (p.log() - (-p).log1p()), value)

    def entropy(self):
        log_p0, log_p1 = (-self.probs).log1p(), self.probs.log()
        return self.mean * (log_p0 - log_p1) - self._cont_bern_log_norm() - log_p0

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        """log((e^x - 1) / x), by its Taylor series inside `lims` (around x = 0)."""
        outside = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut = ew.where(outside, x, (self._lims[0] - 0.5) * creation.ones_like(x))
        log_norm = cut.expm1().abs().log() - cut.abs().log()
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return ew.where(outside, log_norm, taylor)
