"""tracecomp.distributions: torch.distributions' common families, written with tensor ops.

Categorical, Bernoulli, Normal, Uniform and Independent, with sample/rsample, log_prob,
entropy, mean/mode/variance, cdf/icdf where torch has them, argument validation, and
kl_divergence/register_kl. What REINFORCE and actor-critic (Categorical), VAEs (Normal,
kl_divergence) and policy-gradient code use. They differentiate eagerly and compile: their
samples are graph nodes drawn afresh on every compiled call.
"""
from .. import support as _support
from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .dirichlet import Beta, Dirichlet
from .distribution import Distribution
from .gamma import Chi2, Exponential, Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical, OneHotCategoricalStraightThrough
from .uniform import Uniform

__all__ = ["Bernoulli", "Beta", "Categorical", "Chi2", "Dirichlet", "Distribution",
           "Exponential", "Gamma", "Independent", "MultivariateNormal", "Normal",
           "OneHotCategorical", "OneHotCategoricalStraightThrough", "Uniform",
           "constraints", "kl_divergence", "register_kl"]
__getattr__ = _support.missing_in("torch.distributions")     # MultivariateNormal, ...: named
