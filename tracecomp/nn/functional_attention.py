"""Attention for tracecomp.nn.functional: scaled_dot_product_attention and
multi_head_attention_forward, with torch's arguments, masks, errors and numbers.

Both are compositions of public ops (matmul, softmax, where), so the tape, the tracer and
the graph autodiff see only primitives. Two torch behaviours are kept on purpose:
scaled_dot_product_attention gives 0 (value and gradient) for a query row whose every key
is masked out, as torch's CPU kernel does, while multi_head_attention_forward with
need_weights=True takes the plain softmax and gives NaN there, as torch's does.
"""
import math
import warnings

import numpy as np

from .. import composite as C
from ..amp.cpu_policy import LOWER, autocast_op
from ..creation import tensor, zeros
from ..dtypes import np_kind
from ..errors import DTypeError, ShapeError, fmt_shape
from ..ops import elementwise as ew
from ..ops import movement as mv
from ..ops.linalg import matmul
from ..user_code import user_stacklevel
from . import functional as F  # linear, dropout (F re-exports this file: import the module)
from .attention import check_kernel_allowed

_TORCH_DTYPE = {"float32": "float", "float64": "double", "float16": "Half", "bool": "bool",
                "int64": "long int", "int32": "int"}


def _torch_dtype(t):
    return _TORCH_DTYPE.get(t.dtype.name, t.dtype.name)


def _is_float(t):
    return np_kind(t._data.dtype) == "f"


def _check_sdpa(query, key, value, attn_mask, dropout_p):
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError(f"Expected query, key, and value to all be  at least 2 dimensional, "
                         f"but got query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: "
                         f"{value.ndim} instead.")
    if not query.dtype == key.dtype == value.dtype:
        raise DTypeError(f"Expected query, key, and value to have the same dtype, but got "
                         f"query.dtype: {_torch_dtype(query)} key.dtype: {_torch_dtype(key)} "
                         f"and value.dtype: {_torch_dtype(value)} instead.")
    if attn_mask is not None and attn_mask.dtype.name != "bool" and \
            attn_mask.dtype != query.dtype:
        raise DTypeError(f"Expected attn_mask dtype to be bool or float or to match query "
                         f"dtype, but got attn_mask.dtype: {_torch_dtype(attn_mask)} and  "
                         f"query.dtype: {_torch_dtype(query)} instead.")
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(f"scaled_dot_product_attention: query {fmt_shape(query.shape)} and "
                         f"key {fmt_shape(key.shape)} must have the same last (embedding) dim")
    if key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: key {fmt_shape(key.shape)} and value "
                         f"{fmt_shape(value.shape)} must have the same sequence length "
                         f"(dim -2)")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got "
                           f"{dropout_p}")


def _repeat_heads(x, groups):
    """repeat_interleave(x, groups, dim=-3): each key/value head serves `groups` query heads."""
    if groups == 1:
        return x
    shape = tuple(x.shape)
    wide = mv.expand(C.unsqueeze(x, -3), shape[:-2] + (groups,) + shape[-2:])
    return mv.reshape(wide, shape[:-3] + (shape[-3] * groups,) + shape[-2:])


def _gqa(query, key, value):
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hq % hk or hq % hv:
        raise ShapeError(f"Number of heads in key and value must divide the number of heads in "
                         f"query (scaled_dot_product_attention got {hq} query heads, {hk} key "
                         f"heads and {hv} value heads)")
    return _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hv)


def _masked_softmax(scores):
    """softmax over the last dim where a row of only -inf gives zeros and no NaN gradient."""
    if not scores.numel():
        return C.softmax(scores, -1)            # empty: no row to test (amax would refuse)
    dead = C.amax(scores, -1, keepdim=True) == float("-inf")
    weights = C.softmax(ew.where(dead, 0.0, scores), -1)
    return ew.where(dead, 0.0, weights)


