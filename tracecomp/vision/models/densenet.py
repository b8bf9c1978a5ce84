"""DenseNet-BC (Huang et al. 2016, https://arxiv.org/abs/1608.06993) as torchvision.models
builds it (DenseNet, densenet121/161/169/201), over tracecomp.nn.

The names are torchvision's (features.denseblockN.denselayerM.norm1 ..., transitionN,
norm5, classifier), so a torchvision state_dict loads; the older key spelling of
torchvision's published .pth files (denselayer1.norm.1.weight, which torchvision renames
while loading its weights) is renamed here on load_state_dict too.

memory_efficient=True is accepted and ignored: in torchvision it only recomputes the
bottleneck in backward (checkpointing), which changes memory, not results.
"""
import re
from collections import OrderedDict

from ... import cat, flatten, nn
from ...nn import functional as F
from ._api import builder, make_weights_enum, preset

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]

# the old spelling: (prefix)(norm|relu|conv).(1|2).(param) -> (prefix)(norm|relu|conv)(1|2).
_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
                      r"((?:[12])\.(?:weight|bias|running_mean|running_var))$")


class _DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to bn_size * growth_rate), BN-ReLU-3x3 conv (to growth_rate) on the
    concatenation of all earlier features; returns only the new growth_rate channels."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate,
                 memory_efficient=False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1,
                               stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient  # kept for torchvision code that reads it

    def bn_function(self, inputs):
        concated_features = cat(inputs, 1)
        return self.conv1(self.relu1(self.norm1(concated_features)))

    def forward(self, input):
        prev_features = list(input) if isinstance(input, (list, tuple)) else [input]
        bottleneck_output = self.bn_function(prev_features)
        new_features = self.conv2(self.relu2(self.norm2(bottleneck_output)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            old = _OLD_KEY.match(key)
            if old:
                state_dict[old.group(1) + old.group(2)] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)


class _DenseBlock(nn.ModuleDict):
    """num_layers _DenseLayers, each fed every earlier output; returns them all
    concatenated with the block's input (num_input_features + num_layers * growth_rate
    channels)."""
    _version = 2

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate,
                 memory_efficient=False):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate=growth_rate,
                                bn_size=bn_size, drop_rate=drop_rate,
                                memory_efficient=memory_efficient)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features):
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return cat(features, 1)


class _Transition(nn.Sequential):
    """BN, ReLU, 1x1 conv (halving the channels), 2x2 average pool."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1,
                              stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """torchvision's DenseNet-BC: stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), dense blocks
    of block_config layers with transitions between them, a final BN (norm5), ReLU, global
    average pool and a Linear. growth_rate is k in the paper; bn_size * k is the bottleneck
    width."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0, num_classes=1000, memory_efficient=False):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3,
                                bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers=num_layers, num_input_features=num_features,
                                bn_size=bn_size, growth_rate=growth_rate, drop_rate=drop_rate,
                                memory_efficient=memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_input_features=num_features,
                                    num_output_features=num_features // 2)
                self.features.add_module(f"transition{i + 1}", trans)
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

        # kaiming_normal_ with its defaults (fan_in, leaky_relu gain); the Linear keeps its
        # default weight init and gets a zero bias
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = flatten(out, 1)
        return self.classifier(out)


_URL = "https://download.pytorch.org/models/"

DenseNet121_Weights = make_weights_enum(
    "DenseNet121_Weights", ("IMAGENET1K_V1", _URL + "densenet121-a639ec97.pth", 7978856,
                            preset(224)),
    min_size=(29, 29))
DenseNet161_Weights = make_weights_enum(
    "DenseNet161_Weights", ("IMAGENET1K_V1", _URL + "densenet161-8d451a50.pth", 28681000,
                            preset(224)),
    min_size=(29, 29))
DenseNet169_Weights = make_weights_enum(
    "DenseNet169_Weights", ("IMAGENET1K_V1", _URL + "densenet169-b2777c0a.pth", 14149480,
                            preset(224)),
    min_size=(29, 29))
DenseNet201_Weights = make_weights_enum(
    "DenseNet201_Weights", ("IMAGENET1K_V1", _URL + "densenet201-c1103571.pth", 20013928,
                            preset(224)),
    min_size=(29, 29))


@builder(DenseNet121_Weights)
def densenet121(**kwargs):
    """DenseNet-121 (k=32), 8.0M parameters."""
    return DenseNet(32, (6, 12, 24, 16), 64, **kwargs)


@builder(DenseNet161_Weights)
def densenet161(**kwargs):
    """DenseNet-161 (k=48), 28.7M parameters."""
    return DenseNet(48, (6, 12, 36, 24), 96, **kwargs)


@builder(DenseNet169_Weights)
def densenet169(**kwargs):
    """DenseNet-169 (k=32), 14.1M parameters."""
    return DenseNet(32, (6, 12, 32, 32), 64, **kwargs)


@builder(DenseNet201_Weights)
def densenet201(**kwargs):
    """DenseNet-201 (k=32), 20.0M parameters."""
    return DenseNet(32, (6, 12, 48, 32), 64, **kwargs)
