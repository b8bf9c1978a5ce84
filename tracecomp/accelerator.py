"""tracecomp.accelerator: torch.accelerator's questions, answered from the device registry
(tracecomp/devices.py). With no backend registered, as on torch's CPU build without a GPU:
is_available() is False, current_accelerator() is None, and what needs a device raises
RuntimeError("Cannot access accelerator device when none is available.")."""
from . import devices


def current_accelerator(check_available=False):
    """The device of the registered accelerator (e.g. device(type='cuda')), or None."""
    kind = devices.current_accelerator()
    return None if kind is None else devices.device(kind)


def is_available() -> bool:
    return devices.current_accelerator() is not None


def device_count() -> int:
    kind = devices.current_accelerator()
    return 0 if kind is None else devices.backend(kind).device_count()


def _module():
    """The accelerator's device module (tracecomp.cuda), or torch's error."""
    kind = devices.current_accelerator()
    if kind is None:
        raise RuntimeError(devices.NO_ACCELERATOR)
    import importlib
    return importlib.import_module(f"tracecomp.{kind}")


def current_device_index() -> int:
    return _module().current_device()


def set_device_index(device):
    _module().set_device(device)


current_device_idx = current_device_index
set_device_idx = set_device_index


def synchronize(device=None):
    _module().synchronize(device)


class device_index:
    """with accelerator.device_index(i): the current accelerator device is i inside."""

    def __init__(self, device):
        self.idx, self.prev = device, None

    def __enter__(self):
        if self.idx is not None:
            self.prev = current_device_index()
            set_device_index(self.idx)

    def __exit__(self, *exc):
        if self.prev is not None:
            set_device_index(self.prev)
        return False


def empty_cache():
    _module().empty_cache()


def memory_allocated(device=None) -> int:
    return _module().memory_allocated(device)


def max_memory_allocated(device=None) -> int:
    return _module().max_memory_allocated(device)


# a torch.accelerator name we lack raises NotImplementedError naming it (support.py)
from .support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.accelerator")
