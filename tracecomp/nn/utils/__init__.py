"""nn.utils: gradient clipping, flattening parameters into one vector, and (nn.utils.rnn)
padding and packing variable-length sequences."""
from .clip_grad import (clip_grad_norm, clip_grad_norm_, clip_grad_value_,
                        clip_grads_with_norm_, get_total_norm)
from .convert_parameters import parameters_to_vector, vector_to_parameters
from . import rnn  # noqa: F401  (torch.nn.utils.rnn)

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm", "parameters_to_vector", "vector_to_parameters"]

# a torch name we lack raises NotImplementedError naming it (support.py)
from ...support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.nn.utils")
