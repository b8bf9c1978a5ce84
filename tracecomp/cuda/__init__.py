"""tracecomp.cuda: torch.cuda's API, answered from the device registry (tracecomp/devices.py).

With no CUDA backend registered (today) every answer is torch's CPU-only build's on a
machine without a GPU: is_available() is False, device_count() is 0, seeding and
empty_cache are no-ops, memory counters are 0, and what needs a device raises
AssertionError("Torch not compiled with CUDA enabled"). When a backend registers
(`devices.register_backend("cuda", backend)`), the questions go to it; tensors still live on
the CPU, so creating one on 'cuda' keeps refusing (devices.check_placement says why).
"""
from .. import devices
from ..legacy_types import CUDA_TYPES

NOT_COMPILED = "Torch not compiled with CUDA enabled"

# torch.cuda.FloatTensor & co: names programs may use; no tensor is ever one
FloatTensor, DoubleTensor, HalfTensor = (CUDA_TYPES[n] for n in
                                         ("FloatTensor", "DoubleTensor", "HalfTensor"))
ByteTensor, CharTensor, ShortTensor = (CUDA_TYPES[n] for n in
                                       ("ByteTensor", "CharTensor", "ShortTensor"))
IntTensor, LongTensor, BoolTensor = (CUDA_TYPES[n] for n in
                                     ("IntTensor", "LongTensor", "BoolTensor"))


class OutOfMemoryError(RuntimeError):
    """torch.cuda.OutOfMemoryError (also torch.OutOfMemoryError): programs catch it."""


_state = {"device": 0, "initialized": False, "seed": None}


def _backend():
    return devices.backend("cuda")


def _require():
    """The registered backend, or torch's CPU-build error."""
    b = _backend()
    if b is None:
        raise AssertionError(NOT_COMPILED)
    return b


