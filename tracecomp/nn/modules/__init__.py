"""The layer modules, one file per family (as torch.nn.modules)."""
from .activation import (ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,
                         Softplus, Tanh)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .normalization import LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .sparse import Embedding
# --- issue 9: recurrent layers ---
# --- issue 9: attention, transformer, lazy and other layers ---

__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "SiLU", "Softmax",
           "Softplus", "Tanh", "BatchNorm1d", "BatchNorm2d", "ModuleDict", "ModuleList",
           "ParameterList", "Sequential", "Conv2d", "Dropout", "Flatten", "Unflatten",
           "Identity", "Linear", "LayerNorm", "AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d",
           "Embedding"]
# --- issue 9: __all__ additions, recurrent layers ---
# --- issue 9: __all__ additions, other layers ---
