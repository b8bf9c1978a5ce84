"""Devices: torch.device, the default device, where a tensor may live, and the one registry
where a device backend plugs in.

Tensors hold numpy arrays on the CPU, or DeviceArrays on a device whose backend keeps them
(CUDA through numba-cuda). Everything that asks "where may this tensor go" or "is there a
GPU" asks this module; without a GPU it answers as torch's CPU-only build does:

  device                 torch.device: 'cuda:1', device('cpu', 0), device(device),
                         equality, hashing, pickling, and `with device(...)` for a default
  set_default_device / get_default_device
  check_placement(d)     every creation function and .to()/.cuda() call it: passes for the
                         CPU (any index, as torch) and for a device whose backend keeps
                         tensors, otherwise raises what torch's CPU build raises
                         (AssertionError("Torch not compiled with CUDA enabled"), ...)
  current_accelerator()  the first registered backend's device type, or None

The backend registry. `tracecomp.cuda`, `tracecomp.accelerator` and `device(0)` answer from
`backend(device_type)`. The first question about 'cuda' looks for our CUDA backend
(codegen/cuda/device.py: numba-cuda and a GPU, or numba's simulator), which registers when
it finds one; without it `tracecomp.cuda.is_available()` is False. Numba is imported then,
never on `import tracecomp`. Another backend registers itself with

    devices.register_backend("cuda", backend)

`backend` must have `device_count() -> int`, `get_device_name(index) -> str`,
`get_device_properties(index)` and `synchronize(index)`; it may have
`get_device_capability(index) -> (major, minor)`, `manual_seed(seed)`, `empty_cache()` and
`memory_allocated(index)`, `max_memory_allocated(index)`, `memory_reserved(index)`,
`max_memory_reserved(index)`, `reset_peak_memory_stats(index)` (absent ones answer 0 / no-op).
Registering makes is_available() true. Tensors may live on the device when the backend also
keeps their storage: `to_device(array, device) -> DeviceArray`, `to_host(DeviceArray) ->
numpy array` and `run_primitive(prim, operands, params, device) -> DeviceArray` (eager
ops); a backend without them leaves tensors on the CPU (creating one on 'cuda' refuses and
says why). `unregister_backend("cuda")` undoes it.

Where tensors are: `on_device(data)` (is this tensor data a DeviceArray), `to_device(array,
d)` and `to_host(data)` move them through the backend of their device.
"""
import importlib
import re

from . import dtypes
from .device_array import DeviceArray
from .meta_device import MetaDevice

# torch's device types, in the order its error message lists them
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip",
                "ve", "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                "privateuseone")
# accelerators, in the order torch.accelerator picks the current one
ACCELERATORS = ("cuda", "mps", "xpu", "mtia", "hpu", "privateuseone")
_DEVICE_STRING = re.compile(r"([a-zA-Z_]+)(?::([1-9][0-9]*|0))?")
_SIGNATURES = "but expected one of:\n * (tracecomp.device device)\n * (str type, int index = -1)\n"
NO_ACCELERATOR = "Cannot access accelerator device when none is available."


class device:
    """torch.device: a device type ('cpu', 'cuda', ...) and an optional index.

    device('cuda:1'), device('cuda', 1), device(type='cuda', index=1) and device(other)
    build the same value; device(0) means index 0 of the current accelerator. Used as a
    context manager it makes itself the default device of creation functions."""

    __slots__ = ("type", "index")
    __module__ = "tracecomp"            # it prints, and pickles, as tracecomp.device

    def __new__(cls, type=None, index=None):  # noqa: A002 - torch's argument names
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): argument 'type' (position 1) must be str, not "
                                "tracecomp.device")
            return type
        if isinstance(type, bytes):
            type = type.decode()
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            return _accelerator_index(type)
        if not isinstance(type, str):
            got = "NoneType" if type is None else _typename(type)
            raise TypeError(f"device() received an invalid combination of arguments - got "
                            f"({got}), {_SIGNATURES}")
        kind, parsed = _parse(type)
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"device(): argument 'index' (position 2) must be int, not "
                                f"{_typename(index)}")
            if parsed is not None:
                raise RuntimeError(f"type (string) must not include an index because index "
                                   f"was passed explicitly: {type}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
            parsed = index
        self = object.__new__(cls)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", parsed)
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"attribute '{name}' of 'tracecomp.device' objects is not "
                             f"writable")

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        # torch compares devices with devices only: device('cpu') == 'cpu' is False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __enter__(self):
        _STACK.append(self)
        return self

    def __exit__(self, *exc):
        _STACK.pop()
        return False


