"""tracecomp.vision.ops: the layers of torchvision.ops that torchvision's classification
models are built from, over tracecomp.nn, with torchvision's names and state_dict keys:

    Conv2dNormActivation   Conv2d + norm + activation, a Sequential (keys .0 / .1)
    SqueezeExcitation      channel attention (avgpool, fc1, activation, fc2, sigmoid)
    MLP                    Linear / norm / activation / Dropout stacks
    Permute                a module that permutes dimensions
    StochasticDepth, stochastic_depth
                           drop whole residual branches per row (or batch) in training
    FrozenBatchNorm2d      BatchNorm2d with fixed statistics (detection backbones)
    box_area, box_iou, generalized_box_iou, box_convert
                           the box utilities DETR-style set losses use (ops/boxes.py)
    nms, batched_nms       non-maximum suppression of detections (ops/nms.py)

The other detection ops (roi_align, roi_pool, deform_conv2d, ...) are not provided.
"""
from . import boxes, misc  # noqa: F401  (torchvision.ops.boxes / .misc are imported by name)
from .boxes import box_area, box_convert, box_iou, generalized_box_iou
from .misc import MLP, Conv2dNormActivation, FrozenBatchNorm2d, Permute, SqueezeExcitation
from .nms import batched_nms, nms
from .stochastic_depth import StochasticDepth, stochastic_depth

__all__ = ["Conv2dNormActivation", "SqueezeExcitation", "MLP", "Permute", "StochasticDepth",
           "stochastic_depth", "FrozenBatchNorm2d", "box_area", "box_iou", "generalized_box_iou",
           "box_convert", "nms", "batched_nms"]
