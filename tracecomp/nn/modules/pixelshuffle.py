"""torch.nn.modules.pixelshuffle's path to PixelShuffle and PixelUnshuffle (tracecomp
defines them in resample.py)."""
from .resample import PixelShuffle, PixelUnshuffle

__all__ = ["PixelShuffle", "PixelUnshuffle"]