@autocast_op(LOWER)
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value over (..., L, E) x (..., S, E) x
    (..., S, Ev). A bool mask keeps the True positions, a float mask is added; is_causal
    keeps key j <= query i. dropout_p drops attention weights (always: there is no
    training flag, as in torch)."""
    _check_sdpa(query, key, value, attn_mask, dropout_p)
    check_kernel_allowed()
    if is_causal and attn_mask is not None and (
            query.ndim != 4 or dropout_p > 0.0 or value.shape[-1] != query.shape[-1]):
        # torch's math path refuses both; its fused CPU kernel (4-D, no dropout, Ev == E)
        # applies both, as below
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                           "when is_causal=True")
    if enable_gqa and query.ndim >= 3:
        key, value = _gqa(query, key, value)
    if 0 in (query.shape[-2], value.shape[-1]) or 0 in query.shape[:-2]:
        attn_mask = None        # an empty result: torch leaves the mask out (no gradient)
    length, source = query.shape[-2], key.shape[-2]
    scores = matmul(query, C.transpose(key, -2, -1))
    if query.shape[-1]:         # E = 0: the scores are empty sums, 0 whatever the scale
        scores = scores * (1.0 / math.sqrt(query.shape[-1]) if scale is None else scale)
    if is_causal:
        causal = tensor(np.tril(np.ones((length, source), dtype=bool)), device=query.device)
        if attn_mask is None:
            attn_mask = causal
        elif attn_mask.dtype.name == "bool":
            attn_mask = ew.logical_and(attn_mask, causal)
        else:
            attn_mask = ew.where(causal, attn_mask, float("-inf"))
    if attn_mask is None:
        weights = C.softmax(scores, -1)
    else:
        if attn_mask.dtype.name == "bool":
            scores = ew.where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
        weights = _masked_softmax(scores)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, True)
        return matmul(weights, value)
    return _query_order(query, matmul(weights, value))


def _query_order(query, out):
    """out laid out in memory as torch's fused CPU kernel (4-D, no dropout) lays it: in the
    query's order, so a query made as proj(x).view(B, L, H, E).transpose(1, 2) gives an out
    whose out.transpose(1, 2).view(B, L, H * E) works (the SDPA tutorial's attention
    module); a row-major query gives a row-major out. Eager only: strides are numpy's."""
    if query.ndim != 4 or not isinstance(query._data, np.ndarray) or \
            query.stride(2) <= query.stride(1) or out.shape[1] == 1 or out.shape[2] == 1:
        return out
    return C.transpose(C.transpose(out, 1, 2).contiguous(), 1, 2)


# --- multi-head attention ------------------------------------------------------------------
def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """torch's mask normal form: None, or a float mask with -inf where a bool mask is True."""
    if mask is None:
        return None
    if mask.dtype.name != "bool" and not _is_float(mask):
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use "
                      f"same type for both instead.", stacklevel=user_stacklevel())
    if not _is_float(mask):
        mask = C.masked_fill(zeros(tuple(mask.shape), dtype=target_type, device=mask.device),
                             mask, float("-inf"))
    return mask


