"""ShapeProp (torch.fx.passes.shape_prop): run a GraphModule on example inputs and record
each node's result as `node.meta['tensor_meta']` (a TensorMetadata, or a structure of them
for a node that returns several tensors) and its Python type as `node.meta['type']`."""
from typing import NamedTuple

from ...memory_format import channels_last, channels_last_3d, contiguous_format
from ...tensor import Tensor
from ..interpreter import Interpreter
from ..node import map_aggregate


class TensorMetadata(NamedTuple):
    shape: tuple
    dtype: object
    requires_grad: bool
    stride: tuple
    memory_format: object
    is_quantized: bool
    qparams: dict


# the formats checked in torch's order: the first the tensor's strides satisfy is kept
_FORMATS = (contiguous_format, channels_last, channels_last_3d)


def _extract_tensor_metadata(t):
    fmt = next((f for f in _FORMATS if t.is_contiguous(memory_format=f)), None)
    return TensorMetadata(t.shape, t.dtype, t.requires_grad, t.stride(), fmt, False, {})


class ShapeProp(Interpreter):
    """`ShapeProp(gm).propagate(*example_inputs)` fills node.meta; returns the output."""

    def run_node(self, n):
        result = super().run_node(n)
        found = []

        def extract(obj):
            if isinstance(obj, Tensor):
                found.append(True)
                return _extract_tensor_metadata(obj)
            return obj

        meta = map_aggregate(result, extract)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result

    def propagate(self, *args):
        return super().run(*args)
