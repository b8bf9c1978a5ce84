"""`torch.onnx`: importable, so programs that import it for an optional export still run.

Many training scripts write `import torch.onnx` at the top and call `torch.onnx.export`
only behind a flag. tracecomp has no ONNX exporter: the import succeeds, the question
`is_in_onnx_export()` has its true answer (never: nothing is exported), and every other
torch.onnx API raises NotImplementedError naming it (support.py), so a program that does
ask for an export stops with a message instead of writing nothing.
"""
from .support import unsupported

# torch 2.13's public torch.onnx names, bar is_in_onnx_export (defined below) and the
# modules torch.onnx itself imports (typing's Any, __future__'s annotations, torch).
_TORCH_ONNX = frozenset({
    "ExportableModule", "InputObserver", "JitScalarType", "ONNXProgram", "OnnxExporterError",
    "OperatorExportTypes", "TensorProtoDataType", "TrainingMode", "errors", "export", "ops",
    "producer_name", "producer_version", "register_custom_op_symbolic",
    "select_model_mode_for_export", "symbolic_helper", "symbolic_opset10", "symbolic_opset9",
    "unregister_custom_op_symbolic", "utils", "dynamo_export", "enable_fake_mode",
})


def is_in_onnx_export():
    """False: tracecomp never runs a model under an ONNX export."""
    return False


def __getattr__(name):
    if name in _TORCH_ONNX:
        raise unsupported(f"torch.onnx.{name}")
    raise AttributeError(f"module 'tracecomp.onnx' has no attribute {name!r}")
