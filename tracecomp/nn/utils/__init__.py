"""nn.utils: gradient clipping and flattening parameters into one vector."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]

# a torch name we lack raises NotImplementedError naming it (support.py)
from ...support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.nn.utils")
