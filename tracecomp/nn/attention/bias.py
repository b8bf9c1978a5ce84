"""torch.nn.attention.bias: causal masks as attention biases that scaled_dot_product_attention
understands without a materialized mask (the SDPA tutorial's "attn_bias subclasses").

    bias = causal_lower_right(seq_len_q, seq_len_kv)
    out = F.scaled_dot_product_attention(q, k, v, bias)

CausalBias is a Tensor-like holding only its variant and sizes; its __torch_function__
turns the SDPA call into is_causal=True (upper left, or equal lengths) or into a call with
the materialized lower-right boolean mask, as torch's CPU path does. Printing it prints
the materialized mask. Compiled code traces the call, whether the bias is made inside it
or passed to it (then a static argument, keyed by variant and lengths).
"""
import enum
import warnings

from ... import ones, tril
from ...devices import device as _device
from ...tensor import Tensor
from ...user_code import user_stacklevel
from .. import functional as F


class CausalVariant(enum.IntEnum):
    """UPPER_LEFT: tril(ones(L, S)); LOWER_RIGHT: tril(ones(L, S), diagonal=S - L)."""
    UPPER_LEFT = 1
    LOWER_RIGHT = 2


class CausalBias(Tensor):
    """A causal attention bias of one variant for seq_len_q queries and seq_len_kv keys."""

    # made inside compiled code, its handler is traced (torch_function._traced_through):
    # it only calls scaled_dot_product_attention with a mask or is_causal
    _tracecomp_traced_torch_function = True

    def _tracecomp_static_key(self):
        """What a compiled call given this bias keys on (it holds no data)."""
        return (int(self.variant), self.seq_len_q, self.seq_len_kv)

    def __init__(self, variant, seq_len_q, seq_len_kv):
        if not isinstance(variant, CausalVariant):
            raise AssertionError(f"variant must be a CausalVariant, got "
                                 f"{type(variant).__name__}")
        super().__init__()
        self.variant, self.seq_len_q, self.seq_len_kv = variant, seq_len_q, seq_len_kv
        if seq_len_q > seq_len_kv and variant == CausalVariant.LOWER_RIGHT:
            warnings.warn("Lower right causal bias will produce NaNs in the output when "
                          "seq_len_q > seq_len_kv!", stacklevel=user_stacklevel())

    def _materialize(self, device=None):
        """The boolean mask: True where a query may attend to a key."""
        # diagonal S - L aligns the triangle to the lower right corner
        offset = 0 if self.variant == CausalVariant.UPPER_LEFT else self.seq_len_kv - self.seq_len_q
        mask = ones(self.seq_len_q, self.seq_len_kv, dtype=bool,
                    device=_device("cpu") if device is None else device)
        return tril(mask, diagonal=offset)

    @staticmethod
    def _dispatch(query, key, value, attn_mask, dropout_p=0.0, is_causal=False, scale=None,
                  enable_gqa=False):
        if is_causal:
            raise ValueError("CausalBias should not be used with causal=True")
        if attn_mask.seq_len_q == attn_mask.seq_len_kv or \
                attn_mask.variant == CausalVariant.UPPER_LEFT:
            return F.scaled_dot_product_attention(query, key, value, attn_mask=None,
                                                  dropout_p=dropout_p, is_causal=True,
                                                  scale=scale, enable_gqa=enable_gqa)
        return F.scaled_dot_product_attention(query, key, value,
                                              attn_mask=attn_mask._materialize(query.device),
                                              dropout_p=dropout_p, is_causal=False,
                                              scale=scale, enable_gqa=enable_gqa)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return cls._dispatch(*args, **kwargs)
        return super().__torch_function__(func, types, args, kwargs)

    def __repr__(self):
        return repr(self._materialize())


def _two_sizes(name, size):
    if len(size) != 2:
        raise AssertionError(f"{name} only supports 2D tensors")
    return size


def causal_upper_left(*size):
    """CausalBias(UPPER_LEFT, seq_len_q, seq_len_kv): is_causal=True's mask."""
    seq_len_q, seq_len_kv = _two_sizes("causal_upper_left", size)
    return CausalBias(CausalVariant.UPPER_LEFT, seq_len_q, seq_len_kv)


def causal_lower_right(*size):
    """CausalBias(LOWER_RIGHT, seq_len_q, seq_len_kv): the last query sees every key."""
    seq_len_q, seq_len_kv = _two_sizes("causal_lower_right", size)
    return CausalBias(CausalVariant.LOWER_RIGHT, seq_len_q, seq_len_kv)
