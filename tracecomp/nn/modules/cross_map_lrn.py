"""nn.CrossMapLRN2d: Lua Torch's cross-channel local response normalization, as torch keeps
it (a custom autograd Function with its own backward, over (N, C, H, W) input only).

    output = input * (k + alpha / size * scale) ** -beta,  scale[c] = sum of input[j]^2

over the channels j of c's window. torch computes the windows as running sums, and that
recurrence never drops channel 0 once it has entered (its drop test is `c > pre_pad`, not
`>=`); and its backward sums each channel's ratio over a window that is not the forward's
transposed one. So neither is the textbook LRN (F.local_response_norm is that): here both
windows are 0/1 matrices built by replaying torch's index arithmetic, and the backward is
torch's formula, so values and gradients are torch's, not those of the formula above.
"""
import numpy as np

from ...autograd.function import Function
from ...ops.linalg import matmul
from ...tensor import Tensor
from ..module import Module


def _forward_windows(channels, size):
    """(C, C) 0/1: row c marks the channels summed into scale[c] (torch's running sums)."""
    pre_pad = int((size - 1) / 2 + 1)
    window = np.zeros((channels, channels))
    window[0, :min(pre_pad, channels)] = 1
    for c in range(1, channels):
        window[c] = window[c - 1]
        if c < channels - pre_pad + 1:
            window[c, c + pre_pad - 1] += 1
        if c > pre_pad:
            window[c, c - pre_pad] -= 1
    return window


def _backward_windows(channels, size):
    """(C, C) 0/1: row c marks the channels whose ratios torch's backward sums for c, those
    c' with c - s <= c' <= c + size - 1 - s for s = int(size - (size - 1) / 2)."""
    shift = int(size - (size - 1) / 2)
    c, other = np.arange(channels)[:, None], np.arange(channels)[None, :]
    return ((other >= c - shift) & (other <= c + size - 1 - shift)).astype(np.float64)


def _across_channels(window, x):
    """sum over j of window[c, j] * x[:, j] for (N, C, H, W) x."""
    n, c, h, w = x.shape
    matrix = Tensor._make(window.astype(x._data.dtype))
    return matmul(matrix, x.reshape(n, c, h * w)).reshape(n, c, h, w)


class _CrossMapLRN2d(Function):
    """torch.nn.modules.normalization's _cross_map_lrn2d."""

    @staticmethod
    def forward(ctx, input, size, alpha=1e-4, beta=0.75, k=1):
        if input.dim() != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D "
                             f"instead.")
        ctx.size, ctx.alpha, ctx.beta = size, alpha, beta
        squares = _across_channels(_forward_windows(input.shape[1], size), input * input)
        scale = squares * (alpha / size) + k
        output = scale ** -beta * input
        ctx.save_for_backward(input, output, scale)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, output, scale = ctx.saved_tensors
        ratio = grad_output * output / scale
        summed = _across_channels(_backward_windows(input.shape[1], ctx.size), ratio)
        cache_ratio = 2 * ctx.alpha * ctx.beta / ctx.size
        grad_input = scale ** -ctx.beta * grad_output - cache_ratio * input * summed
        return grad_input, None, None, None, None


# torch's Function class is named CrossMapLRN2d: its grad_fn is CrossMapLRN2dBackward
_CrossMapLRN2d.__name__ = _CrossMapLRN2d.__qualname__ = "CrossMapLRN2d"


class CrossMapLRN2d(Module):

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return _CrossMapLRN2d.apply(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
