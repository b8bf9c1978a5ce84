"""torch.nn.functional's `*_with_indices` pooling functions: max_pool{1,2,3}d_with_indices
and adaptive_max_pool{1,2,3}d_with_indices. torch.nn.functional.max_pool2d is a boolean
dispatch between these and the value-only forms, so these always return (values, indices)
whatever return_indices says (it is accepted, and ignored, as in torch)."""
from .functional_adaptive3d import adaptive_max_pool3d
from .functional_conv import adaptive_max_pool2d, max_pool2d
from .functional_conv3d import max_pool3d
from .functional_pool1d import adaptive_max_pool1d, max_pool1d


def _always_indices(pool, name):
    def with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     return_indices=False):
        return pool(input, kernel_size, stride, padding, dilation, ceil_mode, True)
    with_indices.__name__ = with_indices.__qualname__ = name
    with_indices.__doc__ = f"torch.nn.functional.{name}: {pool.__name__}'s (values, indices)."
    return with_indices


def _adaptive_always_indices(pool, name):
    def with_indices(input, output_size, return_indices=False):
        return pool(input, output_size, True)
    with_indices.__name__ = with_indices.__qualname__ = name
    with_indices.__doc__ = f"torch.nn.functional.{name}: {pool.__name__}'s (values, indices)."
    return with_indices


max_pool1d_with_indices = _always_indices(max_pool1d, "max_pool1d_with_indices")
max_pool2d_with_indices = _always_indices(max_pool2d, "max_pool2d_with_indices")
max_pool3d_with_indices = _always_indices(max_pool3d, "max_pool3d_with_indices")
adaptive_max_pool1d_with_indices = _adaptive_always_indices(
    adaptive_max_pool1d, "adaptive_max_pool1d_with_indices")
adaptive_max_pool2d_with_indices = _adaptive_always_indices(
    adaptive_max_pool2d, "adaptive_max_pool2d_with_indices")
adaptive_max_pool3d_with_indices = _adaptive_always_indices(
    adaptive_max_pool3d, "adaptive_max_pool3d_with_indices")
