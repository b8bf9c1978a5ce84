"""Uniform(low, high) on [low, high) (torch's): reparameterized, so rsample's draws carry
gradients to low and high."""
from .. import creation
from ..tensor import Size, Tensor
from . import constraints
from .distribution import NO_SHAPE, Distribution, broadcast_all


class Uniform(Distribution):
    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        numbers = not isinstance(low, Tensor) and not isinstance(high, Tensor)
        super().__init__(Size() if numbers else self.low.size(), validate_args=validate_args)
        if self._validate_args and not bool((self.low < self.high).all()):
            raise ValueError(f"Expected parameter low to be less than high in {self!r}")

    @property
    def support(self):
        return constraints.half_open_interval(self.low, self.high)

    mean = property(lambda self: (self.high + self.low) / 2)
    stddev = property(lambda self: (self.high - self.low) / 12 ** 0.5)
    variance = property(lambda self: (self.high - self.low).pow(2) / 12)

    @property
    def mode(self):
        return creation.full(tuple(self._extended_shape()), float("nan"), dtype=self.low.dtype)

    def rsample(self, sample_shape=NO_SHAPE):
        shape = tuple(self._extended_shape(sample_shape))
        rand = creation.rand(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + rand * (self.high - self.low)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        inside = (self.low <= value).to(self.low.dtype) * (self.high > value).to(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value):
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()
