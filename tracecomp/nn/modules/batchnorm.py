"""BatchNorm1d / BatchNorm2d: the learnable affine (weight, bias), the running statistics
(running_mean, running_var, num_batches_tracked) and the momentum rule, as torch keeps them.
The normalisation and the running-stat update are F.batch_norm."""
import numpy as np

from ... import dtypes
from ...composite import cat
from ...creation import full, ones, tensor, zeros
from ...grad_mode import no_grad
from .. import functional as F
from ..functional_norm import _affine as affine
from ..functional_norm import _update as update_running
from ..module import Module
from ..parameter import Parameter
from . import torch_paths


class _BatchNorm(Module):
    _version = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=dtypes.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        # as torch's _NormBase: a subclass's reset_parameters, and the values a buffer
        # registration hook gave back, are reset here
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            self.weight.data.fill_(1)
            if self.bias is not None:
                self.bias.data.zero_()

    def forward(self, input):
        self._check_input_dim(input)
        factor = self._momentum_factor()
        # Eval mode normalises with the running stats, when there are any.
        use_batch_stats = self.training or (self.running_mean is None and
                                            self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def _momentum_factor(self):
        """The running statistics' update factor for this call, counting the batch when
        training tracks them (momentum=None: a cumulative moving average over all batches
        seen)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        return factor

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # Checkpoints older than version 2 have no num_batches_tracked: start it at 0.
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and \
                key not in state_dict:
            state_dict[key] = (self.num_batches_tracked if self.num_batches_tracked is not None
                               else tensor(0, dtype=dtypes.int64))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) input."""

    def _check_input_dim(self, input):
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) input."""

    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W) input (a video's frames, a volume's slices)."""

    def _check_input_dim(self, input):
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose statistics are taken over the whole batch across the ranks of a
    process group (tracecomp.distributed over MPI): each rank's share adds into one mean
    and variance, so N ranks on N slices of a batch normalize as one process on all of it.

    Without an initialized group of more than one rank, or outside training, it is
    BatchNorm, as torch's. torch's CPU build refuses to synchronize (its kernels are CUDA's);
    tracecomp synchronizes over MPI with two differentiable all-reduces (the sums, then the
    squared deviations from the global mean: the variance as exact as one process's), so
    the gradient reaches every rank's input through the shared statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats,
                         device=device, dtype=dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input):
        if not (self.training and _synchronizing(self.process_group)):
            return super().forward(input)
        self._check_input_dim(input)
        factor = self._momentum_factor()
        out, mean, var, count = _synced_normalize(input, self.eps, self.process_group)
        if self.track_running_stats:        # batch_norm's update and affine, as F's
            with no_grad():
                update_running(self.running_mean, mean, factor)
                update_running(self.running_var, var * (count / (count - 1)), factor)
        return affine(out, self.weight, self.bias, (1, input.shape[1]) + (1,) * (input.dim() - 2))

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """module with every BatchNorm*d in it (itself included) replaced by a SyncBatchNorm
        holding the same parameters and buffers, as torch converts a model for DDP."""
        converted = module
        if isinstance(module, _BatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            if module.affine:
                converted.weight, converted.bias = module.weight, module.bias
            converted.running_mean = module.running_mean
            converted.running_var = module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
            converted.training = module.training
            if hasattr(module, "qconfig"):
                converted.qconfig = module.qconfig
        for name, child in module.named_children():
            converted.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return converted


def _synchronizing(group):
    """Whether SyncBatchNorm shares statistics: a group of more than one rank is up."""
    from ... import distributed as dist
    return dist.is_initialized() and dist.get_world_size(group) > 1


def _synced_normalize(input, eps, group):
    """(normalized input, global mean, global biased variance, global count per channel as
    a 1-element tensor)."""
    from ...distributed.nn import all_reduce
    channels = input.shape[1]
    dims = (0,) + tuple(range(2, input.dim()))
    shape = (1, channels) + (1,) * (input.dim() - 2)
    local = input.numel() // channels
    sums = all_reduce(cat([input.sum(dims), full((1,), float(local), dtype=input.dtype)]),
                      group=group)
    count = sums[channels:]         # a tensor: ranks' batches may differ in size
    if isinstance(count._data, np.ndarray) and count.item() <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {input.shape!r}")
    mean = sums[:channels] / count
    centered = input - mean.reshape(shape)
    var = all_reduce((centered * centered).sum(dims), group=group) / count
    return centered * (var.reshape(shape) + eps).rsqrt(), mean, var, count


# Classes torch defines in this file and tracecomp elsewhere (torch_paths.py).
__getattr__ = torch_paths.getattr_for(__name__)
