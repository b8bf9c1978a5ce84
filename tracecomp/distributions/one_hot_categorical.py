"""OneHotCategorical and OneHotCategoricalStraightThrough (torch's): a Categorical whose
draws are one-hot vectors, the event being the class dim. The straight-through kind is
reparameterized by Bengio et al.'s estimator: the draw's gradient is that of probs."""
from ..nn import functional as F
from ..tensor import Size
from . import constraints
from .categorical import OverCategorical
from .distribution import NO_SHAPE, Distribution


class OneHotCategorical(OverCategorical, Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._over(probs, logits, validate_args)

    mean = property(lambda self: self._categorical.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    @property
    def mode(self):
        probs = self.probs
        return F.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)

    def sample(self, sample_shape=NO_SHAPE):
        indices = self._categorical.sample(Size(sample_shape))
        return F.one_hot(indices, self._categorical._num_events).to(self.probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        from .. import creation
        n = self._event_shape[0]
        values = creation.eye(n, dtype=self._param.dtype)
        values = values.reshape((n,) + (1,) * len(self._batch_shape) + (n,))
        return values.expand((n,) + tuple(self._batch_shape) + (n,)) if expand else values


class OneHotCategoricalStraightThrough(OneHotCategorical):
    has_rsample = True

    def rsample(self, sample_shape=NO_SHAPE):
        probs = self.probs
        return self.sample(sample_shape) + (probs - probs.detach())
