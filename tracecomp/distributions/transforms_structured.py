"""The transforms that act on whole events (torch's): softmax and stick-breaking onto the
simplex, lower-Cholesky and correlation-Cholesky factors, positive-definite matrices, and
CatTransform/StackTransform, one transform per piece of a tensor; and a distribution's
CDF as a transform onto [0, 1]."""
from .. import creation
from ..dtype_info import finfo
from ..nn import functional as F
from ..tensor import Size
from . import constraints
from .transforms import Transform
from .transforms_pointwise import _clipped_sigmoid

__all__ = ["CatTransform", "CorrCholeskyTransform", "CumulativeDistributionTransform",
           "LowerCholeskyTransform", "PositiveDefiniteTransform", "SoftmaxTransform",
           "StackTransform", "StickBreakingTransform"]


class SoftmaxTransform(Transform):
    """Real vectors to the simplex by softmax; not a bijection (its inverse is log, one of
    the preimages), so it has no log |det J|."""
    domain, codomain = constraints.real_vector, constraints.simplex

    def __eq__(self, other):
        return isinstance(other, SoftmaxTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        probs = (x - x.amax(-1, keepdim=True)).exp()
        return probs / probs.sum(-1, keepdim=True)

    def _inverse(self, y):
        return y.log()


class StickBreakingTransform(Transform):
    """Real K-vectors to the (K+1)-simplex, bijectively: each coordinate, through a
    sigmoid, takes its share of the stick still left."""
    domain, codomain = constraints.real_vector, constraints.simplex
    bijective = True

    def __eq__(self, other):
        return isinstance(other, StickBreakingTransform)

    __hash__ = object.__hash__

    @staticmethod
    def _log_offset(k, like):
        """log(K - i) for i = 0..K-1: the shift that maps x = 0 to the uniform point."""
        return (k - creation.arange(k, dtype=like.dtype)).log()

    def _call(self, x):
        z = _clipped_sigmoid(x - self._log_offset(x.shape[-1], x))
        left = (1 - z).cumprod(-1)
        return F.pad(z, [0, 1], value=1) * F.pad(left, [1, 0], value=1)

    def _inverse(self, y):
        head = y[..., :-1]
        left = (1 - head.cumsum(-1)).clamp(min=finfo(y.dtype).tiny)
        return head.log() - left.log() + self._log_offset(head.shape[-1], y)

    def log_abs_det_jacobian(self, x, y):
        x = x - self._log_offset(x.shape[-1], x)
        return (-x + F.logsigmoid(x) + y[..., :-1].log()).sum(-1)

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return Size(tuple(shape[:-1]) + (shape[-1] + 1,))

    def inverse_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return Size(tuple(shape[:-1]) + (shape[-1] - 1,))


class LowerCholeskyTransform(Transform):
    """Square matrices to lower-triangular ones with a positive (exp) diagonal."""
    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other):
        return isinstance(other, LowerCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        return x.tril(-1) + x.diagonal(dim1=-2, dim2=-1).exp().diag_embed()

    def _inverse(self, y):
        return y.tril(-1) + y.diagonal(dim1=-2, dim2=-1).log().diag_embed()


class CumulativeDistributionTransform(Transform):
    """x to its CDF value under `distribution` (the probability integral transform)."""
    bijective, sign = True, +1
    codomain = constraints.unit_interval

    def __init__(self, distribution, cache_size=0):
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    domain = property(lambda self: self.distribution.support)

    def with_cache(self, cache_size=1):
        return self if self._cache_size == cache_size else \
            CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x):
        return self.distribution.cdf(x)

    def _inverse(self, y):
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x, y):
        return self.distribution.log_prob(x)


class _Pieces(Transform):
    """CatTransform and StackTransform: one transform per piece of x along dim."""

    def __init__(self, tseq, dim=0, lengths=None, cache_size=0):
        super().__init__(cache_size=cache_size)
        self.transforms = [t.with_cache(cache_size) for t in tseq]
        self.dim = dim
        self.lengths = [1] * len(self.transforms) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.transforms):
            raise ValueError(f"Expected {len(self.transforms)} lengths, got "
                             f"{len(self.lengths)}")

    bijective = property(lambda self: all(t.bijective for t in self.transforms))
    event_dim = property(lambda self: max(t.event_dim for t in self.transforms))
    domain = property(lambda self: self._constraint([t.domain for t in self.transforms]))
    codomain = property(lambda self: self._constraint([t.codomain for t in self.transforms]))

    def _call(self, x):
        return self._join([t(p) for t, p in zip(self.transforms, self._split(x))])

    def _inverse(self, y):
        return self._join([t.inv(p) for t, p in zip(self.transforms, self._split(y))])

    def log_abs_det_jacobian(self, x, y):
        return self._join([t.log_abs_det_jacobian(a, b) for t, a, b in
                           zip(self.transforms, self._split(x), self._split(y))])


