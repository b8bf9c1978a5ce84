"""EfficientNet (B0-B7, Tan & Le 2019) and EfficientNetV2 (S/M/L, Tan & Le 2021) as
torchvision.models builds them (MBConv / FusedMBConv blocks of Conv2dNormActivation,
SqueezeExcitation and StochasticDepth from tracecomp.vision.ops), over tracecomp.nn.

The block configs, widths (_make_divisible), depths (ceil), stochastic-depth schedule,
BatchNorm settings, initialization and forward are torchvision's, so state_dict keys, shapes
and order match and a torchvision checkpoint loads. Stochastic depth is the identity in eval
mode; in training it drops rows with tracecomp's generator.
"""
import copy
import math
from functools import partial

from ... import flatten, nn
from ..ops.misc import Conv2dNormActivation, SqueezeExcitation
from ..ops.stochastic_depth import StochasticDepth
from ._api import builder, make_weights_enum, preset
from .mobilenetv2 import _make_divisible, init_fan_out

__all__ = ["EfficientNet", "MBConv", "FusedMBConv", "MBConvConfig", "FusedMBConvConfig",
           "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
           "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
           "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]


class _MBConvConfig:
    """One stage: expand_ratio, kernel, first stride, in/out channels, repeats, block."""

    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels,
                 num_layers, block):
        self.expand_ratio = expand_ratio
        self.kernel = kernel
        self.stride = stride
        self.input_channels = input_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.block = block

    @staticmethod
    def adjust_channels(channels, width_mult, min_value=None):
        return _make_divisible(channels * width_mult, 8, min_value)


class MBConvConfig(_MBConvConfig):
    """An MBConv stage of B0, scaled: widths by width_mult (to multiples of 8), repeats by
    depth_mult (rounded up)."""

    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels, num_layers,
                 width_mult=1.0, depth_mult=1.0, block=None):
        input_channels = self.adjust_channels(input_channels, width_mult)
        out_channels = self.adjust_channels(out_channels, width_mult)
        num_layers = self.adjust_depth(num_layers, depth_mult)
        super().__init__(expand_ratio, kernel, stride, input_channels, out_channels,
                         num_layers, MBConv if block is None else block)

    @staticmethod
    def adjust_depth(num_layers, depth_mult):
        return int(math.ceil(num_layers * depth_mult))


class FusedMBConvConfig(_MBConvConfig):
    """A FusedMBConv stage (EfficientNetV2's early stages), unscaled."""

    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels, num_layers,
                 block=None):
        super().__init__(expand_ratio, kernel, stride, input_channels, out_channels,
                         num_layers, FusedMBConv if block is None else block)


class MBConv(nn.Module):
    """1x1 expand (SiLU), kxk depthwise (SiLU), squeeze-excitation, 1x1 linear projection;
    a stochastic-depth shortcut where the shape is unchanged."""

    def __init__(self, cnf, stochastic_depth_prob, norm_layer, se_layer=SqueezeExcitation):
        super().__init__()
        if not (1 <= cnf.stride <= 2):
            raise ValueError("illegal stride value")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels

        layers = []
        activation_layer = nn.SiLU
        expanded_channels = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if expanded_channels != cnf.input_channels:  # expand_ratio 1: no expansion conv
            layers.append(Conv2dNormActivation(cnf.input_channels, expanded_channels,
                                               kernel_size=1, norm_layer=norm_layer,
                                               activation_layer=activation_layer))
        layers.append(Conv2dNormActivation(expanded_channels, expanded_channels,
                                           kernel_size=cnf.kernel, stride=cnf.stride,
                                           groups=expanded_channels, norm_layer=norm_layer,
                                           activation_layer=activation_layer))
        # squeeze to a quarter of the block's *input* width, not the expanded one
        squeeze_channels = max(1, cnf.input_channels // 4)
        layers.append(se_layer(expanded_channels, squeeze_channels,
                               activation=partial(nn.SiLU, inplace=True)))
        layers.append(Conv2dNormActivation(expanded_channels, cnf.out_channels, kernel_size=1,
                                           norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, input):
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += input
        return result


class FusedMBConv(nn.Module):
    """kxk expand (SiLU) then 1x1 projection, or one kxk conv when expand_ratio is 1; a
    stochastic-depth shortcut where the shape is unchanged (EfficientNetV2)."""

    def __init__(self, cnf, stochastic_depth_prob, norm_layer):
        super().__init__()
        if not (1 <= cnf.stride <= 2):
            raise ValueError("illegal stride value")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels

        layers = []
        activation_layer = nn.SiLU
        expanded_channels = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if expanded_channels != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, expanded_channels,
                                               kernel_size=cnf.kernel, stride=cnf.stride,
                                               norm_layer=norm_layer,
                                               activation_layer=activation_layer))
            layers.append(Conv2dNormActivation(expanded_channels, cnf.out_channels,
                                               kernel_size=1, norm_layer=norm_layer,
                                               activation_layer=None))
        else:
            layers.append(Conv2dNormActivation(cnf.input_channels, cnf.out_channels,
                                               kernel_size=cnf.kernel, stride=cnf.stride,
                                               norm_layer=norm_layer,
                                               activation_layer=activation_layer))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, input):
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += input
        return result


