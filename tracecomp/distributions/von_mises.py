"""VonMises(loc, concentration) (torch's): a distribution of angles, density
exp(k cos(x - loc)) / (2 pi I0(k)). Its draws come from numpy's von Mises sampler through
a primitive tagged "random" (compiled code draws afresh), wrapped into [-pi, pi) as
torch's; they carry no gradient (torch's has_rsample = False)."""
import math

import numpy as np

from .. import grad_mode
from ..dispatch import bind
from ..ops.registry import defprim
from ..ops.rules import broadcast_shapes
from . import constraints
from .distribution import NO_SHAPE, Distribution, broadcast_all

# log I0 and log I1 by Abramowitz & Stegun 9.8.1-9.8.4 (polynomials in (x/3.75)^2 below
# 3.75 and in 3.75/x above, relative error < 2e-7): torch's _log_modified_bessel_fn, which
# stays finite where I0 itself overflows float32 (x > 88)
_SMALL = {0: [1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.360768e-1, 0.45813e-2],
          1: [0.5, 0.87890594, 0.51498869, 0.15084934, 0.2658733e-1, 0.301532e-2,
              0.32411e-3]}
_LARGE = {0: [0.39894228, 0.1328592e-1, 0.225319e-2, -0.157565e-2, 0.916281e-2,
              -0.2057706e-1, 0.2635537e-1, -0.1647633e-1, 0.392377e-2],
          1: [0.39894228, -0.3988024e-1, -0.362018e-2, 0.163801e-2, -0.1031555e-1,
              0.2282967e-1, -0.2895312e-1, 0.1787654e-1, -0.420059e-2]}


def _poly(y, coefs):
    result = coefs[-1]
    for c in reversed(coefs[:-1]):
        result = c + y * result
    return result


def log_bessel_i(x, order):
    """log I_order(x) for x > 0, order 0 or 1."""
    from ..ops import elementwise as ew
    small = _poly((x / 3.75).pow(2), _SMALL[order])
    small = (x.abs() * small if order == 1 else small).log()
    large = x - 0.5 * x.log() + _poly(3.75 / x, _LARGE[order]).log()
    return ew.where(x < 3.75, small, large)


def _von_mises_impl(loc, concentration, generator=None):
    from ..creation import default_generator
    rng = (generator or default_generator).rng
    dtype = np.result_type(loc, concentration)
    loc, k = np.broadcast_arrays(np.asarray(loc, np.float64),
                                 np.asarray(concentration, np.float64))
    x = rng.vonmises(0.0, k)
    return (np.mod(x + math.pi + loc, 2 * math.pi) - math.pi).astype(dtype)


von_mises_p = defprim("von_mises", _von_mises_impl,
                      lambda loc, k, generator=None: broadcast_shapes("von_mises", loc, k),
                      lambda loc, k, generator=None: np.result_type(loc.dtype, k.dtype),
                      None, ("random",))


class VonMises(Distribution):
    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.concentration * (value - self.loc).cos() - math.log(2 * math.pi) - \
            log_bessel_i(self.concentration, 0)

    def sample(self, sample_shape=NO_SHAPE):
        shape = tuple(self._extended_shape(sample_shape))
        with grad_mode.no_grad():
            return bind(von_mises_p, self.loc.detach().expand(shape),
                        self.concentration.detach().expand(shape))

    mean = property(lambda self: self.loc)      # the circular mean
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        """The circular variance, 1 - I1(k) / I0(k)."""
        k = self.concentration
        return 1 - (log_bessel_i(k, 1) - log_bessel_i(k, 0)).exp()
