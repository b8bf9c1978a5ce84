"""The 'meta' device: tensors with a shape, a dtype and strides but no data.

torch.device('meta'), x.to('meta'), torch.empty(..., device='meta'), nn.Linear(...,
device='meta') and `with torch.device('meta'):` make them. A meta tensor's data is a
DeviceArray (device_array.py) whose `array` is None, so everything that already works for
tensors on a device works for it unchanged: dispatch.bind hands every op with a meta
operand to `run_primitive` below, autograd records and runs VJPs on meta tensors (their
gradients are meta tensors), in-place ops rebind the box, module.to('meta') moves
parameters.

An op on meta tensors runs no kernel: its result's shape and dtype come from the
primitive's own shape and dtype rules (ops/registry.py), the same rules the tracer uses to
build graphs, so a bad shape raises the error it raises on real tensors. Reading values
(.item(), .tolist(), .cpu(), printing the values, numpy) raises torch's errors.

Creation functions with device='meta' (or under `with torch.device('meta')`) build no
values on the CPU first: creation.py's `_on_meta` makes every primitive without tensor
operands (full, the random draws, arange, eye) a meta tensor by its rules while the
creation function runs, so `with torch.device('meta'): model = Big()` allocates nothing
and draws no random numbers (as torch's: the CPU generator does not move), and in-place
fills of a meta tensor (nn.init's uniform_, normal_) draw nothing either
(inplace.random_fill).

module.to_empty(device='cpu') (nn/module.py) gives a meta module real, uninitialized
storage; users then call reset_parameters() or load a state_dict.

devices.BUILT_IN holds the one MetaDevice: it needs no hardware, so it is always there.
This module imports nothing of tracecomp but device_array: tensor, devices, inplace and
creation ask it about meta data.
"""
import numpy as np

from .device_array import DeviceArray

NO_DATA = "Cannot copy out of meta tensor; no data!"
NO_ITEM = "Tensor.item() cannot be called on meta tensors"


def is_meta(data) -> bool:
    """Whether tensor data is a meta tensor's (a DeviceArray on 'meta')."""
    return type(data) is DeviceArray and data.device.type == "meta"


def empty(shape, dtype, where):
    """A meta tensor's data: shape and dtype, no memory."""
    return DeviceArray(None, shape, dtype, where)


class MetaDevice:
    """The storage protocol of devices.py, answered without memory or kernels."""

    # torch.meta has no devices to count, name or synchronize: one, so `device('meta')`
    # is valid, and nothing to wait for
    def device_count(self):
        return 1

    def get_device_name(self, index):
        return "meta"

    def get_device_properties(self, index):
        raise RuntimeError("the meta device has no properties: it holds no memory")

    def synchronize(self, index):
        pass

    def to_device(self, array, where):
        array = np.asarray(array)
        return empty(array.shape, array.dtype, where)

    def to_host(self, data):
        raise NotImplementedError(NO_DATA)

    def run_primitive(self, prim, operands, params, where):
        """prim's result as a meta tensor: shape and dtype by prim's rules (which raise
        the op's own errors on bad shapes), no values. A guard (an index range check)
        passes, as torch's meta kernels skip checks of values."""
        shapes = [o.shape if hasattr(o, "shape") else () for o in operands]
        shape = tuple(prim.shape(*shapes, **params))
        dtype = np.dtype(prim.dtype(*operands, **params))
        return empty(shape, dtype, where)