class EfficientNet(nn.Module):
    """torchvision's EfficientNet V1 and V2: stem (3x3/2 conv, BN, SiLU), one Sequential of
    blocks per config row, a 1x1 head conv (SiLU), global average pool, Dropout, Linear.
    The stochastic-depth probability grows linearly with the block index, from 0 to
    stochastic_depth_prob (exclusive)."""

    def __init__(self, inverted_residual_setting, dropout, stochastic_depth_prob=0.2,
                 num_classes=1000, norm_layer=None, last_channel=None):
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("The inverted_residual_setting should not be empty")
        if not (isinstance(inverted_residual_setting, (list, tuple))
                and all(isinstance(s, _MBConvConfig) for s in inverted_residual_setting)):
            raise TypeError("The inverted_residual_setting should be List[MBConvConfig]")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d

        firstconv_output_channels = inverted_residual_setting[0].input_channels
        layers = [Conv2dNormActivation(3, firstconv_output_channels, kernel_size=3, stride=2,
                                       norm_layer=norm_layer, activation_layer=nn.SiLU)]
        total_stage_blocks = sum(cnf.num_layers for cnf in inverted_residual_setting)
        stage_block_id = 0
        for cnf in inverted_residual_setting:
            stage = []
            for _ in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)  # later blocks of a stage: in = out, stride 1
                if stage:
                    block_cnf.input_channels = block_cnf.out_channels
                    block_cnf.stride = 1
                sd_prob = stochastic_depth_prob * float(stage_block_id) / total_stage_blocks
                stage.append(block_cnf.block(block_cnf, sd_prob, norm_layer))
                stage_block_id += 1
            layers.append(nn.Sequential(*stage))

        lastconv_input_channels = inverted_residual_setting[-1].out_channels
        lastconv_output_channels = (last_channel if last_channel is not None
                                    else 4 * lastconv_input_channels)
        layers.append(Conv2dNormActivation(lastconv_input_channels, lastconv_output_channels,
                                           kernel_size=1, norm_layer=norm_layer,
                                           activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(lastconv_output_channels, num_classes),
        )

        # Linears U(+-1/sqrt(out_features)): torchvision's port of the TF initializer
        init_fan_out(self, lambda w: nn.init.uniform_(w, -1.0 / math.sqrt(w.shape[0]),
                                                      1.0 / math.sqrt(w.shape[0])))

    def _forward_impl(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = flatten(x, 1)
        return self.classifier(x)

    def forward(self, x):
        return self._forward_impl(x)


def _efficientnet_conf(arch, **kwargs):
    """(stage configs, last_channel) of a named variant; B1-B7 scale B0's table."""
    if arch.startswith("efficientnet_b"):
        bneck_conf = partial(MBConvConfig, width_mult=kwargs.pop("width_mult"),
                             depth_mult=kwargs.pop("depth_mult"))
        return [
            bneck_conf(1, 3, 1, 32, 16, 1),
            bneck_conf(6, 3, 2, 16, 24, 2),
            bneck_conf(6, 5, 2, 24, 40, 2),
            bneck_conf(6, 3, 2, 40, 80, 3),
            bneck_conf(6, 5, 1, 80, 112, 3),
            bneck_conf(6, 5, 2, 112, 192, 4),
            bneck_conf(6, 3, 1, 192, 320, 1),
        ], None
    if arch.startswith("efficientnet_v2_s"):
        return [
            FusedMBConvConfig(1, 3, 1, 24, 24, 2),
            FusedMBConvConfig(4, 3, 2, 24, 48, 4),
            FusedMBConvConfig(4, 3, 2, 48, 64, 4),
            MBConvConfig(4, 3, 2, 64, 128, 6),
            MBConvConfig(6, 3, 1, 128, 160, 9),
            MBConvConfig(6, 3, 2, 160, 256, 15),
        ], 1280
    if arch.startswith("efficientnet_v2_m"):
        return [
            FusedMBConvConfig(1, 3, 1, 24, 24, 3),
            FusedMBConvConfig(4, 3, 2, 24, 48, 5),
            FusedMBConvConfig(4, 3, 2, 48, 80, 5),
            MBConvConfig(4, 3, 2, 80, 160, 7),
            MBConvConfig(6, 3, 1, 160, 176, 14),
            MBConvConfig(6, 3, 2, 176, 304, 18),
            MBConvConfig(6, 3, 1, 304, 512, 5),
        ], 1280
    if arch.startswith("efficientnet_v2_l"):
        return [
            FusedMBConvConfig(1, 3, 1, 32, 32, 4),
            FusedMBConvConfig(4, 3, 2, 32, 64, 7),
            FusedMBConvConfig(4, 3, 2, 64, 96, 7),
            MBConvConfig(4, 3, 2, 96, 192, 10),
            MBConvConfig(6, 3, 1, 192, 224, 19),
            MBConvConfig(6, 3, 2, 224, 384, 25),
            MBConvConfig(6, 3, 1, 384, 640, 7),
        ], 1280
    raise ValueError(f"Unsupported model type {arch}")


def _efficientnet(arch, width_mult, depth_mult, dropout, kwargs, **fixed):
    setting, last_channel = _efficientnet_conf(arch, width_mult=width_mult,
                                               depth_mult=depth_mult)
    for k, v in fixed.items():  # B5-B7 and V2 fix their BatchNorm; a caller may override
        kwargs.setdefault(k, v)
    return EfficientNet(setting, kwargs.pop("dropout", dropout), last_channel=last_channel,
                        **kwargs)


_URL = "https://download.pytorch.org/models/"


def _w(name, *rows, min_size=(1, 1)):
    """Rows of (member, file, num_params, transforms): each EfficientNet was evaluated at its
    own resolution, mostly with bicubic resizes (torchvision's presets)."""
    return make_weights_enum(name, *[(m, _URL + f, n, t) for m, f, n, t in rows],
                             min_size=min_size)


EfficientNet_B0_Weights = _w("EfficientNet_B0_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b0_rwightman-7f5810bc.pth",
                              5288548, preset(224, 256, "bicubic")))
EfficientNet_B1_Weights = _w("EfficientNet_B1_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b1_rwightman-bac287d4.pth",
                              7794184, preset(240, 256, "bicubic")),
                             ("IMAGENET1K_V2", "efficientnet_b1-c27df63c.pth", 7794184,
                              preset(240, 255, "bilinear")))
