"""tracecomp.cuda.amp: torch.cuda.amp's deprecated spellings of tracecomp.amp for 'cuda'.

Each warns as torch does (FutureWarning) and is the 'cuda' case of tracecomp.amp: without
a CUDA device, autocast and GradScaler warn again and disable themselves.
"""
import functools
import warnings

from .. import amp, dtypes
from ..user_code import user_stacklevel


def _deprecated(name, replacement):
    warnings.warn(f"`torch.cuda.amp.{name}(args...)` is deprecated. Please use "
                  f"`{replacement}` instead.", FutureWarning, stacklevel=user_stacklevel())


class autocast(amp.autocast):
    def __init__(self, enabled=True, dtype=dtypes.float16, cache_enabled=True):
        _deprecated("autocast", "torch.amp.autocast('cuda', args...)")
        super().__init__("cuda", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)


class GradScaler(amp.GradScaler):
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        _deprecated("GradScaler", "torch.amp.GradScaler('cuda', args...)")
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval,
                         enabled=enabled)


def custom_fwd(fwd=None, *, cast_inputs=None):
    _deprecated("custom_fwd", "torch.amp.custom_fwd(args..., device_type='cuda')")
    if fwd is None:
        return functools.partial(amp.custom_fwd, device_type="cuda", cast_inputs=cast_inputs)
    return amp.custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd=None):
    _deprecated("custom_bwd", "torch.amp.custom_bwd(args..., device_type='cuda')")
    if bwd is None:
        return functools.partial(amp.custom_bwd, device_type="cuda")
    return amp.custom_bwd(bwd, device_type="cuda")
