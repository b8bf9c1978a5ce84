"""Laying a model's conv weights out channels-last (torch.nn.utils.memory_format), as
performance guides do before running a channels-last model."""
from ...grad_mode import no_grad


def _convert(module, memory_format, kinds):
    if isinstance(module, kinds):
        with no_grad():
            module.weight.data = module.weight.detach().clone(memory_format=memory_format)
    for child in module.children():
        _convert(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """module, with the weight of every Conv2d and ConvTranspose2d in it laid out in
    memory_format (values unchanged)."""
    from ..modules.conv import Conv2d, ConvTranspose2d
    return _convert(module, memory_format, (Conv2d, ConvTranspose2d))


def convert_conv3d_weight_memory_format(module, memory_format):
    """module, with the weight of every Conv3d and ConvTranspose3d in it laid out in
    memory_format (values unchanged)."""
    from ..modules.conv import Conv3d, ConvTranspose3d
    return _convert(module, memory_format, (Conv3d, ConvTranspose3d))