EfficientNet_B2_Weights = _w("EfficientNet_B2_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b2_rwightman-c35c1473.pth",
                              9109994, preset(288, 288, "bicubic")))
EfficientNet_B3_Weights = _w("EfficientNet_B3_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b3_rwightman-b3899882.pth",
                              12233232, preset(300, 320, "bicubic")))
EfficientNet_B4_Weights = _w("EfficientNet_B4_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b4_rwightman-23ab8bcd.pth",
                              19341616, preset(380, 384, "bicubic")))
EfficientNet_B5_Weights = _w("EfficientNet_B5_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b5_lukemelas-1a07897c.pth",
                              30389784, preset(456, 456, "bicubic")))
EfficientNet_B6_Weights = _w("EfficientNet_B6_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b6_lukemelas-24a108a5.pth",
                              43040704, preset(528, 528, "bicubic")))
EfficientNet_B7_Weights = _w("EfficientNet_B7_Weights",
                             ("IMAGENET1K_V1", "efficientnet_b7_lukemelas-c5b4e57e.pth",
                              66347960, preset(600, 600, "bicubic")))
EfficientNet_V2_S_Weights = _w("EfficientNet_V2_S_Weights",
                               ("IMAGENET1K_V1", "efficientnet_v2_s-dd5fe13b.pth", 21458488,
                                preset(384, 384, "bilinear")),
                               min_size=(33, 33))
