"""tracecomp.backends: torch.backends' flags (cudnn, cuda, mps, mkldnn, ...), and torch's
matmul-precision and determinism switches.

Programs set these for speed or reproducibility (`torch.backends.cudnn.deterministic =
True`, `torch.backends.cuda.matmul.allow_tf32 = True`). They are settable flags with
torch's CPU-build defaults; none changes a tracecomp result: tracecomp computes float32
matmuls in float32 (no TF32 or bfloat16 shortcuts) and has no faster nondeterministic
kernels to switch off. The availability questions answer as torch's CPU build does.
"""
import types
import warnings

from . import cuda, cudnn, mha, mps  # noqa: F401  (tracecomp.backends.cudnn, ...)
from ._flags import flag_namespace
from ..user_code import user_stacklevel

# the CPU libraries torch's CPU build has: flags only, tracecomp does not call them
mkldnn = flag_namespace("mkldnn", enabled=True, is_available=lambda: True)
mkl = types.SimpleNamespace(is_available=lambda: True)
openmp = types.SimpleNamespace(is_available=lambda: True)

_PRECISIONS = ("highest", "high", "medium")
_STATE = {"deterministic": False, "warn_only": False}


def set_float32_matmul_precision(precision):
    """'highest', 'high' or 'medium': on a GPU, whether float32 matmuls may use TF32.
    Recorded (and mirrored in backends.cuda.matmul.allow_tf32, as torch); the CPU computes
    float32 matmuls in float32 whatever it says."""
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      f"setFloat32MatmulPrecision call has no effect.",
                      stacklevel=user_stacklevel())
        return
    cuda.matmul.allow_tf32 = precision != "highest"
    cuda.matmul._precision = precision


def get_float32_matmul_precision() -> str:
    return cuda.matmul._precision


def use_deterministic_algorithms(mode, *, warn_only=False):
    _STATE["deterministic"], _STATE["warn_only"] = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _STATE["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _STATE["warn_only"]


# a torch.backends name we lack raises NotImplementedError naming it (support.py)
from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.backends")
