"""tracecomp.cpu.amp: torch.cpu.amp's deprecated spellings of tracecomp.amp for 'cpu'.

Each warns as torch does (FutureWarning). autocast here defaults to bfloat16 (see
tracecomp/amp/autocast_mode.py); GradScaler scales for real on the CPU.
"""
import warnings

from .. import amp, dtypes
from ..user_code import user_stacklevel


def _deprecated(name):
    warnings.warn(f"`torch.cpu.amp.{name}(args...)` is deprecated. Please use "
                  f"`torch.amp.{name}('cpu', args...)` instead.", FutureWarning,
                  stacklevel=user_stacklevel())


class autocast(amp.autocast):
    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        _deprecated("autocast")
        super().__init__("cpu", enabled=enabled, dtype=dtype or dtypes.bfloat16,
                         cache_enabled=cache_enabled)


class GradScaler(amp.GradScaler):
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        _deprecated("GradScaler")
        super().__init__("cpu", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval,
                         enabled=enabled)
