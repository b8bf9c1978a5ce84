"""tracecomp.vision: torchvision's common API over tracecomp tensors, so a vision program
runs with its imports changed (`import tracecomp.vision as torchvision`, `from
tracecomp.vision import datasets, transforms, models`): torchvision itself makes torch
tensors, which tracecomp's ops do not take.

    transforms   Compose, ToTensor, Normalize, crops, flips, resizes, colour jitter (PIL
                 images and tracecomp tensors; ToTensor takes numpy arrays too)
    datasets     MNIST, FashionMNIST, CIFAR10/100, SVHN, ImageFolder, FakeData, read from local
                 files (nothing is downloaded: there may be no network)
    models       resnet, vgg, alexnet, mobilenet_v2, squeezenet, efficientnet, vit,
                 densenet with torchvision's module names, so a torchvision state_dict
                 loads into them
    ops          the torchvision.ops layers those models use (Conv2dNormActivation,
                 SqueezeExcitation, MLP, StochasticDepth), FrozenBatchNorm2d and the box
                 utilities (box_area, box_iou, generalized_box_iou, box_convert) that
                 DETR-style detection code takes with models._utils.IntermediateLayerGetter
    utils        make_grid, save_image
    io           read_image / decode_image, encode_png / encode_jpeg, read_file, ... (Pillow)

Each submodule loads on first use.
"""
import importlib

# torchvision's version, not ours: programs check `torchvision.__version__` to choose which
# torchvision API to call, and this is the one tracecomp.vision follows (its torch is
# tracecomp.__version__). The local part says it is not torchvision itself.
__version__ = "0.28.0+tracecomp"

_SUBMODULES = ("transforms", "datasets", "models", "ops", "utils", "io")


def _is_tracing():
    """torchvision's check for torch.jit's tracer (detection code then takes an ONNX-friendly
    path). tracecomp has no TorchScript tracer: jit.trace compiles, so this is False, as
    tracecomp.jit.is_tracing() is."""
    from ..jit import is_tracing
    return is_tracing()


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tracecomp.vision' has no attribute {name!r} (it has "
                         f"{', '.join(_SUBMODULES)})")
