"""torch.nn.grad: the gradients of a convolution with respect to its input and to its
weight, for hand-written backward passes (a custom autograd.Function's conv backward).

Each is the convolution's own VJP, taken with autograd.grad through a convolution of a
zero tensor of the wanted size: the convolution is linear in the tensor whose gradient
is taken, so its values do not matter, and the result is differentiable in the other
operand and in grad_output (create_graph) as torch's convolution_backward is.
"""
from .. import autograd
from ..creation import zeros
from ..grad_mode import enable_grad
from . import functional as F


def _vjp(conv, input_size, weight_size, given, grad_output, stride, padding, dilation,
         groups):
    """The gradient to the operand of `conv` not in `given`: a zero tensor of its size."""
    size = input_size if weight_size is None else weight_size
    free = zeros(tuple(size), dtype=grad_output.dtype, requires_grad=True)
    x, w = (free, given) if weight_size is None else (given, free)
    with enable_grad():
        out = conv(x, w, None, stride, padding, dilation, groups)
        if tuple(out.shape) != tuple(grad_output.shape):
            raise RuntimeError(f"{conv.__name__}: grad_output of shape "
                               f"{list(grad_output.shape)} does not match the convolution's "
                               f"output shape {list(out.shape)} for an input of shape "
                               f"{list(x.shape)} and a weight of shape {list(w.shape)}")
        keep = given.requires_grad or grad_output.requires_grad
        return autograd.grad(out, free, grad_output, create_graph=keep)[0]


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _vjp(F.conv1d, input_size, None, weight, grad_output, stride, padding, dilation,
                groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _vjp(F.conv1d, None, weight_size, input, grad_output, stride, padding, dilation,
                groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _vjp(F.conv2d, input_size, None, weight, grad_output, stride, padding, dilation,
                groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _vjp(F.conv2d, None, weight_size, input, grad_output, stride, padding, dilation,
                groups)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _vjp(F.conv3d, input_size, None, weight, grad_output, stride, padding, dilation,
                groups)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _vjp(F.conv3d, None, weight_size, input, grad_output, stride, padding, dilation,
                groups)
