"""torch.nn.parallel as torch's build answers on a machine without an accelerator.

Tensors here live on the CPU only, which is the case torch's DataParallel handles by
keeping no device ids and calling the wrapped module directly: same values, same
`module.`-prefixed state_dict keys, so programs that wrap their model (or test
`input.is_cuda and ngpu > 1` before calling data_parallel) run unchanged. data_parallel
itself raises what torch raises without a device. Splitting a batch over several devices,
and DistributedDataParallel, are not provided: they raise NotImplementedError naming the
API (support.py)."""
from .. import devices
from ..support import unsupported
from .module import Module

# torch.nn.parallel's public names that tracecomp does not provide
_MISSING = frozenset(["DistributedDataParallel", "DistributedDataParallelCPU", "replicate",
                      "scatter", "gather", "parallel_apply", "comm", "distributed",
                      "scatter_gather", "deprecated"])


def _device_type():
    """The device type torch's _get_available_device_type() would find; mps counts as
    none, as DataParallel treats it."""
    kind = devices.current_accelerator()
    return None if kind in (None, "mps") else kind


class DataParallel(Module):
    """torch.nn.DataParallel without a device: a wrapper whose forward is the module's."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if _device_type() is not None:
            # with a device torch replicates the module on each one; our tensors cannot
            # live there, so running it whole would hide that the program asked for this
            raise unsupported("torch.nn.DataParallel over accelerator devices")
        self.module = module
        self.device_ids = []

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """torch.nn.parallel.data_parallel: without a device torch raises, and so do we."""
    if _device_type() is None:
        raise RuntimeError("device type could not be determined")
    raise unsupported("torch.nn.parallel.data_parallel over accelerator devices")


def __getattr__(name):
    if name in _MISSING:
        raise unsupported(f"torch.nn.parallel.{name}")
    raise AttributeError(f"module 'tracecomp.nn.parallel' has no attribute {name!r}")
