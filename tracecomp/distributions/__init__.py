"""tracecomp.distributions: torch.distributions, written with tensor ops.

Every family torch 2.13 has (Normal, MultivariateNormal, Categorical, Gamma, Beta,
Dirichlet, MixtureSameFamily, Wishart, ...), with sample/rsample, log_prob, entropy,
mean/mode/variance, cdf/icdf where torch has them, expand, argument validation as torch's;
the transforms, TransformedDistribution and biject_to/transform_to; and kl_divergence with
every pair torch registers. Files by kind: distribution.py (the base class and helpers),
one file per family or group of families, transforms*.py, kl.py and kl_cross.py.

Everything differentiates eagerly and compiles; draws are graph nodes drawn afresh on every
compiled call (from one seed, the eager ones). Gamma, Beta, Dirichlet (and so Chi2,
StudentT, FisherSnedecor, Wishart) are reparameterized through implicit gradients
(gamma_draws.py), as torch's.
"""
import sys as _sys

from .. import support as _support
from . import constraints
from . import transforms
from .bernoulli import Bernoulli
from .categorical import Categorical
from .constraint_registry import biject_to, transform_to
from .continuous_bernoulli import ContinuousBernoulli
from .counts import Binomial, Geometric, Multinomial, NegativeBinomial, Poisson
from .dirichlet import Beta, Dirichlet
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .gamma import Chi2, Exponential, FisherSnedecor, Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from . import kl_cross  # noqa: E402,F401 - registers the cross-family KL pairs
from .lkj_cholesky import LKJCholesky
from .location_scale import Cauchy, GeneralizedPareto, Laplace, StudentT
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .mixture_same_family import MixtureSameFamily
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical, OneHotCategoricalStraightThrough
from .relaxed import (ExpRelaxedCategorical, LogitRelaxedBernoulli, RelaxedBernoulli,
                      RelaxedOneHotCategorical)
from .transformed_distribution import (Gumbel, HalfCauchy, HalfNormal, InverseGamma,
                                       Kumaraswamy, LogisticNormal, LogNormal, Pareto,
                                       TransformedDistribution, Weibull)
from .transforms import *  # noqa: F403 - torch.distributions re-exports every transform
from .uniform import Uniform
from .von_mises import VonMises
from .wishart import Wishart

__all__ = ["Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy", "Chi2", "ContinuousBernoulli",
           "Dirichlet", "Distribution", "ExpRelaxedCategorical", "Exponential", "ExponentialFamily",
           "FisherSnedecor", "Gamma", "GeneralizedPareto", "Geometric", "Gumbel", "HalfCauchy",
           "HalfNormal", "Independent", "InverseGamma", "Kumaraswamy", "LKJCholesky", "Laplace",
           "LogNormal", "LogisticNormal", "LogitRelaxedBernoulli", "LowRankMultivariateNormal",
           "MixtureSameFamily", "Multinomial", "MultivariateNormal", "NegativeBinomial", "Normal",
           "OneHotCategorical", "OneHotCategoricalStraightThrough", "Pareto", "Poisson",
           "RelaxedBernoulli", "RelaxedOneHotCategorical", "StudentT", "TransformedDistribution",
           "Uniform", "VonMises", "Weibull", "Wishart", "biject_to", "constraints", "kl_divergence",
           "register_kl", "transform_to", "transforms",
           *transforms.__all__]

# torch.distributions' modules by their names there, each the module here that defines what
# torch's does: `from torch.distributions.beta import Beta` becomes tracecomp's
_TORCH_MODULES = {
    "beta": "dirichlet", "binomial": "counts", "cauchy": "location_scale", "chi2": "gamma",
    "exponential": "gamma", "fishersnedecor": "gamma", "geometric": "counts",
    "generalized_pareto": "location_scale", "gumbel": "transformed_distribution",
    "half_cauchy": "transformed_distribution",
    "half_normal": "transformed_distribution", "inverse_gamma": "transformed_distribution",
    "kumaraswamy": "transformed_distribution", "laplace": "location_scale",
    "log_normal": "transformed_distribution", "logistic_normal": "transformed_distribution",
    "multinomial": "counts", "negative_binomial": "counts",
    "pareto": "transformed_distribution", "poisson": "counts",
    "relaxed_bernoulli": "relaxed", "relaxed_categorical": "relaxed",
    "studentT": "location_scale", "weibull": "transformed_distribution",
}
for _name, _module in _TORCH_MODULES.items():
    globals()[_name] = _sys.modules[f"{__name__}.{_name}"] = _sys.modules[
        f"{__name__}.{_module}"]
from . import utils  # noqa: E402 - after the families it re-exports from

__getattr__ = _support.missing_in("torch.distributions")     # MultivariateNormal, ...: named
