"""AlexNet as torchvision.models builds it (the "one weird trick" variant, 64-192-384-256-256
channels, that torchvision's checkpoint was trained with), over tracecomp.nn. Its layers keep
nn's default initialization: torchvision does not re-initialize AlexNet."""
from ... import flatten, nn
from ._api import builder, make_weights_enum, preset

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        # the three max pools need at least 63x63 input (torchvision's min_size)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = flatten(x, 1)
        return self.classifier(x)


AlexNet_Weights = make_weights_enum(
    "AlexNet_Weights",
    ("IMAGENET1K_V1", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", 61100840,
     preset(224)),
    min_size=(63, 63))


@builder(AlexNet_Weights)
def alexnet(**kwargs):
    """AlexNet (Krizhevsky 2014, "One weird trick..."), 61.1M parameters."""
    return AlexNet(**kwargs)
