"""torch.nn.utils.stateless: the deprecated home of functional_call. As torch's, it warns
(FutureWarning) and does what torch.func.functional_call does (functional_call.py)."""
import warnings

from ...user_code import user_stacklevel
from .functional_call import functional_call as _functional_call


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch "
                  "2.0 and will be removed in a future version of PyTorch. Please use "
                  "`torch.func.functional_call` instead which is a drop-in replacement.",
                  FutureWarning, stacklevel=user_stacklevel())
    return _functional_call(module, parameters_and_buffers, args, kwargs,
                            tie_weights=tie_weights, strict=strict)
