"""torch.nn.modules.upsampling's path to Upsample and its 2-d variants (tracecomp defines
them in resample.py)."""
from .resample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]