def _index(device):
    """A device argument (None, int, 'cuda:1', device) as a CUDA device index."""
    if device is None:
        return _state["device"]
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    d = devices.as_device(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return _state["device"] if d.index is None else d.index


# --- availability and the current device ---------------------------------------------------
def is_available() -> bool:
    b = _backend()
    return b is not None and b.device_count() > 0


def device_count() -> int:
    b = _backend()
    return 0 if b is None else b.device_count()


def is_initialized() -> bool:
    return _state["initialized"]


def init():
    _require()
    _state["initialized"] = True


def current_device() -> int:
    _require()
    return _state["device"]


def set_device(device):
    """Select the current CUDA device (a negative index is a no-op, as torch)."""
    index = _index(device)
    if index < 0:
        return
    if _backend() is None:
        raise AttributeError(f"set_device({device!r}): {NOT_COMPILED}; there is no CUDA "
                             f"device to select")
    _state["device"] = index


class device:
    """torch.cuda.device(i): a context manager that makes device i current."""

    def __init__(self, device):
        self.idx, self.prev_idx = _index(device), -1

    def __enter__(self):
        if self.idx < 0:
            return None
        if _backend() is None:
            raise RuntimeError("PyTorch was compiled without CUDA support")
        self.prev_idx, _state["device"] = _state["device"], self.idx
        return None

    def __exit__(self, *exc):
        if self.prev_idx >= 0:
            _state["device"] = self.prev_idx
        return False


def get_device_name(device=None) -> str:
    return _require().get_device_name(_index(device))


def get_device_properties(device=None):
    return _require().get_device_properties(_index(device))


def get_device_capability(device=None):
    b = _require()
    return getattr(b, "get_device_capability", lambda i: (0, 0))(_index(device))


def synchronize(device=None):
    _require().synchronize(_index(device))


def is_bf16_supported(including_emulation=True) -> bool:
    return False            # the CUDA backend has no bfloat16 kernels (devices.to_device)


def get_arch_list() -> list:
    return []


# --- random numbers: no-ops without a device, as torch ------------------------------------
def manual_seed(seed):
    """Seed the CUDA generator: a no-op without a device, as torch."""
    b = _backend()
    if b is not None:
        _state["seed"] = int(seed)
        if hasattr(b, "manual_seed"):
            b.manual_seed(int(seed))


manual_seed_all = manual_seed


def seed():
    return None


seed_all = seed


def initial_seed() -> int:
    """The last CUDA seed; until one is set, the CPU generator's (tracecomp has one RNG)."""
    _require()
    from ..creation import initial_seed as cpu_initial_seed
    return cpu_initial_seed() if _state["seed"] is None else _state["seed"]


# --- memory: 0 without a device, as torch ------------------------------------------------
def _counter(name):
    def counter(device=None) -> int:
        b = _backend()
        if b is None or not hasattr(b, name):
            return 0
        return getattr(b, name)(_index(device))
    counter.__name__ = name
    return counter


memory_allocated = _counter("memory_allocated")
max_memory_allocated = _counter("max_memory_allocated")
memory_reserved = _counter("memory_reserved")
max_memory_reserved = _counter("max_memory_reserved")


def memory_stats(device=None) -> dict:
    return {}


def empty_cache():
    b = _backend()
    if b is not None and hasattr(b, "empty_cache"):
        b.empty_cache()


def reset_peak_memory_stats(device=None):
    """torch's CPU build raises AttributeError here (it has no CUDA allocator)."""
    b = _backend()
    if b is None:
        raise AttributeError(f"reset_peak_memory_stats: {NOT_COMPILED}; there are no CUDA "
                             f"memory statistics to reset")
    if hasattr(b, "reset_peak_memory_stats"):
        b.reset_peak_memory_stats(_index(device))


reset_max_memory_allocated = reset_peak_memory_stats


def set_per_process_memory_fraction(fraction, device=None):
    _require()
    raise NotImplementedError("set_per_process_memory_fraction: tracecomp's CUDA backend "
                              "does not cap its memory")


# --- RNG states: there are none without a device (torch's CPU build returns [] / no-ops) ----
def get_rng_state(device="cuda"):
    _require()
    raise NotImplementedError("cuda.get_rng_state: tracecomp has one random generator, the "
                              "CPU's (tracecomp.get_rng_state)")


def get_rng_state_all() -> list:
    if _backend() is None:
        return []
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state(new_state, device="cuda"):
    if _backend() is not None:
        get_rng_state(device)           # raises: no CUDA generator to restore


def set_rng_state_all(new_states):
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


# --- streams and events: CUDA-only objects ---------------------------------------------------
class Stream:
    def __new__(cls, *args, **kwargs):
        raise RuntimeError("torch.cuda.Stream requires CUDA support")


class Event:
    def __new__(cls, *args, **kwargs):
        raise RuntimeError("Tried to instantiate dummy base class Event")


def current_stream(device=None):
    _require()
    raise NotImplementedError("cuda.current_stream: tracecomp's CUDA backend does not expose "
                              "streams")


default_stream = current_stream


class stream:
    """with cuda.stream(s): only stream None (the default) exists here, as without CUDA."""

    def __init__(self, s):
        if s is not None:
            raise RuntimeError("torch.cuda.Stream requires CUDA support")
        self.stream = None

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def is_tf32_supported() -> bool:
    return False


def get_gencode_flags() -> str:
    return ""


from . import random  # noqa: E402,F401  (torch.cuda.random: the functions above)

# a torch.cuda name we lack raises NotImplementedError naming it (support.py)
from ..support import missing_in as _missing_in  # noqa: E402

_missing = _missing_in("torch.cuda")


def __getattr__(name):
    # torch.cuda._initialized, a private flag programs read (performer-pytorch's reversible
    # layers record the CUDA generators' states only once CUDA is initialized), read live
    if name == "_initialized":
        return _state["initialized"]
    return _missing(name)
