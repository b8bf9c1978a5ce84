"""tracecomp.utils: torch.utils's data loading (data), activation checkpointing
(checkpoint), hook handles (hooks), statement timing (benchmark), checkpoint downloads
(model_zoo) and DLPack exchange (dlpack)."""
import importlib

from . import checkpoint, data, dlpack, hooks

__all__ = ["benchmark", "checkpoint", "data", "dlpack", "hooks", "model_zoo"]


def __getattr__(name):
    # imported on first use: `import tracecomp` need not pay for them (benchmark ~10 ms)
    if name in ("benchmark", "model_zoo"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
