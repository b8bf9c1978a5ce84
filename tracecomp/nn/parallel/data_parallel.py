"""torch.nn.parallel's DataParallel (torch.nn.parallel.data_parallel) on no device or one.

Without an accelerator torch's DataParallel keeps no device ids and calls the wrapped
module directly: same values, same `module.`-prefixed state_dict keys, so programs that
wrap their model (or test `input.is_cuda and ngpu > 1` before calling data_parallel) run
unchanged. With one GPU (tensors on 'cuda', devices.py) it is what torch's is with one
device id: the inputs move to that device, whose parameters the module must already have,
and the module runs there. data_parallel raises what torch raises without a device.
Splitting a batch over several devices is not provided: it raises NotImplementedError
naming the API (support.py). Data parallelism over processes is DistributedDataParallel
(distributed.py)."""
import itertools

from ... import devices
from ...support import unsupported
from ...tensor import Tensor
from ..module import Module


def _device_type():
    """The device type torch's _get_available_device_type() would find; mps counts as
    none, as DataParallel treats it."""
    kind = devices.current_accelerator()
    return None if kind in (None, "mps") else kind


class DataParallel(Module):
    """torch.nn.DataParallel on no device (a wrapper whose forward is the module's) or on
    one (the inputs move there first)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        kind = _device_type()
        self.device_ids = [] if kind is None else _device_ids(kind, device_ids)
        self.src_device_obj = None if kind is None else devices.device(kind, 0)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        where = self.src_device_obj
        for t in itertools.chain(self.module.parameters(), self.module.buffers()):
            if t.device != where:
                raise RuntimeError(f"module must have its parameters and buffers on device "
                                   f"{where} (device_ids[0]) but found one of them on device: "
                                   f"{t.device}")
        return self.module(*_to(inputs, where), **_to(kwargs, where))


def _device_ids(kind, device_ids):
    """The device ids DataParallel runs on: every device by default, one at the most."""
    count = devices.backend(kind).device_count()
    ids = list(range(count)) if device_ids is None else [
        d if isinstance(d, int) else devices.as_device(d).index or 0 for d in device_ids]
    if len(ids) > 1:
        # with several devices torch replicates the module on each and splits the batch
        raise unsupported("torch.nn.DataParallel over several devices")
    return ids


def _to(x, where):
    """x's tensors (in tuples, lists and dicts too) moved to `where`, as torch's scatter
    moves them to its one device."""
    if isinstance(x, Tensor):
        return x.to(where)
    if isinstance(x, tuple) and hasattr(x, "_fields"):       # a namedtuple
        return type(x)(*(_to(v, where) for v in x))
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, where) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, where) for k, v in x.items()}
    return x


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """torch.nn.parallel.data_parallel: without a device torch raises, and so do we."""
    if _device_type() is None:
        raise RuntimeError("device type could not be determined")
    raise unsupported("torch.nn.parallel.data_parallel over accelerator devices")

