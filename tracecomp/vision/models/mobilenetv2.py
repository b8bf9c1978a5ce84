"""MobileNetV2 as torchvision.models builds it (InvertedResidual blocks made of
Conv2dNormActivation, torchvision.ops' conv + BN + activation Sequential, from
tracecomp.vision.ops and re-exported here as before), over tracecomp.nn.
"""
from ... import flatten, nn
from ...nn import functional as F
from ..ops.misc import Conv2dNormActivation
from ._api import builder, make_weights_enum, preset

__all__ = ["MobileNetV2", "InvertedResidual", "Conv2dNormActivation", "mobilenet_v2"]


def _make_divisible(v, divisor, min_value=None):
    """Round a channel count to a multiple of `divisor` (8), never more than 10% down: the
    TF MobileNet rule, which torchvision's width_mult widths come from."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear projection; a shortcut where
    the shape is unchanged (stride 1, inp == oup)."""

    def __init__(self, inp, oup, stride, expand_ratio, norm_layer=None):
        super().__init__()
        self.stride = stride
        if stride not in [1, 2]:
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = self.stride == 1 and inp == oup

        layers = []
        if expand_ratio != 1:  # the first block (t=1) has no expansion conv
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1,
                                               norm_layer=norm_layer,
                                               activation_layer=nn.ReLU6))
        layers.extend([
            # depthwise
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                                 norm_layer=norm_layer, activation_layer=nn.ReLU6),
            # pointwise-linear: no activation, the "linear bottleneck"
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            norm_layer(oup),
        ])
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup
        self._is_cn = stride > 1

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


def init_fan_out(model, linear_weight):
    """torchvision's init of MobileNetV2 and EfficientNet: convolutions kaiming-normal in
    fan_out with the default leaky_relu gain (torchvision passes no nonlinearity, unlike in
    ResNet), norms to weight 1 and bias 0, each Linear's weight by `linear_weight` and its
    bias 0; in module order, so the draws are torchvision's order."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            linear_weight(m.weight)
            nn.init.zeros_(m.bias)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (Sandler et al. 2018): width_mult scales every width
    (rounded by _make_divisible to round_nearest); inverted_residual_setting rows are
    (expansion t, channels c, repeats n, first stride s)."""

    def __init__(self, num_classes=1000, width_mult=1.0, inverted_residual_setting=None,
                 round_nearest=8, block=None, norm_layer=None, dropout=0.2):
        super().__init__()
        if block is None:
            block = InvertedResidual
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        input_channel = 32
        last_channel = 1280
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                # t, c, n, s
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
        # as torchvision, only the first row is checked
        if len(inverted_residual_setting) == 0 or len(inverted_residual_setting[0]) != 4:
            raise ValueError("inverted_residual_setting should be non-empty or a 4-element "
                             f"list, got {inverted_residual_setting}")

        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        # the last conv only grows with width_mult > 1, it never shrinks
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(3, input_channel, stride=2, norm_layer=norm_layer,
                                         activation_layer=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(block(input_channel, output_channel, stride, expand_ratio=t,
                                      norm_layer=norm_layer))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1,
                                             norm_layer=norm_layer, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)

        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(self.last_channel, num_classes),
        )

        init_fan_out(self, lambda w: nn.init.normal_(w, 0, 0.01))

    def _forward_impl(self, x):
        x = self.features(x)
        # the functional pool, not x.squeeze(): a batch of 1 must keep its batch dim
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = flatten(x, 1)
        return self.classifier(x)

    def forward(self, x):
        return self._forward_impl(x)


MobileNet_V2_Weights = make_weights_enum(
    "MobileNet_V2_Weights",
    ("IMAGENET1K_V1", "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth", 3504872,
     preset(224)),
    ("IMAGENET1K_V2", "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth", 3504872,
     preset(224, 232)))


@builder(MobileNet_V2_Weights)
def mobilenet_v2(**kwargs):
    """MobileNetV2, 3.5M parameters."""
    return MobileNetV2(**kwargs)
