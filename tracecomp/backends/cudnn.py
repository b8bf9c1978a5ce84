"""tracecomp.backends.cudnn: torch.backends.cudnn's flags, with torch's CPU-build values.

`cudnn.deterministic = True` and `cudnn.benchmark = False` are settable and kept; tracecomp
does not use cuDNN, so they change nothing, and is_available() is False."""
import contextlib
import sys

enabled = True
benchmark = False
benchmark_limit = None      # torch's CPU build: None (no cuDNN to benchmark)
deterministic = False
allow_tf32 = True
fp32_precision = "none"


def is_available() -> bool:
    return False


def version():
    return None


def is_acceptable(tensor) -> bool:
    return False


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=None, deterministic=False,
          allow_tf32=True, fp32_precision="none", depthwise_kernel="auto"):
    """with cudnn.flags(...): these flag values inside, the previous ones restored after."""
    module = sys.modules[__name__]
    names = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32",
             "fp32_precision")
    saved = {n: getattr(module, n) for n in names}
    for n, v in zip(names, (enabled, benchmark, benchmark_limit, deterministic, allow_tf32,
                            fp32_precision)):
        setattr(module, n, v)
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(module, n, v)
