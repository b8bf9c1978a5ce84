"""Which backend a compiled call runs on: the one compile() was given, else the one for
where its tensors live ('cuda' for a CUDA device, 'llvm' for the CPU).

Tensors on two devices are refused, as torch refuses them (a 0-d CPU tensor goes with any
device, as there), and so are device tensors for a backend that runs on the CPU.
"""
import itertools

from .. import devices
from ..device_array import DeviceArray
from ..errors import LoweringError, TraceError
from .signature import label_text


def backend_for(chosen, tensors, state):
    """The backend's name for a call's labelled tensors (arguments, then module and
    optimizer state); `chosen` is compile()'s backend= (None: by device)."""
    found = {}
    for label, t in itertools.chain(tensors, state):
        data = t._data
        if type(data) is DeviceArray:
            found.setdefault(str(data.device), label)
        elif data.ndim:
            found.setdefault("cpu", label)
    on_devices = [d for d in found if d != "cpu"]
    if not on_devices:
        return chosen or "llvm"
    where = on_devices[0]
    if where == "meta":
        # a meta tensor has no values to compute with: eager ops on it infer shapes
        raise TraceError(f"compiled code cannot run on meta tensors (tensors without data; "
                         f"{label_text(found[where])} is on meta): call the function "
                         f"uncompiled to infer shapes, or give it tensors with values")
    if len(found) > 1:
        other = next(d for d in found if d != where)
        raise devices.two_devices_error(
            where, other, f"{label_text(found[where])} is on {where}, "
                          f"{label_text(found[other])} on {other}")
    if chosen not in (None, "cuda"):
        raise LoweringError(
            f"compile(backend={chosen!r}) runs on the CPU, but {label_text(found[where])} "
            f"is on {where}: move the tensors with .cpu(), or compile with backend='cuda' "
            f"(or with no backend: the tensors' device picks it)")
    return "cuda"