class CatTransform(_Pieces):
    """transforms applied to consecutive pieces of x along dim, of `lengths` each."""

    def _split(self, x):
        return x.split(self.lengths, self.dim)

    def _constraint(self, cseq):
        return constraints.cat(cseq, self.dim, self.lengths)

    def _join(self, pieces):
        from ..composite import cat
        return cat(pieces, self.dim)


class StackTransform(_Pieces):
    """transforms applied to the slices of x along dim, one each."""

    def _split(self, x):
        return x.unbind(self.dim)

    def _constraint(self, cseq):
        return constraints.stack(cseq, self.dim)

    def _join(self, pieces):
        from ..composite import stack
        return stack(pieces, self.dim)


class PositiveDefiniteTransform(Transform):
    """Square matrices to positive-definite ones: L L^T of their LowerCholeskyTransform."""
    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def __eq__(self, other):
        return isinstance(other, PositiveDefiniteTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        x = LowerCholeskyTransform()(x)
        return x @ x.mT

    def _inverse(self, y):
        from .. import linalg
        return LowerCholeskyTransform().inv(linalg.cholesky(y))


class CorrCholeskyTransform(Transform):
    """Real vectors of D(D-1)/2 entries to Cholesky factors of D x D correlation matrices:
    tanh onto (-1, 1), then each row's entries take their share of what is left of its
    unit length (stick breaking, as in Stan)."""
    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def __eq__(self, other):
        return isinstance(other, CorrCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        eps = finfo(x.dtype).eps
        r = vec_to_tril_matrix(x.tanh().clamp(min=-1 + eps, max=1 - eps), diag=-1)
        left = (1 - r.pow(2)).sqrt().cumprod(-1)
        r = r + creation.eye(r.shape[-1], dtype=r.dtype)
        return r * F.pad(left[..., :-1], [1, 0], value=1)

    def _inverse(self, y):
        left = 1 - (y * y).cumsum(-1)
        left = F.pad(left[..., :-1], [1, 0], value=1)
        t = tril_matrix_to_vec(y, diag=-1) / tril_matrix_to_vec(left, diag=-1).sqrt()
        return (t.log1p() - (-t).log1p()) / 2     # atanh

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        import math
        left = tril_matrix_to_vec(1 - (y * y).cumsum(-1), diag=-2)
        stick_breaking = 0.5 * left.log().sum(-1)
        tanh = -2 * (x + F.softplus(-2 * x) - math.log(2.0)).sum(-1)
        return stick_breaking + tanh

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        n = shape[-1]
        d = round((0.25 + 2 * n) ** 0.5 + 0.5)
        if d * (d - 1) // 2 != n:
            raise ValueError("Input is not a flattened lower-diagonal number")
        return Size(tuple(shape[:-1]) + (d, d))

    def inverse_shape(self, shape):
        if len(shape) < 2:
            raise ValueError("Too few dimensions on input")
        if shape[-2] != shape[-1]:
            raise ValueError("Input is not square")
        d = shape[-1]
        return Size(tuple(shape[:-2]) + (d * (d - 1) // 2,))


def _tril_positions(n, diag):
    """The flat positions i * n + j of the entries with j < i + diag + 1, row by row."""
    import numpy as np
    rows, cols = np.nonzero(np.arange(n) < np.arange(n)[:, None] + (diag + 1))
    return rows * n + cols


def tril_matrix_to_vec(mat, diag=0):
    """The entries of mat on and below its diag-th diagonal, row by row (torch's)."""
    n = mat.shape[-1]
    if diag < -n or diag >= n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    index = creation.tensor(_tril_positions(n, diag))
    return mat.flatten(-2).index_select(-1, index)


def vec_to_tril_matrix(vec, diag=0):
    """The square matrix whose entries on and below its diag-th diagonal are vec's, row by
    row, and zero elsewhere (torch's)."""
    m = vec.shape[-1]
    n = (-(1 + 2 * diag) + ((1 + 2 * diag) ** 2 + 8 * m + 4 * abs(diag) * (diag + 1)) ** 0.5) / 2
    if abs(round(n) - n) > finfo(vec.dtype).eps:     # (torch checks one side only)
        raise ValueError(f"The size of last dimension is {m} which cannot be expressed as the "
                         f"lower triangular part of a square D x D matrix.")
    n = round(n)
    import numpy as np
    place = np.zeros((m, n * n), dtype=np.dtype(str(vec.dtype).split(".")[-1]))
    place[np.arange(m), _tril_positions(n, diag)] = 1      # vec's entry k -> its position
    return (vec @ creation.tensor(place)).reshape(tuple(vec.shape[:-1]) + (n, n))
