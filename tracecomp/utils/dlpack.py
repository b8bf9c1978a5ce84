"""torch.utils.dlpack: from_dlpack and to_dlpack (tracecomp/interchange.py)."""
from ..interchange import from_dlpack, to_dlpack

__all__ = ["from_dlpack", "to_dlpack"]
