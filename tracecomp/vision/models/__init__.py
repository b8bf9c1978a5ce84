"""tracecomp.vision.models: torchvision.models' classification models over tracecomp.nn,
with torchvision's module structure (state_dict keys, shapes and order), initialization and
forward, so a torchvision checkpoint loads:

    from tracecomp.vision import models
    model = models.resnet18(num_classes=10)               # untrained, torchvision's init
    model.load_state_dict(tracecomp.load("resnet18-f37072fd.pth"))   # a local checkpoint

Families: resnet (resnet18/34/50/101/152, resnext*, wide_resnet*), vgg (vgg11/13/16/19 and
*_bn), alexnet, mobilenet_v2, squeezenet1_0/1_1, efficientnet_b0..b7 and efficientnet_v2_s/m/l,
vit_b_16/b_32/l_16/l_32/h_14 (VisionTransformer, any image_size), densenet121/161/169/201,
googlenet and inception_v3 (with their auxiliary classifiers);
get_model / list_models / get_model_weights / get_weight as in torchvision; a weights entry's
.transforms() and .meta (categories, num_params, min_size) are torchvision's. No weights are
downloaded or shipped: weights=... or pretrained=True raises WeightsUnavailableError with the
loading recipe.
"""
from ._api import (Weights, WeightsEnum, WeightsUnavailableError, get_model,  # noqa: F401
                   get_model_builder, get_model_weights, get_weight, list_models)
from .alexnet import *  # noqa: F401, F403
from .alexnet import AlexNet_Weights  # noqa: F401
from .densenet import *  # noqa: F401, F403
from .densenet import (DenseNet121_Weights, DenseNet161_Weights,  # noqa: F401
                       DenseNet169_Weights, DenseNet201_Weights)
from .efficientnet import *  # noqa: F401, F403
from .efficientnet import (EfficientNet_B0_Weights, EfficientNet_B1_Weights,  # noqa: F401
                           EfficientNet_B2_Weights, EfficientNet_B3_Weights,
                           EfficientNet_B4_Weights, EfficientNet_B5_Weights,
                           EfficientNet_B6_Weights, EfficientNet_B7_Weights,
                           EfficientNet_V2_L_Weights, EfficientNet_V2_M_Weights,
                           EfficientNet_V2_S_Weights)
from .googlenet import *  # noqa: F401, F403
from .googlenet import GoogLeNet_Weights  # noqa: F401
from .inception import *  # noqa: F401, F403
from .inception import Inception_V3_Weights  # noqa: F401
from .mobilenetv2 import *  # noqa: F401, F403
from .mobilenetv2 import MobileNet_V2_Weights  # noqa: F401
from .resnet import *  # noqa: F401, F403
from .resnet import (ResNet18_Weights, ResNet34_Weights, ResNet50_Weights,  # noqa: F401
                     ResNet101_Weights, ResNet152_Weights, ResNeXt50_32X4D_Weights,
                     ResNeXt101_32X8D_Weights, ResNeXt101_64X4D_Weights,
                     Wide_ResNet50_2_Weights, Wide_ResNet101_2_Weights)
from .squeezenet import *  # noqa: F401, F403
from .squeezenet import SqueezeNet1_0_Weights, SqueezeNet1_1_Weights  # noqa: F401
from .vgg import *  # noqa: F401, F403
from .vgg import (VGG11_BN_Weights, VGG11_Weights, VGG13_BN_Weights,  # noqa: F401
                  VGG13_Weights, VGG16_BN_Weights, VGG16_Weights, VGG19_BN_Weights,
                  VGG19_Weights)
from .vision_transformer import *  # noqa: F401, F403
from .vision_transformer import (ViT_B_16_Weights, ViT_B_32_Weights,  # noqa: F401
                                 ViT_H_14_Weights, ViT_L_16_Weights, ViT_L_32_Weights)
