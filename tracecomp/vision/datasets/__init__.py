"""tracecomp.vision.datasets: torchvision.datasets' common datasets, read from local files in
torchvision's layout (a root torchvision downloaded into works as it is), giving PIL images
and int targets as torchvision does, so tracecomp.vision.transforms apply unchanged.

    vision.py    VisionDataset, StandardTransform, DatasetNotFoundError
    mnist.py     MNIST, FashionMNIST, KMNIST, EMNIST (IDX files, raw or .gz)
    cifar.py     CIFAR10, CIFAR100 (python pickle batches)
    svhn.py      SVHN (MATLAB .mat files, read with scipy)
    celeba.py    CelebA (aligned JPEGs and their attribute, identity, box and landmark lists)
    folder.py    DatasetFolder, ImageFolder (one folder per class)
    fakedata.py  FakeData (random images)

Nothing is downloaded (there may be no network): `download=True` is accepted and uses the
files already in place; missing files raise DatasetNotFoundError naming the exact paths.
Another torchvision dataset name (ImageNet, Places365, ...) raises NotImplementedError.
"""
from ...support import unsupported as _unsupported
from .celeba import CelebA
from .cifar import CIFAR10, CIFAR100
from .fakedata import FakeData
from .folder import (
    IMG_EXTENSIONS,
    DatasetFolder,
    ImageFolder,
    default_loader,
    find_classes,
    has_file_allowed_extension,
    is_image_file,
    make_dataset,
    pil_loader,
)
from .mnist import EMNIST, MNIST, FashionMNIST, KMNIST
from .svhn import SVHN
from .vision import DatasetNotFoundError, StandardTransform, VisionDataset

__all__ = ["CIFAR10", "CIFAR100", "CelebA", "DatasetFolder", "DatasetNotFoundError", "EMNIST",
           "FakeData", "FashionMNIST", "IMG_EXTENSIONS", "ImageFolder", "KMNIST", "MNIST",
           "StandardTransform", "SVHN", "VisionDataset", "default_loader", "find_classes",
           "has_file_allowed_extension", "is_image_file", "make_dataset", "pil_loader"]

# torchvision 0.28's other datasets: asking for one says it is not provided (rather than a
# bare AttributeError that reads like a typo).
_TORCHVISION_ONLY = frozenset({
    "CLEVRClassification", "CREStereo", "Caltech101", "Caltech256", "CarlaStereo",
    "Cityscapes", "CocoCaptions", "CocoDetection", "Country211", "DTD", "ETH3DStereo",
    "EuroSAT", "FER2013", "FGVCAircraft", "FallingThingsStereo", "Flickr30k", "Flickr8k",
    "Flowers102", "FlyingChairs", "FlyingThings3D", "Food101", "GTSRB", "HD1K", "HMDB51",
    "INaturalist", "ImageNet", "Imagenette", "InStereo2k", "Kinetics", "Kitti",
    "Kitti2012Stereo", "Kitti2015Stereo", "KittiFlow", "LFWPairs", "LFWPeople", "LSUN",
    "LSUNClass", "Middlebury2014Stereo", "MovingMNIST", "Omniglot", "OxfordIIITPet", "PCAM",
    "PhotoTour", "Places365", "QMNIST", "RenderedSST2", "SBDataset", "SBU", "SEMEION",
    "STL10", "SUN397", "SceneFlowStereo", "Sintel", "SintelStereo", "StanfordCars",
    "UCF101", "USPS", "VOCDetection", "VOCSegmentation", "WIDERFace",
    "wrap_dataset_for_transforms_v2"})


def __getattr__(name):
    if name in _TORCHVISION_ONLY:
        raise _unsupported(f"torchvision.datasets.{name}")
    raise AttributeError(f"module 'tracecomp.vision.datasets' has no attribute {name!r}")
