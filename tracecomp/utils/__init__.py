"""tracecomp.utils: torch.utils's data loading (data), activation checkpointing
(checkpoint), hook handles (hooks) and statement timing (benchmark)."""
import importlib

from . import checkpoint, data, hooks

__all__ = ["benchmark", "checkpoint", "data", "hooks"]


def __getattr__(name):
    # benchmark is imported on first use: `import tracecomp` need not pay its ~10 ms
    if name == "benchmark":
        return importlib.import_module(f"{__name__}.benchmark")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
