"""tracecomp.utils: torch.utils's data loading (tracecomp.utils.data)."""
from . import data

__all__ = ["data"]
