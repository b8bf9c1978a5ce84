"""LKJCholesky(dim, concentration) (torch's; Lewandowski, Kurowicka & Joe 2009): a
distribution over Cholesky factors of correlation matrices, the prior on correlations in
Bayesian models. Draws by the onion method (a Beta draw per row, then a uniform direction);
they carry no gradient (torch's has_rsample = False)."""
import math

from .. import creation
from ..composite import cat
from ..dtype_info import finfo
from ..ops.movement import diag_embed
from ..ops.special import lgamma
from ..tensor import Size
from . import constraints
from .dirichlet import Beta
from .distribution import NO_SHAPE, Distribution, broadcast_all, standard_normal


def mvlgamma(a, p):
    """log of the multivariate gamma function: p(p-1)/4 log pi + sum_j lgamma(a - j/2)."""
    terms = sum(lgamma(a - j / 2) for j in range(p))
    return p * (p - 1) / 4 * math.log(math.pi) + terms


class LKJCholesky(Distribution):
    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim, concentration=1.0, validate_args=None):
        if dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. "
                             f"Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        # row i's squared length below the diagonal is Beta(i/2, eta + (dim - 2 - i)/2)
        marginal = self.concentration + 0.5 * (dim - 2)
        offset = creation.arange(dim - 1, dtype=self.concentration.dtype)
        offset = cat([creation.zeros(1, dtype=offset.dtype), offset])
        self._beta = Beta(offset + 0.5, marginal.unsqueeze(-1) - 0.5 * offset)
        super().__init__(self.concentration.size(), Size((dim, dim)),
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        new._beta = self._beta.expand(tuple(batch_shape) + (self.dim,))
        return new

    def sample(self, sample_shape=NO_SHAPE):
        y = self._beta.sample(sample_shape).unsqueeze(-1)
        u = standard_normal(self._extended_shape(sample_shape), y).tril(-1)
        norm = u.pow(2).sum(-1, keepdim=True).sqrt()
        first_row = creation.arange(self.dim) == 0      # all zeros: 0/0 there
        u = (u / norm).masked_fill(first_row.unsqueeze(-1), 0.0)
        w = y.sqrt() * u
        diag = (1 - w.pow(2).sum(-1)).clamp(min=finfo(w.dtype).tiny).sqrt()
        return w + diag_embed(diag)

    def log_prob(self, value):
        """prod_i L_ii^(2 eta - 2 + dim - i) over its normalizer (Stan's density)."""
        if self._validate_args:
            self._validate_sample(value)
        diag = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = creation.arange(2, self.dim + 1, dtype=self.concentration.dtype)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        normalize = 0.5 * dm1 * math.log(math.pi) + mvlgamma(alpha - 0.5, dm1) - \
            lgamma(alpha) * dm1
        return unnormalized - normalize
