"""tracecomp.vision.ops: the layers of torchvision.ops that torchvision's classification
models are built from, over tracecomp.nn, with torchvision's names and state_dict keys:

    Conv2dNormActivation   Conv2d + norm + activation, a Sequential (keys .0 / .1)
    SqueezeExcitation      channel attention (avgpool, fc1, activation, fc2, sigmoid)
    MLP                    Linear / norm / activation / Dropout stacks
    Permute                a module that permutes dimensions
    StochasticDepth, stochastic_depth
                           drop whole residual branches per row (or batch) in training

The detection ops (nms, roi_align, box utilities) are not provided.
"""
from .misc import MLP, Conv2dNormActivation, Permute, SqueezeExcitation
from .stochastic_depth import StochasticDepth, stochastic_depth

__all__ = ["Conv2dNormActivation", "SqueezeExcitation", "MLP", "Permute", "StochasticDepth",
           "stochastic_depth"]
