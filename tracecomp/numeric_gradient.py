"""torch.gradient: the derivative of sampled values estimated by finite differences along
each requested dim (numpy.gradient's method, as torch's): second-order central differences
inside, first- or second-order one-sided ones at the two ends (edge_order). The samples are
evenly spaced (a scalar spacing per dim) or at given coordinates (a 1-D tensor per dim),
where the weights of the three neighbours follow from the uneven steps. Written with tensor
ops, so it has gradients and traces; the result is a tuple, one tensor per dim.
"""
import numbers

from . import composite as C
from .ops import elementwise as ew
from .ops.public import public
from .tensor import Tensor, _wrap_dim


def _dims(input, dim):
    if dim is None:
        return list(range(input.ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    wrapped = [_wrap_dim(d, input.ndim, "gradient") for d in dims]
    for d in wrapped:
        if wrapped.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return wrapped


def _spacings(input, spacing, dims, dim_given):
    """One spacing per dim: a number (even steps) or a 1-D tensor of coordinates."""
    if isinstance(spacing, (numbers.Number, Tensor)) and not (
            isinstance(spacing, Tensor) and spacing.ndim > 0):
        return [float(spacing)] * len(dims)
    spacing = list(spacing)
    if len(spacing) != len(dims):
        what = (f"'self.dim() = {input.ndim}', since dim argument was not given" if not
                dim_given else f"'len(dim) = {len(dims)}'")
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar, or "
                           f"a list of length equal to {what}, but got a list of length "
                           f"{len(spacing)}")
    return [s if isinstance(s, Tensor) and s.ndim > 0 else float(s) for s in spacing]


def _along(x, dim, start, stop):
    return C.narrow(x, dim, start, stop - start)


def _even(f, dim, h, edge_order, n):
    """Evenly spaced samples h apart."""
    inner = (_along(f, dim, 2, n) - _along(f, dim, 0, n - 2)) / (2 * h)
    if edge_order == 1:
        first = (_along(f, dim, 1, 2) - _along(f, dim, 0, 1)) / h
        last = (_along(f, dim, n - 1, n) - _along(f, dim, n - 2, n - 1)) / h
    else:
        first = (_along(f, dim, 0, 1) * -1.5 + _along(f, dim, 1, 2) * 2
                 - _along(f, dim, 2, 3) * 0.5) / h
        last = (_along(f, dim, n - 3, n - 2) * 0.5 - _along(f, dim, n - 2, n - 1) * 2
                + _along(f, dim, n - 1, n) * 1.5) / h
    return C.cat([first, inner, last], dim)


def _shaped(steps, dim, ndim):
    """A 1-D tensor laid along dim of an ndim tensor (broadcasting over the others)."""
    shape = [1] * ndim
    shape[dim] = -1
    return steps.reshape(shape)


def _uneven(f, dim, x, edge_order, n):
    """Samples at coordinates x (1-D): numpy.gradient's weights of the neighbours."""
    steps = x[1:] - x[:-1]
    dx1, dx2 = (_shaped(s, dim, f.ndim) for s in (steps[:-1], steps[1:]))
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    inner = (a * _along(f, dim, 0, n - 2) + b * _along(f, dim, 1, n - 1)
             + c * _along(f, dim, 2, n))
    if edge_order == 1:
        first = (_along(f, dim, 1, 2) - _along(f, dim, 0, 1)) / steps[0]
        last = (_along(f, dim, n - 1, n) - _along(f, dim, n - 2, n - 1)) / steps[-1]
    else:
        d1, d2 = steps[0], steps[1]
        first = (_along(f, dim, 0, 1) * (-(2 * d1 + d2) / (d1 * (d1 + d2)))
                 + _along(f, dim, 1, 2) * ((d1 + d2) / (d1 * d2))
                 + _along(f, dim, 2, 3) * (-d1 / (d2 * (d1 + d2))))
        d1, d2 = steps[-2], steps[-1]
        last = (_along(f, dim, n - 3, n - 2) * (d2 / (d1 * (d1 + d2)))
                + _along(f, dim, n - 2, n - 1) * (-(d2 + d1) / (d1 * d2))
                + _along(f, dim, n - 1, n) * ((2 * d2 + d1) / (d2 * (d1 + d2))))
    return C.cat([first, inner, last], dim)


@public("torch")
def gradient(input, *, spacing=1, dim=None, edge_order=1):  # noqa: A002
    """(d input / d x_dim for each dim in `dim`, all dims by default)."""
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = _dims(input, dim)
    spacings = _spacings(input, spacing, dims, dim is not None)
    for d in dims:
        if input.shape[d] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least "
                               "edge_order+1")
    f = input if input.is_floating_point() or input.is_complex() else ew.cast(
        input, _default_float())
    results = []
    for d, h in zip(dims, spacings):
        n = f.shape[d]
        results.append(_uneven(f, d, h, edge_order, n) if isinstance(h, Tensor)
                       else _even(f, d, h, edge_order, n))
    return tuple(results)


def _default_float():
    from .dtypes import get_default_dtype
    return get_default_dtype()
