"""GoogLeNet (Inception v1, Szegedy et al. 2014) as torchvision.models builds it, over
tracecomp.nn: BasicConv2d (a bias-free conv, batch norm with eps 1e-3, ReLU), Inception
blocks of four branches concatenated, and two auxiliary classifiers whose logits a
training-mode call also returns (GoogLeNetOutputs), as torchvision's do."""
import warnings
from collections import namedtuple

from ... import cat, flatten, nn, unsqueeze
from ...nn import functional as F
from ...nn import init
from ...user_code import user_stacklevel
from ._api import builder, make_weights_enum, preset

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet", "BasicConv2d", "Inception",
           "InceptionAux"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__annotations__ = {"logits": object, "aux_logits2": object,
                                    "aux_logits1": object}
_GoogLeNetOutputs = GoogLeNetOutputs


def warn_default_init(name):
    """torchvision's FutureWarning when init_weights is left unset (GoogLeNet, Inception3),
    pointing at the caller's caller: the line that built the model."""
    warnings.warn(f"The default weight initialization of {name} will be changed in future "
                  f"releases of torchvision. If you wish to keep the old behavior (which leads "
                  f"to long initialization times due to scipy/scipy#11299), please set "
                  f"init_weights=True.", FutureWarning, stacklevel=user_stacklevel())


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 conv_block=None):
        super().__init__()
        conv_block = conv_block or BasicConv2d
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(conv_block(in_channels, ch3x3red, kernel_size=1),
                                     conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1))
        # kernel 3, not the paper's 5: torchvision keeps this known bug, and its weights
        # (and state_dict shapes) follow it
        self.branch3 = nn.Sequential(conv_block(in_channels, ch5x5red, kernel_size=1),
                                     conv_block(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1))

    def _forward(self, x):
        return [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]

    def forward(self, x):
        return cat(self._forward(x), 1)


class InceptionAux(nn.Module):
    def __init__(self, in_channels, num_classes, conv_block=None, dropout=0.7):
        super().__init__()
        conv_block = conv_block or BasicConv2d
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, (4, 4))        # N x 512 (528) x 14 x 14 -> 4 x 4
        x = flatten(self.conv(x), 1)
        x = F.relu(self.fc1(x), inplace=True)
        return self.fc2(self.dropout(x))


# GoogLeNet's stages: (name, Inception arguments), the pools between them by position
_INCEPTIONS = [("inception3a", (192, 64, 96, 128, 16, 32, 32)),
               ("inception3b", (256, 128, 128, 192, 32, 96, 64)),
               ("inception4a", (480, 192, 96, 208, 16, 48, 64)),
               ("inception4b", (512, 160, 112, 224, 24, 64, 64)),
               ("inception4c", (512, 128, 128, 256, 24, 64, 64)),
               ("inception4d", (512, 112, 144, 288, 32, 64, 64)),
               ("inception4e", (528, 256, 160, 320, 32, 128, 128)),
               ("inception5a", (832, 256, 160, 320, 32, 128, 128)),
               ("inception5b", (832, 384, 192, 384, 48, 128, 128))]


class GoogLeNet(nn.Module):
    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False,
                 init_weights=None, blocks=None, dropout=0.2, dropout_aux=0.7):
        super().__init__()
        if blocks is None:
            blocks = [BasicConv2d, Inception, InceptionAux]
        if init_weights is None:
            warn_default_init("GoogleNet")
            init_weights = True
        if len(blocks) != 3:
            raise ValueError(f"GoogLeNet: blocks must be [conv, inception, inception_aux] "
                             f"(3 classes), got {len(blocks)}")
        conv_block, inception_block, inception_aux_block = blocks
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for k, (name, args) in enumerate(_INCEPTIONS):
            setattr(self, name, inception_block(*args))
            if k == 1:
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            if k == 6:
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        if aux_logits:
            self.aux1 = inception_aux_block(512, num_classes, dropout=dropout_aux)
            self.aux2 = inception_aux_block(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    init.constant_(m.weight, 1)
                    init.constant_(m.bias, 0)

    def _transform_input(self, x):
        """Inputs normalized with ImageNet's mean/std -> the (x - 0.5) / 0.5 the original
        weights were trained on."""
        if not self.transform_input:
            return x
        chans = [unsqueeze(x[:, c], 1) * (std / 0.5) + (mean - 0.5) / 0.5
                 for c, (mean, std) in enumerate([(0.485, 0.229), (0.456, 0.224),
                                                  (0.406, 0.225)])]
        return cat(chans, 1)

    def _forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(flatten(self.avgpool(x), 1)))
        return x, aux2, aux1

    def eager_outputs(self, x, aux2, aux1):
        if self.training and self.aux_logits:
            return _GoogLeNetOutputs(x, aux2, aux1)
        return x

    def forward(self, x):
        x, aux2, aux1 = self._forward(self._transform_input(x))
        return self.eager_outputs(x, aux2, aux1)


GoogLeNet_Weights = make_weights_enum(
    "GoogLeNet_Weights",
    ("IMAGENET1K_V1", "https://download.pytorch.org/models/googlenet-1378be20.pth", 6624904,
     preset(224)),
    min_size=(15, 15))


@builder(GoogLeNet_Weights)
def googlenet(**kwargs):
    """GoogLeNet (Inception v1), 6.6M parameters without its auxiliary classifiers; built
    untrained with them (aux_logits=True), as torchvision's googlenet()."""
    return GoogLeNet(**kwargs)