def _none_or_dtype(t):
    return None if t is None else t.dtype


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True for batched (3-D) input, False for unbatched (2-D); torch's messages otherwise."""
    if query.ndim not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")
    batched = query.ndim == 3
    kind, want = ("batched (3-D)", 3) if batched else ("unbatched (2-D)", 2)
    if key.ndim != want or value.ndim != want:
        raise AssertionError(f"For {kind} `query`, expected `key` and `value` to be {want}-D but "
                             f"found {key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != want - 1:
        raise AssertionError(f"For {kind} `query`, expected `key_padding_mask` to be `None` or "
                             f"{want - 1}-D but found {key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise AssertionError(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or "
                                 f"3-D but found {attn_mask.ndim}-D tensor instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                 f"{fmt_shape(attn_mask.shape)}")
    return batched


def _in_projection(query, key, value, w, b, separate, embed_dim):
    """q, k, v projected: one packed (3E, E) weight, or three separate weights."""
    if separate is None:
        ws = C.chunk(w, 3)
    else:
        ws = separate
    bs = (None, None, None) if b is None else C.chunk(b, 3)
    for name, x, wi in zip("qkv", (query, key, value), ws):
        if x.shape[-1] != wi.shape[-1] or wi.shape[0] != embed_dim:
            raise ShapeError(f"multi_head_attention_forward: {name}_proj weight "
                             f"{fmt_shape(wi.shape)} does not fit a {name} input of shape "
                             f"{fmt_shape(x.shape)} (expected ({embed_dim}, "
                             f"{x.shape[-1]}))")
    return tuple(F.linear(x, wi, bi) for x, wi, bi in zip((query, key, value), ws, bs))


def _prep_attn_mask(attn_mask, tgt_len, src_len, bsz, num_heads):
    if attn_mask.ndim == 2:
        if tuple(attn_mask.shape) != (tgt_len, src_len):
            raise RuntimeError(f"The shape of the 2D attn_mask is {fmt_shape(attn_mask.shape)}, "
                               f"but should be {(tgt_len, src_len)}.")
        return C.unsqueeze(attn_mask, 0)
    if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
        raise RuntimeError(f"The shape of the 3D attn_mask is {fmt_shape(attn_mask.shape)}, "
                           f"but should be {(bsz * num_heads, tgt_len, src_len)}.")
    return attn_mask


def _pad_last(mask):
    """One more key (bias_kv or the zero key): its column is not masked."""
    return None if mask is None else \
        mv.pad(mask, ((0, 0, 0),) * (mask.ndim - 1) + ((0, 1, 0),), 0.0)


def _heads(x, length, bsz, num_heads, head_dim):
    """(length, bsz, E) -> (bsz * num_heads, length, head_dim)."""
    return C.transpose(mv.reshape(x, (length, bsz * num_heads, head_dim)), 0, 1)


def _static(static, name, bsz, num_heads, head_dim):
    if static.shape[0] != bsz * num_heads:
        raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got "
                             f"{static.shape[0]}")
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got "
                             f"{static.shape[2]}")
    return static


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """torch.nn.functional.multi_head_attention_forward on (L, N, E) query and (S, N, E*)
    key/value (or unbatched (L, E)); returns (output, weights or None)."""
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = (C.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = C.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None            # the hint stands for the mask: SDPA applies it
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False       # the merged mask is no longer causal
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {fmt_shape(key.shape[:2])} do "
                                 f"not match value's {fmt_shape(value.shape[:2])}")
        separate = (q_proj_weight, k_proj_weight, v_proj_weight)
        for name, w in zip(("q", "k", "v"), separate):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight "
                                     f"is None")
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise AssertionError(f"key shape {fmt_shape(key.shape)} does not match value shape "
                                 f"{fmt_shape(value.shape)}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        separate = None
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate,
                             embed_dim)
    if attn_mask is not None:
        attn_mask = _prep_attn_mask(attn_mask, tgt_len, src_len, bsz, num_heads)
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = C.cat([k, C.repeat(bias_k, 1, bsz, 1)])
        v = C.cat([v, C.repeat(bias_v, 1, bsz, 1)])
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        which = "bias_k" if bias_k is not None else "bias_v"
        other = "bias_v" if bias_k is not None else "bias_k"
        raise AssertionError(f"{which} is set but {other} is None")
    q = _heads(q, tgt_len, bsz, num_heads, head_dim)
    k = _heads(k, k.shape[0], bsz, num_heads, head_dim) if static_k is None else \
        _static(static_k, "static_k", bsz, num_heads, head_dim)
    v = _heads(v, v.shape[0], bsz, num_heads, head_dim) if static_v is None else \
        _static(static_v, "static_v", bsz, num_heads, head_dim)
    if add_zero_attn:
        k = C.cat([k, zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype, device=k.device)],
                  dim=1)
        v = C.cat([v, zeros((bsz * num_heads, 1, head_dim), dtype=v.dtype, device=v.device)],
                  dim=1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            dim, want = (0, bsz) if key_padding_mask.shape[0] != bsz else (1, src_len)
            raise AssertionError(f"Expected key_padded_mask.shape[{dim}] to be {want}, but got "
                                 f"{key_padding_mask.shape[dim]}")
        kpm = mv.reshape(mv.expand(mv.reshape(key_padding_mask, (bsz, 1, 1, src_len)),
                                   (bsz, num_heads, 1, src_len)),
                         (bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        return _weights_path(q, k, v, attn_mask, dropout_p, out_proj_weight, out_proj_bias,
                             (tgt_len, bsz, num_heads, src_len, embed_dim),
                             average_attn_weights, batched)
    if attn_mask is not None:
        attn_mask = C.unsqueeze(attn_mask, 0) if attn_mask.shape[0] == 1 else \
            mv.reshape(attn_mask, (bsz, num_heads, -1, src_len))
    q, k, v = (mv.reshape(t, (bsz, num_heads, -1, head_dim)) for t in (q, k, v))
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = mv.reshape(mv.permute(out, (2, 0, 1, 3)), (bsz * tgt_len, embed_dim))
    out = mv.reshape(F.linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, -1))
    return (out if batched else C.squeeze(out, 1)), None


def _weights_path(q, k, v, attn_mask, dropout_p, out_w, out_b, sizes, average, batched):
    """need_weights=True: the explicit softmax, whose weights are returned too."""
    tgt_len, bsz, num_heads, src_len, embed_dim = sizes
    scores = matmul(q * math.sqrt(1.0 / float(q.shape[-1])), C.transpose(k, -2, -1))
    if attn_mask is not None:
        scores = attn_mask + scores
    weights = C.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    out = matmul(weights, v)
    out = mv.reshape(C.transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
    out = mv.reshape(F.linear(out, out_w, out_b), (tgt_len, bsz, -1))
    weights = mv.reshape(weights, (bsz, num_heads, tgt_len, src_len))
    if average:
        weights = C.mean(weights, 1)
    if not batched:
        out, weights = C.squeeze(out, 1), C.squeeze(weights, 0)
    return out, weights
