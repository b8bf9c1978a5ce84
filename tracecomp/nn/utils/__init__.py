"""nn.utils: gradient clipping, flattening parameters into one vector, (nn.utils.rnn)
padding and packing variable-length sequences, and reparametrizations: parametrize,
parametrizations (weight_norm, spectral_norm), the legacy hook-based weight_norm and
spectral_norm, prune, stateless (functional_call), folding batch norms into convs (fusion),
skip_init, and conv weights laid out channels-last (memory_format)."""
from .clip_grad import (clip_grad_norm, clip_grad_norm_, clip_grad_value_,
                        clip_grads_with_norm_, get_total_norm)
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .fusion import (fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval,
                     fuse_linear_bn_weights)
from .init import skip_init
from .memory_format import (convert_conv2d_weight_memory_format,
                            convert_conv3d_weight_memory_format)
from . import fusion, init, memory_format  # noqa: F401
from . import rnn  # noqa: F401  (torch.nn.utils.rnn)
from . import parametrizations, parametrize, prune, stateless  # noqa: F401
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm", "parameters_to_vector", "vector_to_parameters",
           "remove_spectral_norm", "remove_weight_norm", "spectral_norm", "weight_norm",
           "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights", "skip_init", "convert_conv2d_weight_memory_format",
           "convert_conv3d_weight_memory_format"]

# a torch name we lack raises NotImplementedError naming it (support.py)
from ...support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.nn.utils")
