"""tracecomp.vision.transforms: torchvision.transforms' common API over PIL images and
tracecomp tensors, with torchvision's semantics (so `from tracecomp.vision import
transforms` replaces `from torchvision import transforms`).

    conversion   ToTensor, PILToTensor, ToPILImage, ConvertImageDtype, Normalize, Lambda
    geometry     Resize, CenterCrop, RandomCrop, RandomResizedCrop, Pad, FiveCrop, TenCrop,
                 RandomHorizontalFlip, RandomVerticalFlip, RandomRotation
    colour       Grayscale, RandomGrayscale, ColorJitter
    augment      RandomAffine, RandomPerspective, GaussianBlur, RandomErasing, RandomInvert,
                 RandomPosterize, RandomSolarize, RandomAdjustSharpness, RandomAutocontrast,
                 RandomEqualize; AutoAugment (ImageNet/CIFAR10/SVHN), RandAugment,
                 TrivialAugmentWide
    combinators  Compose, RandomApply, RandomChoice, RandomOrder
    functional   the functions the classes call (transforms.functional as F)

Randomness comes from tracecomp's generator (tracecomp.manual_seed). Modules: _common
(shared checks), _convert (image <-> tensor), _tensor / _resample (tensor backend), _pil
(Pillow backend), functional (dispatch; _functional_more and _tensor_more for the
augmentation ops), _compose / _geometry / _color / _augment / _autoaugment (the classes),
_presets (ImageClassification, what a weights entry's .transforms() builds).
Not provided: LinearTransformation, ElasticTransform, AugMix and the v2 API; asking for them
raises an AttributeError that says so.
"""
from . import functional
from ._augment import (GaussianBlur, RandomAdjustSharpness, RandomAffine, RandomAutocontrast,
                       RandomEqualize, RandomErasing, RandomInvert, RandomPerspective,
                       RandomPosterize, RandomSolarize)
from ._autoaugment import AutoAugment, AutoAugmentPolicy, RandAugment, TrivialAugmentWide
from ._color import ColorJitter, Grayscale, RandomGrayscale
from ._common import InterpolationMode
from ._compose import (Compose, ConvertImageDtype, Lambda, Normalize, PILToTensor,
                       RandomApply, RandomChoice, RandomOrder, ToPILImage, ToTensor)
from ._geometry import (CenterCrop, FiveCrop, Pad, RandomCrop, RandomHorizontalFlip,
                        RandomResizedCrop, RandomRotation, RandomVerticalFlip, Resize,
                        TenCrop)

__all__ = ["functional", "InterpolationMode", "Compose", "ToTensor", "PILToTensor",
           "ToPILImage", "ConvertImageDtype", "Normalize", "Lambda", "RandomApply",
           "RandomChoice", "RandomOrder", "Resize", "CenterCrop", "Pad", "RandomCrop",
           "RandomResizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
           "RandomRotation", "FiveCrop", "TenCrop", "Grayscale", "RandomGrayscale",
           "ColorJitter", "RandomAffine", "RandomPerspective", "GaussianBlur",
           "RandomErasing", "RandomInvert", "RandomPosterize", "RandomSolarize",
           "RandomAdjustSharpness", "RandomAutocontrast", "RandomEqualize", "AutoAugment",
           "AutoAugmentPolicy", "RandAugment", "TrivialAugmentWide"]

# torchvision.transforms names we do not provide yet: fail with a clear message
_NOT_PROVIDED = ("LinearTransformation", "ElasticTransform", "AugMix", "v2")


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"tracecomp.vision.transforms.{name} is not provided (yet); "
                             f"available: {', '.join(__all__)}")
    raise AttributeError(f"module 'tracecomp.vision.transforms' has no attribute {name!r}")
