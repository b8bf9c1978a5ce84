"""biject_to and transform_to (torch's): the transform from unconstrained reals onto a
constraint's set, looked up by the constraint's type. biject_to's are bijections (for
HMC-style reparametrizations, whose log |det J| must exist); transform_to's need only reach
the set (softmax for the simplex, exp-diagonal for a Cholesky factor)."""
from numbers import Number

from . import constraints
from . import transforms as T


class ConstraintRegistry:
    """Constraint type -> factory(constraint) -> Transform."""

    def __init__(self):
        self._registry = {}

    def register(self, constraint, factory=None):
        if factory is None:
            return lambda factory: self.register(constraint, factory)
        if isinstance(constraint, constraints.Constraint):
            constraint = type(constraint)
        if not isinstance(constraint, type) or not issubclass(constraint,
                                                               constraints.Constraint):
            raise TypeError(f"Expected constraint to be either a Constraint subclass or "
                            f"instance, but got {constraint}")
        self._registry[constraint] = factory
        return factory

    def __call__(self, constraint):
        try:
            factory = self._registry[type(constraint)]
        except KeyError:
            raise NotImplementedError(f"Cannot transform {type(constraint).__name__} "
                                      f"constraints") from None
        return factory(constraint)


biject_to = ConstraintRegistry()
transform_to = ConstraintRegistry()


def _interval(c):
    """Sigmoid onto (0, 1), then scaled and shifted onto (lower, upper)."""
    if isinstance(c.lower_bound, Number) and c.lower_bound == 0 and \
            isinstance(c.upper_bound, Number) and c.upper_bound == 1:
        return T.SigmoidTransform()
    return T.ComposeTransform([T.SigmoidTransform(),
                               T.AffineTransform(c.lower_bound, c.upper_bound - c.lower_bound)])


# constraint type -> (factory for both registries) or (biject_to's, transform_to's)
_BOTH = {
    constraints._Real: lambda c: T.identity_transform,
    # positive and nonnegative too (torch registers their exp first, then overrides it)
    constraints._GreaterThan: lambda c: T.ComposeTransform(
        [T.ExpTransform(), T.AffineTransform(c.lower_bound, 1)]),
    constraints._GreaterThanEq: lambda c: T.ComposeTransform(
        [T.ExpTransform(), T.AffineTransform(c.lower_bound, 1)]),
    constraints._LessThan: lambda c: T.ComposeTransform(
        [T.ExpTransform(), T.AffineTransform(c.upper_bound, -1)]),
    constraints._Interval: _interval,
    constraints._HalfOpenInterval: _interval,
}
for _type, _factory in _BOTH.items():
    biject_to.register(_type, _factory)
    transform_to.register(_type, _factory)
biject_to.register(constraints.independent, lambda c: T.IndependentTransform(
    biject_to(c.base_constraint), c.reinterpreted_batch_ndims))
transform_to.register(constraints.independent, lambda c: T.IndependentTransform(
    transform_to(c.base_constraint), c.reinterpreted_batch_ndims))
biject_to.register(constraints.simplex, lambda c: T.StickBreakingTransform())
transform_to.register(constraints.simplex, lambda c: T.SoftmaxTransform())
transform_to.register(constraints.lower_cholesky, lambda c: T.LowerCholeskyTransform())
transform_to.register(constraints.positive_definite, lambda c: T.PositiveDefiniteTransform())
transform_to.register(constraints.positive_semidefinite,
                      lambda c: T.PositiveDefiniteTransform())
biject_to.register(constraints.corr_cholesky, lambda c: T.CorrCholeskyTransform())
transform_to.register(constraints.corr_cholesky, lambda c: T.CorrCholeskyTransform())
for _registry in (biject_to, transform_to):
    _registry.register(constraints.cat, lambda c, r=_registry: T.CatTransform(
        [r(part) for part in c.cseq], c.dim, c.lengths))
    _registry.register(constraints.stack, lambda c, r=_registry: T.StackTransform(
        [r(part) for part in c.cseq], c.dim))
