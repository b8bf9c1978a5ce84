"""tracecomp.utils: torch.utils's data loading (data), activation checkpointing
(checkpoint), hook handles (hooks), statement timing (benchmark), checkpoint downloads
(model_zoo) and DLPack exchange (dlpack)."""
import importlib

from . import hooks

__all__ = ["benchmark", "checkpoint", "data", "dlpack", "hooks", "model_zoo"]


def __getattr__(name):
    # imported on first use: `import tracecomp` need not pay for them (data ~12 ms, with its
    # loader, samplers and worker processes; benchmark ~10 ms). Module.register_*_hook's
    # handles (hooks) are needed by every module.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
