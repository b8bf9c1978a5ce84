"""The building blocks of torchvision.ops.misc that the classification models use:
Conv2dNormActivation (MobileNet, EfficientNet), SqueezeExcitation (EfficientNet), MLP
(the Vision Transformer's MLP block) and Permute, over tracecomp.nn; FrozenBatchNorm2d
(detection backbones, DETR) and the name `interpolate`, which older detection code calls
through torchvision.ops.misc.

Conv2dNormActivation and MLP are Sequentials, not Modules with named children, because
torchvision's state_dict keys index into them (features.1.0.block.0.0.weight, mlp.0.weight).
"""
from ... import nn, ones, permute, zeros

__all__ = ["Conv2dNormActivation", "SqueezeExcitation", "MLP", "Permute", "FrozenBatchNorm2d",
           "interpolate"]

# torchvision keeps this alias for code written when F.interpolate could not take empty batches
interpolate = nn.functional.interpolate


class Conv2dNormActivation(nn.Sequential):
    """Conv2d, then norm_layer (if not None), then activation_layer (if not None), as
    torchvision.ops.Conv2dNormActivation. padding=None keeps the size at stride 1
    ((k - 1) // 2 * dilation); the conv has a bias only when there is no norm layer."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None,
                 groups=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, dilation=1,
                 inplace=True, bias=None):
        if padding is None:
            if isinstance(kernel_size, int) and isinstance(dilation, int):
                padding = (kernel_size - 1) // 2 * dilation
            else:
                n = len(kernel_size) if not isinstance(kernel_size, int) else len(dilation)
                ks = (kernel_size,) * n if isinstance(kernel_size, int) else kernel_size
                dl = (dilation,) * n if isinstance(dilation, int) else dilation
                padding = tuple((ks[i] - 1) // 2 * dl[i] for i in range(n))
        if bias is None:
            bias = norm_layer is None
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            dilation=dilation, groups=groups, bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            params = {} if inplace is None else {"inplace": inplace}
            layers.append(activation_layer(**params))
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2017, https://arxiv.org/abs/1709.01507): scale
    each channel by sigmoid(fc2(activation(fc1(mean over H, W)))). fc1 / fc2 are 1x1
    convolutions, as in torchvision (their keys are fc1.weight, fc1.bias, ...)."""

    def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU,
                 scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def _scale(self, input):
        scale = self.avgpool(input)
        scale = self.fc1(scale)
        scale = self.activation(scale)
        scale = self.fc2(scale)
        return self.scale_activation(scale)

    def forward(self, input):
        return self._scale(input) * input


class MLP(nn.Sequential):
    """Linear (+ norm_layer) + activation + Dropout for each hidden width but the last, then
    Linear + Dropout, as torchvision.ops.MLP. inplace=None leaves the activation's and
    Dropout's own defaults."""

    def __init__(self, in_channels, hidden_channels, norm_layer=None,
                 activation_layer=nn.ReLU, inplace=None, bias=True, dropout=0.0):
        params = {} if inplace is None else {"inplace": inplace}
        layers = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            layers.append(activation_layer(**params))
            layers.append(nn.Dropout(dropout, **params))
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(nn.Dropout(dropout, **params))
        super().__init__(*layers)


class Permute(nn.Module):
    """x.permute(*dims) as a module (torchvision uses it inside Sequentials)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return permute(x, self.dims)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with its statistics and affine parameters fixed as buffers (nothing to
    train, no batch statistics), as torchvision.ops.FrozenBatchNorm2d: y = x * scale + shift
    with scale = weight / sqrt(running_var + eps). A BatchNorm2d's state_dict loads into it
    (its num_batches_tracked is dropped)."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", ones(num_features))
        self.register_buffer("bias", zeros(num_features))
        self.register_buffer("running_mean", zeros(num_features))
        self.register_buffer("running_var", ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x):
        scale = self.weight.reshape(1, -1, 1, 1) * (self.running_var.reshape(1, -1, 1, 1)
                                                    + self.eps).rsqrt()
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + shift

    def __repr__(self):
        return f"{type(self).__name__}({self.weight.shape[0]}, eps={self.eps})"
