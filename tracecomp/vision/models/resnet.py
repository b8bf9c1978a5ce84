"""ResNet, ResNeXt and Wide ResNet as torchvision.models builds them (BasicBlock, Bottleneck,
ResNet, resnet18 ... wide_resnet101_2), over tracecomp.nn.

The attribute names, the order modules are created in and the layer arguments follow
torchvision's exactly, because a state_dict's keys and order come from them: a torchvision
checkpoint then loads with `model.load_state_dict(tracecomp.load(path))`. The
initialization is torchvision's too (kaiming_normal_ fan_out for convolutions, BatchNorm
at weight 1 / bias 0, optional zero_init_residual).
"""
from ... import flatten, nn
from ._api import builder, make_weights_enum, preset

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
           "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]

_URL = "https://download.pytorch.org/models/"


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding (no bias: a BatchNorm follows it)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution (no bias: a BatchNorm follows it)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (resnet18/34)."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        # Both conv1 and downsample halve the size when stride != 1
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity  # in place as in torchvision: bn2's output is not needed again
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) and a shortcut (resnet50 and deeper).

    The stride sits on the 3x3 convolution (conv2), not on the first 1x1 as in the paper:
    torchvision's "ResNet V1.5", which its checkpoints were trained with."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups  # ResNeXt / Wide ResNet widths
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet: stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages of
    `block`, global average pool and a Linear to `num_classes`."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            # each entry says whether a stage's 2x2 stride becomes a dilated convolution
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element "
                             f"tuple, got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2,
                                       dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2,
                                       dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2,
                                       dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        # Linear keeps nn's default init, as in torchvision
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

        # Zero the last BN of each residual branch so every block starts as the identity
        # (Goyal et al. 2017, https://arxiv.org/abs/1706.02677: +0.2-0.3% top-1)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            # the shortcut needs a projection where the shape changes: 1x1 conv + BN
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups,
                        self.base_width, previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width, dilation=self.dilation,
                                norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def _forward_impl(self, x):
        # a separate name kept from torchvision, where subclasses call it
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = flatten(x, 1)
        return self.fc(x)

    def forward(self, x):
        return self._forward_impl(x)


# torchvision's inference presets: the original (V1) weights were evaluated resized to 256,
# the new-recipe ones (V2, and ResNeXt101_64X4D's only entry) to 232; both crop 224
_V1, _V2 = preset(224), preset(224, 232)


def _w(name, *rows):
    return make_weights_enum(name, *[(m, _URL + f, n, t) for m, f, n, t in rows])


ResNet18_Weights = _w("ResNet18_Weights",
                      ("IMAGENET1K_V1", "resnet18-f37072fd.pth", 11689512, _V1))
ResNet34_Weights = _w("ResNet34_Weights",
                      ("IMAGENET1K_V1", "resnet34-b627a593.pth", 21797672, _V1))
ResNet50_Weights = _w("ResNet50_Weights",
                      ("IMAGENET1K_V1", "resnet50-0676ba61.pth", 25557032, _V1),
                      ("IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 25557032, _V2))
ResNet101_Weights = _w("ResNet101_Weights",
                       ("IMAGENET1K_V1", "resnet101-63fe2227.pth", 44549160, _V1),
                       ("IMAGENET1K_V2", "resnet101-cd907fc2.pth", 44549160, _V2))
ResNet152_Weights = _w("ResNet152_Weights",
                       ("IMAGENET1K_V1", "resnet152-394f9c45.pth", 60192808, _V1),
                       ("IMAGENET1K_V2", "resnet152-f82ba261.pth", 60192808, _V2))
ResNeXt50_32X4D_Weights = _w("ResNeXt50_32X4D_Weights",
                             ("IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth", 25028904, _V1),
                             ("IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth", 25028904, _V2))
ResNeXt101_32X8D_Weights = _w("ResNeXt101_32X8D_Weights",
                              ("IMAGENET1K_V1", "resnext101_32x8d-8ba56ff5.pth", 88791336, _V1),
                              ("IMAGENET1K_V2", "resnext101_32x8d-110c445d.pth", 88791336, _V2))
ResNeXt101_64X4D_Weights = _w("ResNeXt101_64X4D_Weights",
                              ("IMAGENET1K_V1", "resnext101_64x4d-173b62eb.pth", 83455272, _V2))
Wide_ResNet50_2_Weights = _w("Wide_ResNet50_2_Weights",
                             ("IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth", 68883240, _V1),
                             ("IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth", 68883240, _V2))
Wide_ResNet101_2_Weights = _w("Wide_ResNet101_2_Weights",
                              ("IMAGENET1K_V1", "wide_resnet101_2-32ee1156.pth", 126886696, _V1),
                              ("IMAGENET1K_V2", "wide_resnet101_2-d733dc28.pth", 126886696, _V2))


@builder(ResNet18_Weights)
def resnet18(**kwargs):
    """ResNet-18 (He et al. 2015), 11.7M parameters."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


@builder(ResNet34_Weights)
def resnet34(**kwargs):
    """ResNet-34, 21.8M parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


@builder(ResNet50_Weights)
def resnet50(**kwargs):
    """ResNet-50 (V1.5: stride on the 3x3), 25.6M parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


@builder(ResNet101_Weights)
def resnet101(**kwargs):
    """ResNet-101, 44.5M parameters."""
    return ResNet(Bottleneck, [3, 4, 23, 3], **kwargs)


@builder(ResNet152_Weights)
def resnet152(**kwargs):
    """ResNet-152, 60.2M parameters."""
    return ResNet(Bottleneck, [3, 8, 36, 3], **kwargs)


def _set(kwargs, **fixed):
    # torchvision's _ovewrite_named_param: the variant fixes these, a different value is an
    # error rather than silently another architecture
    for k, v in fixed.items():
        if k in kwargs and kwargs[k] != v:
            raise ValueError(f"The parameter '{k}' expected value {v} but got {kwargs[k]} "
                             "instead.")
        kwargs[k] = v
    return kwargs


@builder(ResNeXt50_32X4D_Weights)
def resnext50_32x4d(**kwargs):
    """ResNeXt-50 32x4d (Xie et al. 2016): grouped 3x3 convolutions."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **_set(kwargs, groups=32, width_per_group=4))


@builder(ResNeXt101_32X8D_Weights)
def resnext101_32x8d(**kwargs):
    """ResNeXt-101 32x8d."""
    return ResNet(Bottleneck, [3, 4, 23, 3], **_set(kwargs, groups=32, width_per_group=8))


@builder(ResNeXt101_64X4D_Weights)
def resnext101_64x4d(**kwargs):
    """ResNeXt-101 64x4d."""
    return ResNet(Bottleneck, [3, 4, 23, 3], **_set(kwargs, groups=64, width_per_group=4))


@builder(Wide_ResNet50_2_Weights)
def wide_resnet50_2(**kwargs):
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): bottlenecks twice as wide."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **_set(kwargs, width_per_group=128))


@builder(Wide_ResNet101_2_Weights)
def wide_resnet101_2(**kwargs):
    """Wide ResNet-101-2."""
    return ResNet(Bottleneck, [3, 4, 23, 3], **_set(kwargs, width_per_group=128))
