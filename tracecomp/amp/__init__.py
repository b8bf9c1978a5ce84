"""tracecomp.amp: torch.amp's automatic mixed precision API (autocast, GradScaler).

What tracecomp does with each (it never lowers precision itself) is said in
autocast_mode.py and grad_scaler.py.
"""
from .autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "is_autocast_available"]

# a torch.amp name we lack raises NotImplementedError naming it (support.py)
from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.amp")
