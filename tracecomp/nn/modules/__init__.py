"""The layer modules, one file per family (as torch.nn.modules)."""
from . import module  # noqa: F401 - torch.nn.modules.module is an attribute there too
from .activation import (ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,
                         Softplus, Tanh)
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, SyncBatchNorm
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .normalization import LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .sparse import Embedding, EmbeddingBag
# --- issue 9: recurrent layers ---
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
# --- issue 9: attention, transformer, lazy and other layers ---
from .activation_more import (CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh,
                              LogSigmoid, Mish, PReLU, ReLU6, RReLU, Softmax2d, Softmin,
                              Softshrink, Softsign, Tanhshrink, Threshold)
from .attention import MultiheadAttention
from .bilinear import Bilinear
from .container import Container, ParameterDict
from .conv import Conv1d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .pooling import AdaptiveAvgPool3d, AdaptiveMaxPool3d, AvgPool3d, MaxPool3d
from .pooling import LPPool1d, LPPool2d, LPPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d
from .channelshuffle import ChannelShuffle
from .dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d,
                   LazyConv3d, LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d,
                   LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d, LazyLinear,
                   LazyModuleMixin, UninitializedBuffer, UninitializedParameter)
from .adaptive import AdaptiveLogSoftmaxWithLoss
from .cross_map_lrn import CrossMapLRN2d
from .normalization import GroupNorm, LocalResponseNorm, RMSNorm
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d,
                      ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d,
                      ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d,
                      ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .pooling import (AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
                      FractionalMaxPool2d, FractionalMaxPool3d, MaxPool1d)
from .resample import (Fold, PixelShuffle, PixelUnshuffle, Unfold, Upsample,
                       UpsamplingBilinear2d, UpsamplingNearest2d)
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)

__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "ReLU", "Sigmoid", "SiLU", "Softmax",
           "Softplus", "Tanh", "BatchNorm1d", "BatchNorm2d", "ModuleDict", "ModuleList",
           "ParameterList", "Sequential", "Conv2d", "Dropout", "Flatten", "Unflatten",
           "Identity", "Linear", "LayerNorm", "AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d",
           "Embedding", "EmbeddingBag"]
# --- issue 9: __all__ additions, recurrent layers ---
__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
# --- issue 9: __all__ additions, other layers ---
__all__ += ["Conv1d", "Conv3d", "MaxPool3d", "ConvTranspose1d", "ConvTranspose2d"]
__all__ += ["AdaptiveAvgPool3d", "AdaptiveMaxPool3d"]
__all__ += ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "SyncBatchNorm", "LPPool1d",
            "LPPool2d", "LPPool3d", "ChannelShuffle"]
__all__ += ["AvgPool3d", "ConvTranspose3d", "BatchNorm3d", "InstanceNorm3d", "LazyBatchNorm3d",
            "LazyConv3d", "LazyConvTranspose3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
            "LazyInstanceNorm3d"]
__all__ += ["LazyBatchNorm1d", "LazyBatchNorm2d", "LazyConv1d", "LazyConv2d",
            "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyLinear", "LazyModuleMixin",
            "UninitializedBuffer", "UninitializedParameter"]
__all__ += ["CELU", "GLU", "SELU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
            "LogSigmoid", "Mish", "PReLU", "ReLU6", "RReLU", "Softmax2d", "Softmin", "Softshrink",
            "Softsign", "Tanhshrink", "Threshold"]
__all__ += ["AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d",
            "MaxPool1d", "Fold", "PixelShuffle", "PixelUnshuffle", "Unfold", "Upsample",
            "UpsamplingBilinear2d", "UpsamplingNearest2d"]
__all__ += ["Bilinear", "ParameterDict", "AlphaDropout", "Dropout1d", "Dropout2d",
            "Dropout3d", "FeatureAlphaDropout", "CircularPad1d", "CircularPad2d",
            "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
            "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
            "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]
__all__ += ["GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "LocalResponseNorm", "RMSNorm"]
__all__ += ["MultiheadAttention", "Transformer", "TransformerDecoder",
            "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer"]
__all__ += ["FractionalMaxPool2d", "FractionalMaxPool3d", "CrossMapLRN2d",
            "AdaptiveLogSoftmaxWithLoss", "Container"]
