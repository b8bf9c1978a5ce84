"""torch.nn.modules.fold's path to Fold and Unfold (tracecomp defines them in resample.py)."""
from .resample import Fold, Unfold

__all__ = ["Fold", "Unfold"]
