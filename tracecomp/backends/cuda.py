"""tracecomp.backends.cuda: torch.backends.cuda's flags (matmul TF32, SDPA kernels).

The flags are settable with torch's defaults. Float32 matmuls stay float32 whatever TF32
says; scaled_dot_product_attention has one implementation, standing for torch's CPU math and
flash kernels: with both turned off (here or by nn.attention.sdpa_kernel) it raises torch's
error.
is_built() says whether a CUDA backend is registered (tracecomp/devices.py)."""
import contextlib

from .. import devices
from ._flags import FlagNamespace


class _Matmul(FlagNamespace):
    """backends.cuda.matmul: allow_tf32 mirrors set_float32_matmul_precision, as torch."""

    def __setattr__(self, key, value):
        super().__setattr__(key, value)
        if key == "allow_tf32":
            precision = "high" if value else "highest"
            object.__setattr__(self, "_precision", precision)
            object.__setattr__(self, "fp32_precision", "tf32" if value else "none")


matmul = _Matmul("cuda.matmul", allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                 allow_bf16_reduced_precision_reduction=True, fp32_precision="none",
                 _precision="highest")

_SDP = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built() -> bool:
    return devices.backend("cuda") is not None


def flash_sdp_enabled() -> bool:
    return _SDP["flash"]


def enable_flash_sdp(enabled):
    _SDP["flash"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    return _SDP["mem_efficient"]


def enable_mem_efficient_sdp(enabled):
    _SDP["mem_efficient"] = bool(enabled)


def math_sdp_enabled() -> bool:
    return _SDP["math"]


def enable_math_sdp(enabled):
    _SDP["math"] = bool(enabled)


def cudnn_sdp_enabled() -> bool:
    return _SDP["cudnn"]


def enable_cudnn_sdp(enabled):
    _SDP["cudnn"] = bool(enabled)


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True,
               enable_cudnn=True):
    """with sdp_kernel(...): which SDPA kernels are allowed inside (flags only here)."""
    saved = dict(_SDP)
    _SDP.update(flash=enable_flash, math=enable_math, mem_efficient=enable_mem_efficient,
                cudnn=enable_cudnn)
    try:
        yield
    finally:
        _SDP.update(saved)
