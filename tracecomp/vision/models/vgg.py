"""VGG 11/13/16/19, with and without BatchNorm, as torchvision.models builds them, over
tracecomp.nn: `features` (the convolutions, a Sequential whose indices are the state_dict
keys), `avgpool` (adaptive to 7x7) and `classifier`, with torchvision's initialization.

The 7x7 adaptive pool is what lets small inputs through: at 32x32 the features end at 1x1
and the pool repeats that value into 7x7 (every window covers the one pixel), so the
classifier's 25088 inputs are 49 copies of each channel, exactly as in torchvision.
"""
from ... import flatten, nn
from ._api import builder, make_weights_enum, preset

__all__ = ["VGG", "make_layers", "cfgs", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16",
           "vgg16_bn", "vgg19", "vgg19_bn"]

_URL = "https://download.pytorch.org/models/"


class VGG(nn.Module):
    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        # init_weights=False is how torchvision skips this work before loading a checkpoint
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = flatten(x, 1)
        return self.classifier(x)


def make_layers(cfg, batch_norm=False):
    """The convolution stack from a config: an int is a 3x3 conv (+BN) + ReLU with that many
    channels, "M" a 2x2 max pool. Each entry is its own Sequential item, so the conv
    indices (features.0, features.3, ...) match torchvision's keys."""
    layers = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


# torchvision's (and the paper's) configuration letters: A = 11, B = 13, D = 16, E = 19 layers
cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
          "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
          512, 512, 512, "M"],
}


def _vgg(cfg, batch_norm, **kwargs):
    return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)


def _w(name, *rows, default=None):
    """Rows of (member, file, num_params[, transforms, meta]); all are evaluated resized to
    256 and cropped to 224 unless the row says otherwise."""
    return make_weights_enum(name, *[(m, _URL + f, n, *(rest or [preset(224)]))
                                     for m, f, n, *rest in rows],
                             default=default, min_size=(32, 32))


# the Caffe-style features of amdegroot's SSD port: 0..255 pixels minus the mean, so std is
# 1/255 (and no classifier head was trained: no categories)
_FEATURES = preset(224, mean=(0.48235, 0.45882, 0.40784), std=(1.0 / 255.0,) * 3)


VGG11_Weights = _w("VGG11_Weights", ("IMAGENET1K_V1", "vgg11-8a719046.pth", 132863336))
VGG11_BN_Weights = _w("VGG11_BN_Weights", ("IMAGENET1K_V1", "vgg11_bn-6002323d.pth", 132868840))
VGG13_Weights = _w("VGG13_Weights", ("IMAGENET1K_V1", "vgg13-19584684.pth", 133047848))
VGG13_BN_Weights = _w("VGG13_BN_Weights", ("IMAGENET1K_V1", "vgg13_bn-abd245e5.pth", 133053736))
VGG16_Weights = _w("VGG16_Weights", ("IMAGENET1K_V1", "vgg16-397923af.pth", 138357544),
                   ("IMAGENET1K_FEATURES", "vgg16_features-amdegroot-88682ab5.pth", 138357544,
                    _FEATURES, {"categories": None}),
                   default="IMAGENET1K_V1")
VGG16_BN_Weights = _w("VGG16_BN_Weights", ("IMAGENET1K_V1", "vgg16_bn-6c64b313.pth", 138365992))
VGG19_Weights = _w("VGG19_Weights", ("IMAGENET1K_V1", "vgg19-dcbb9e9d.pth", 143667240))
VGG19_BN_Weights = _w("VGG19_BN_Weights", ("IMAGENET1K_V1", "vgg19_bn-c79401a0.pth", 143678248))


@builder(VGG11_Weights)
def vgg11(**kwargs):
    """VGG-11 (Simonyan & Zisserman 2014, configuration A), 132.9M parameters."""
    return _vgg("A", False, **kwargs)


@builder(VGG11_BN_Weights)
def vgg11_bn(**kwargs):
    """VGG-11 with BatchNorm after every convolution."""
    return _vgg("A", True, **kwargs)


@builder(VGG13_Weights)
def vgg13(**kwargs):
    """VGG-13 (configuration B)."""
    return _vgg("B", False, **kwargs)


@builder(VGG13_BN_Weights)
def vgg13_bn(**kwargs):
    """VGG-13 with BatchNorm."""
    return _vgg("B", True, **kwargs)


@builder(VGG16_Weights)
def vgg16(**kwargs):
    """VGG-16 (configuration D), 138.4M parameters."""
    return _vgg("D", False, **kwargs)


@builder(VGG16_BN_Weights)
def vgg16_bn(**kwargs):
    """VGG-16 with BatchNorm."""
    return _vgg("D", True, **kwargs)


@builder(VGG19_Weights)
def vgg19(**kwargs):
    """VGG-19 (configuration E)."""
    return _vgg("E", False, **kwargs)


@builder(VGG19_BN_Weights)
def vgg19_bn(**kwargs):
    """VGG-19 with BatchNorm."""
    return _vgg("E", True, **kwargs)
