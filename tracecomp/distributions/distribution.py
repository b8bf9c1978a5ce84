"""The Distribution base class of tracecomp.distributions, and the helpers its subclasses
share (torch.distributions.Distribution and .utils).

Every distribution is written with tensor ops, so log_prob, entropy and rsample are
differentiable eagerly and compile inside a compiled function; samples are drawn by the
random ops (multinomial, bernoulli, normal, rand), which a compiled graph draws afresh on
every call.
"""
import functools
import math

from .. import creation, grad_mode
from ..tensor import Size, Tensor
from ..user_code import user_stacklevel
from . import constraints

NO_SHAPE = Size()      # the default sample and batch shape: one draw, no batch
_validate_default = [True]      # torch's default (__debug__): arguments are checked


def broadcast_all(*values):
    """The values as tensors of one broadcast shape; Python numbers take the dtype of the
    tensors among them (or the default float)."""
    from ..composite import broadcast_tensors
    tensors = [v for v in values if isinstance(v, Tensor)]
    dtype = tensors[0].dtype if tensors else None
    values = [v if isinstance(v, Tensor) else creation.tensor(float(v), dtype=dtype)
              for v in values]
    return broadcast_tensors(*values)


def batch_shape_of(given, broadcast):
    """torch's batch shape for parameters `given` as passed, `broadcast` one of them after
    broadcast_all: () when every one was a Python number, else broadcast's shape."""
    return broadcast.size() if any(isinstance(v, Tensor) for v in given) else Size()


def clamp_probs(probs):
    eps = _finfo(probs).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def logits_to_probs(logits, is_binary=False):
    return logits.sigmoid() if is_binary else logits.softmax(-1)


class lazy_property:
    """A property made on first use and then kept as an instance attribute (torch's
    lazy_property): Categorical's probs from the logits it was given, MultivariateNormal's
    covariance from its Cholesky factor. It is made with gradients even when first used
    under no_grad (inside sample()), so a later rsample or log_prob still differentiates."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.name = wrapped.__name__
        functools.update_wrapper(self, wrapped)

    def __set_name__(self, owner, name):
        self.name = name        # the attribute it is kept as (a lambda has no name)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with grad_mode.enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.name] = value
        return value


def probs_and_logits(is_binary):
    """The two lazy parametrizations of a family given probs or logits: each made from
    the other (`probs, logits = probs_and_logits(is_binary=True)` in the class body)."""
    def probs(self):
        return logits_to_probs(self.logits, is_binary)

    def logits(self):
        return probs_to_logits(self.probs, is_binary)
    return lazy_property(probs), lazy_property(logits)


def sum_rightmost(value, dim):
    """value summed over its `dim` rightmost dims."""
    return value.reshape(tuple(value.shape[:value.ndim - dim]) + (-1,)).sum(-1) if dim else \
        value


def _finfo(t):
    from ..dtype_info import finfo
    return finfo(t.dtype)


class Distribution:
    """A family of probability distributions with batch_shape independent members, each
    over events of event_shape."""

    has_rsample = False
    has_enumerate_support = False
    arg_constraints = {}
    support = None

    @staticmethod
    def set_default_validate_args(value):
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args expects a bool, got {value!r}")
        _validate_default[0] = value

    def __init__(self, batch_shape=NO_SHAPE, event_shape=NO_SHAPE, validate_args=None):
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if name not in self.__dict__ or isinstance(constraint, constraints._Dependent):
                    continue        # the other parametrization (probs given, not logits)
                value = self.__dict__[name]
                if not valid(constraint, value):
                    raise ValueError(
                        f"Expected parameter {name} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}")

    @property
    def _validate_args(self):
        return self.__dict__.get("_validate", _validate_default[0])

    @_validate_args.setter
    def _validate_args(self, value):
        self.__dict__["_validate"] = value

    batch_shape = property(lambda self: self._batch_shape)
    event_shape = property(lambda self: self._event_shape)

    # tensors kept besides the arg_constraints parameters that expand must broadcast too
    _expand_also = ()

    def expand(self, batch_shape, _instance=None):
        """This distribution over a larger batch (no copy): each parameter expanded to
        batch_shape followed by its own event dims, as torch's per-family expand does."""
        batch_shape = Size(batch_shape)
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        old = len(self._batch_shape)
        for name in [*self.arg_constraints, *self._expand_also]:
            value = self.__dict__.get(name)
            if isinstance(value, Tensor):
                new.__dict__[name] = value.expand(tuple(batch_shape) +
                                                  tuple(value.shape[old:]))
        new._batch_shape = batch_shape
        return new

    @property
    def mean(self):
        raise NotImplementedError

    @property
    def mode(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=NO_SHAPE):
        with grad_mode.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=NO_SHAPE):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sample "
                                  f"(rsample); use sample()")

    def sample_n(self, n):
        import warnings
        warnings.warn("sample_n will be deprecated. Use .sample((n,)) instead", UserWarning,
                      stacklevel=user_stacklevel())
        return self.sample(Size((n,)))

    def log_prob(self, value):
        raise NotImplementedError

    def cdf(self, value):
        raise NotImplementedError

    def icdf(self, value):
        raise NotImplementedError

    def entropy(self):
        raise NotImplementedError

    def perplexity(self):
        return self.entropy().exp()

    def enumerate_support(self, expand=True):
        raise NotImplementedError

    def _extended_shape(self, sample_shape=NO_SHAPE):
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def _validate_sample(self, value):
        """torch's check of a value given to log_prob: a tensor whose shape broadcasts with
        the distribution's, inside its support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = value.ndim - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{tuple(value.shape)} vs {tuple(self._event_shape)}.")
        actual, expected = tuple(value.shape), tuple(self._batch_shape + self._event_shape)
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{actual} vs {expected}.")
        support = self.support
        if support is not None and not valid(support, value):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape "
                             f"{tuple(value.shape)}) to be within the support ({support!r}) "
                             f"of the distribution {self!r}, but found invalid values:\n"
                             f"{value}")

    def __repr__(self):
        names = [k for k in self.arg_constraints if k in self.__dict__]
        shown = ", ".join(f"{k}: {_shown(self.__dict__[k])}" for k in names)
        return f"{type(self).__name__}({shown})"


def _shown(value):
    """A parameter as torch's repr shows it: its value when it has one element, else its
    shape."""
    return value if value.numel() == 1 else value.size()


def valid(constraint, value):
    """Whether every element of value satisfies constraint; True where values are not
    known (inside compiled code, where torch.compile does not check them either): value
    traced, or the constraint's bounds (Pareto's support starts at its traced scale)."""
    import numpy as np
    if not isinstance(value._data, np.ndarray):
        return True
    ok = constraint.check(value).all()
    return not isinstance(ok._data, np.ndarray) or bool(ok)


def standard_normal(shape, like):
    """Normal(0, 1) draws of `shape`, in like's dtype and device."""
    return creation.randn(tuple(shape), dtype=like.dtype, device=like.device)


LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