def _typename(x):
    return "tracecomp.device" if isinstance(x, device) else type(x).__name__


def _parse(text):
    """(type, index or None) of a device string, with torch's errors."""
    if not text:
        raise RuntimeError("Device string must not be empty")
    match = _DEVICE_STRING.fullmatch(text)
    if match is None:
        raise RuntimeError(f"Invalid device string: '{text}'")
    kind, index = match.group(1), match.group(2)
    if kind not in DEVICE_TYPES:
        raise RuntimeError(f"Expected one of {', '.join(DEVICE_TYPES)} device type at start "
                           f"of device string: {kind}")
    return kind, None if index is None else int(index)


def as_device(d) -> device:
    """A device from a device, a string or an accelerator index."""
    return d if isinstance(d, device) else device(d)


CPU = device("cpu")
META = device("meta")


# --- the default device: set_default_device, and `with device(...)` blocks on top ----------
_DEFAULT = [None]       # set_default_device's device (None: the CPU)
_STACK = []             # devices of open `with device(...)` blocks, innermost last


def set_default_device(d):
    """The device creation functions use when they get no device= (None: the CPU)."""
    _DEFAULT[0] = None if d is None else as_device(d)


def default_set() -> bool:
    """Whether anything set a default device (otherwise it is the CPU)."""
    return bool(_STACK) or _DEFAULT[0] is not None


def default_device():
    """The default device as set (with blocks first), without checking it."""
    return _STACK[-1] if _STACK else _DEFAULT[0] or CPU


def get_default_device() -> device:
    """torch's answer: the default device; one without an index is where an empty tensor
    would go, so a default of 'cuda' raises here as it does in torch's CPU build."""
    d = default_device()
    if d.index is not None:
        return d
    check_placement(d)
    return CPU


# --- where tensors may live ----------------------------------------------------------------
# what torch's CPU-only build raises for a tensor on each device type; for the others it
# raises NotImplementedError when creating one and RuntimeError(_NOT_LINKED) when moving one
_NOT_BUILT = {
    "cuda": (AssertionError, "Torch not compiled with CUDA enabled"),
    "xpu": (AssertionError, "Torch not compiled with XPU enabled"),
    "mtia": (AssertionError, "Torch not compiled with MTIA enabled"),
}
_NOT_LINKED = "PyTorch is not linked with support for {} devices"
_NO_KERNELS = ("Could not create a tensor on the '{}' backend: tracecomp tensors live on the "
               "CPU (" + _NOT_LINKED + ")")


def check_placement(d=None, moving=False):
    """Raise unless a new tensor may live on `d` (None: the default device); `moving`: for
    .to(d) and tensor(data, device=d) (made on the CPU, then moved), whose error torch words
    differently."""
    if d is None:
        if not _STACK and _DEFAULT[0] is None:
            return                                  # the hot path: nothing set anywhere
        d = default_device()
    elif d.__class__ is not device:
        d = as_device(d)
    if d.type != "cpu":
        storage(d, moving)


def storage(d, moving=False):
    """The backend that keeps tensors on device d (not the CPU), or what torch raises where
    none does."""
    b = backend(d.type)
    if b is None or not hasattr(b, "run_primitive"):
        raise placement_error(d, moving)
    if d.index not in (None, 0) and d.type != "meta":
        count = b.device_count()
        if d.index >= count:
            raise RuntimeError(f"CUDA error: invalid device ordinal ({d} asked for; "
                               f"{count} device{'s' if count != 1 else ''} here)")
        raise NotImplementedError(f"tracecomp keeps tensors on {d.type}:0 only; {d} is not "
                                  f"supported yet")
    return b


def placed(d) -> device:
    """d with its index: device('cuda') is device('cuda', 0), where tensors go. The CPU and
    'meta' have no indices: their tensors say device('cpu'), device('meta'), as torch's."""
    d = as_device(d)
    if d.type == "meta":
        return META
    return d if d.index is not None or d.type == "cpu" else device(d.type, 0)


