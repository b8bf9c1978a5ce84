"""torch.distributions.utils: the helpers a custom distribution uses, the ones the families
here are written with (one definition each, in distribution.py and transforms_structured)."""
from .distribution import (
                           broadcast_all,
                           clamp_probs,
                           lazy_property,
                           logits_to_probs,
                           probs_to_logits,
)
from .transformed_distribution import EULER_GAMMA as euler_constant
from .transforms_structured import tril_matrix_to_vec, vec_to_tril_matrix

__all__ = ["broadcast_all", "clamp_probs", "euler_constant", "lazy_property",
           "logits_to_probs", "probs_to_logits", "tril_matrix_to_vec", "vec_to_tril_matrix"]
