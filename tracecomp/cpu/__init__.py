"""tracecomp.cpu: torch.cpu's device-module API for the CPU, where every tensor lives."""
from . import amp  # noqa: F401  (tracecomp.cpu.amp)


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def set_device(device):
    """A no-op, as torch: there is one CPU device."""


def synchronize(device=None):
    """A no-op: eager CPU work is finished when a call returns."""


def is_initialized() -> bool:
    return True
