"""tracecomp.utils: torch.utils's data loading (data), activation checkpointing
(checkpoint) and hook handles (hooks)."""
from . import checkpoint, data, hooks

__all__ = ["checkpoint", "data", "hooks"]
