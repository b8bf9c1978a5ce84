"""torch.nn.attention: SDPBackend and sdpa_kernel, the context manager newer programs use
to pick scaled_dot_product_attention's kernels (`with sdpa_kernel(SDPBackend.MATH):`).

The choice lives in torch.backends.cuda's SDPA flags (backends/cuda.py), as torch's does,
so both spellings see one state. tracecomp's SDPA is one implementation that gives torch's
CPU answers, standing for the CPU kernels torch has there, math and flash: with neither
allowed it raises torch's "No viable backend" error; the others (memory-efficient, cuDNN)
are CUDA kernels, as on torch's CPU build.
"""
import contextlib
import enum

from ...backends import cuda as _cuda


class SDPBackend(enum.IntEnum):
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


# each backend's flag in backends/cuda.py (OVERRIDEABLE and ERROR have none: never allowed
# here, as torch's CPU build has no kernel for them)
_FLAGS = {SDPBackend.MATH: "math", SDPBackend.FLASH_ATTENTION: "flash",
          SDPBackend.EFFICIENT_ATTENTION: "mem_efficient", SDPBackend.CUDNN_ATTENTION: "cudnn"}
WARN_FOR_UNFUSED_KERNELS = False


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Inside, scaled_dot_product_attention may use only `backends` (one or a list)."""
    chosen = list(backends) if isinstance(backends, (list, tuple, set)) else [backends]
    if not all(isinstance(b, SDPBackend) for b in chosen):
        raise AssertionError(f"Backend must be an instance of SDPBackend or a list of "
                             f"SDPBackend instances, got "
                             f"{type(backends if not chosen else chosen[0]).__name__}")
    saved = dict(_cuda._SDP)
    _cuda._SDP.update({flag: backend in chosen for backend, flag in _FLAGS.items()})
    try:
        yield
    finally:
        _cuda._SDP.update(saved)


def check_kernel_allowed():
    """Raise torch's error when sdpa_kernel (or backends.cuda's flags) leave scaled dot
    product attention no CPU kernel."""
    if not (_cuda.math_sdp_enabled() or _cuda.flash_sdp_enabled()):
        raise RuntimeError("No viable backend for scaled_dot_product_attention was found. "
                           "This is likely due to turning off both the math kernel and the "
                           "fused kernels.")