def on_device(data) -> bool:
    """Whether tensor data lives on a device (a DeviceArray) rather than in numpy."""
    return type(data) is DeviceArray


def to_device(array, d):
    """array (numpy, on the CPU) copied to device d: a DeviceArray."""
    d = placed(d)
    if getattr(array, "dtype", None) == dtypes.BF16:
        raise no_bfloat16_on(d)
    return storage(d, moving=True).to_device(array, d)


def no_bfloat16_on(d):
    """The error for bfloat16 on a device: the device backends have no bfloat16 kernels."""
    return TypeError(f"bfloat16 tensors cannot live on {d}: tracecomp's {d.type} backend has "
                     f"no bfloat16 kernels. Run the bfloat16 model on the CPU, or keep it in "
                     f"float32 (or float16) on {d}")


def beside(array, data):
    """array (numpy, built on the CPU) where tensor data `data` lives: array itself beside
    a numpy array, a device copy beside a DeviceArray (constants that ops build for a
    tensor, such as a mask, go where the tensor is)."""
    return to_device(array, data.device) if type(data) is DeviceArray else array


def to_host(data):
    """Tensor data as a numpy array: a DeviceArray copied back, a numpy array itself."""
    return backend(data.device.type).to_host(data) if type(data) is DeviceArray else data


def two_devices_error(first, second, detail):
    """torch's error for operands on two devices, with what each is in `detail`."""
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least "
                        f"two devices, {first} and {second}! ({detail}; move them with "
                        f".to(device) first)")


def placement_error(d, moving=False) -> Exception:
    if d.type in _BACKENDS:
        return NotImplementedError(
            f"a tracecomp {d.type} backend is registered, but tracecomp tensors have no "
            f"{d.type} storage yet: tensors live on the CPU. Create tensors with "
            f"device='cpu'; compiled code chooses its device through its backend")
    if d.type in _NOT_BUILT:
        exc, message = _NOT_BUILT[d.type]
        return exc(message)
    if moving:
        return RuntimeError(_NOT_LINKED.format(d.type))
    return NotImplementedError(_NO_KERNELS.format(d.type, d.type))


# --- the backend registry ------------------------------------------------------------------
_BACKENDS = {}
# our backends, looked for on the first question about their device type: module -> found()
# (a string, imported then: numba is heavy, and a program that never asks never pays)
DISCOVER = {"cuda": "tracecomp.codegen.cuda.device"}
# backends that need no hardware, so are always there and never registered: 'meta'
BUILT_IN = {"meta": MetaDevice()}
_LOOKED = set()


def register_backend(device_type, backend):
    """Make `backend` answer for `device_type` ('cuda'): is_available() becomes true."""
    if device_type not in DEVICE_TYPES or device_type in ("cpu", *BUILT_IN):
        raise ValueError(f"register_backend: device_type must be one of "
                         f"{', '.join(d for d in DEVICE_TYPES[1:] if d not in BUILT_IN)}, got "
                         f"{device_type!r}")
    _BACKENDS[device_type] = backend


def unregister_backend(device_type):
    _BACKENDS.pop(device_type, None)
    _LOOKED.add(device_type)            # and not looked for again


def backend(device_type):
    """The backend registered for `device_type` (ours, found on the first ask), or None."""
    b = _BACKENDS.get(device_type) or BUILT_IN.get(device_type)
    if b is None and device_type not in _LOOKED and device_type in DISCOVER:
        _LOOKED.add(device_type)
        b = importlib.import_module(DISCOVER[device_type]).found()
        if b is not None:
            _BACKENDS[device_type] = b
    return b


def used_accelerator():
    """The accelerator type whose backend is loaded already (so work may be queued on it),
    or None, without looking for one (which imports its libraries: ~0.4 s for CUDA)."""
    return next((kind for kind in ACCELERATORS if kind in _BACKENDS), None)


def current_accelerator():
    """The device type of the first registered accelerator with a device, or None."""
    for kind in ACCELERATORS:
        b = backend(kind)
        if b is not None and b.device_count() > 0:
            return kind
    return None


def _accelerator_index(index):
    """device(0): index 0 of the current accelerator, as torch."""
    if index < 0:
        raise RuntimeError("Device index must not be negative")
    kind = current_accelerator()
    if kind is None:
        raise RuntimeError(NO_ACCELERATOR)
    return device(kind, index)
