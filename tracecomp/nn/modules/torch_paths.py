"""Classes that torch defines in one torch.nn.modules file and tracecomp in another.

Programs name layer classes by torch's full path (`torch.nn.modules.activation.
MultiheadAttention` in a torch.serialization.safe_globals list, `isinstance(m,
nn.modules.conv.LazyConv2d)`, `from torch.nn.modules.linear import
NonDynamicallyQuantizableLinear`). Each tracecomp file that mirrors a torch file ends with
`__getattr__ = torch_paths.getattr_for(__name__)`, which finds these names where
tracecomp defines them; resolving on first use keeps the files free of import cycles
(lazy.py imports conv.py and linear.py, attention.py imports linear.py).
"""
import importlib

# torch file -> {class: the tracecomp file that defines it}
ELSEWHERE = {
    "activation": {name: "activation_more" for name in (
        "CELU", "GLU", "SELU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
        "LogSigmoid", "Mish", "PReLU", "ReLU6", "RReLU", "Softmax2d", "Softmin",
        "Softshrink", "Softsign", "Tanhshrink", "Threshold")} | {
        "MultiheadAttention": "attention"},
    "batchnorm": {name: "lazy" for name in (
        "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "_LazyNormBase")},
    "conv": {name: "lazy" for name in (
        "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
        "LazyConvTranspose3d")},
    "instancenorm": {name: "lazy" for name in (
        "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d")},
    "linear": {"Bilinear": "bilinear", "LazyLinear": "lazy",
               "NonDynamicallyQuantizableLinear": "attention"},
}


def getattr_for(module_name):
    """A module-level __getattr__ for tracecomp.nn.modules.<file>."""
    table = ELSEWHERE[module_name.rpartition(".")[2]]
    package = module_name.rpartition(".")[0]

    def __getattr__(name):
        if name not in table:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{table[name]}"), name)
    return __getattr__