EfficientNet_V2_M_Weights = _w("EfficientNet_V2_M_Weights",
                               ("IMAGENET1K_V1", "efficientnet_v2_m-dc08266a.pth", 54139356,
                                preset(480, 480, "bilinear")),
                               min_size=(33, 33))
EfficientNet_V2_L_Weights = _w("EfficientNet_V2_L_Weights",
                               ("IMAGENET1K_V1", "efficientnet_v2_l-59c71312.pth", 118515272,
                                preset(480, 480, "bicubic", mean=(0.5, 0.5, 0.5),
                                       std=(0.5, 0.5, 0.5))),
                               min_size=(33, 33))

# B5-B7 were ported from TF (lukemelas): TF's BatchNorm epsilon and momentum
_TF_BN = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
_V2_BN = partial(nn.BatchNorm2d, eps=1e-03)


@builder(EfficientNet_B0_Weights)
def efficientnet_b0(**kwargs):
    """EfficientNet-B0, 5.3M parameters (224x224)."""
    return _efficientnet("efficientnet_b0", 1.0, 1.0, 0.2, kwargs)


@builder(EfficientNet_B1_Weights)
def efficientnet_b1(**kwargs):
    """EfficientNet-B1, 7.8M parameters (240x240)."""
    return _efficientnet("efficientnet_b1", 1.0, 1.1, 0.2, kwargs)


@builder(EfficientNet_B2_Weights)
def efficientnet_b2(**kwargs):
    """EfficientNet-B2, 9.1M parameters (288x288)."""
    return _efficientnet("efficientnet_b2", 1.1, 1.2, 0.3, kwargs)


@builder(EfficientNet_B3_Weights)
def efficientnet_b3(**kwargs):
    """EfficientNet-B3, 12.2M parameters (300x300)."""
    return _efficientnet("efficientnet_b3", 1.2, 1.4, 0.3, kwargs)


@builder(EfficientNet_B4_Weights)
def efficientnet_b4(**kwargs):
    """EfficientNet-B4, 19.3M parameters (380x380)."""
    return _efficientnet("efficientnet_b4", 1.4, 1.8, 0.4, kwargs)


@builder(EfficientNet_B5_Weights)
def efficientnet_b5(**kwargs):
    """EfficientNet-B5, 30.4M parameters (456x456)."""
    return _efficientnet("efficientnet_b5", 1.6, 2.2, 0.4, kwargs, norm_layer=_TF_BN)


@builder(EfficientNet_B6_Weights)
def efficientnet_b6(**kwargs):
    """EfficientNet-B6, 43.0M parameters (528x528)."""
    return _efficientnet("efficientnet_b6", 1.8, 2.6, 0.5, kwargs, norm_layer=_TF_BN)


@builder(EfficientNet_B7_Weights)
def efficientnet_b7(**kwargs):
    """EfficientNet-B7, 66.3M parameters (600x600)."""
    return _efficientnet("efficientnet_b7", 2.0, 3.1, 0.5, kwargs, norm_layer=_TF_BN)


@builder(EfficientNet_V2_S_Weights)
def efficientnet_v2_s(**kwargs):
    """EfficientNetV2-S, 21.5M parameters (384x384)."""
    return _efficientnet("efficientnet_v2_s", None, None, 0.2, kwargs, norm_layer=_V2_BN)


@builder(EfficientNet_V2_M_Weights)
def efficientnet_v2_m(**kwargs):
    """EfficientNetV2-M, 54.1M parameters (480x480)."""
    return _efficientnet("efficientnet_v2_m", None, None, 0.3, kwargs, norm_layer=_V2_BN)


@builder(EfficientNet_V2_L_Weights)
def efficientnet_v2_l(**kwargs):
    """EfficientNetV2-L, 118.5M parameters (480x480)."""
    return _efficientnet("efficientnet_v2_l", None, None, 0.4, kwargs, norm_layer=_V2_BN)
