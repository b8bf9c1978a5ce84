"""torch.nn.attention.flex_attention: attention whose scores a Python function modifies
(score_mod) and whose pattern a Python predicate masks (mask_mod, through a BlockMask).

    def relative(score, b, h, q_idx, kv_idx):
        return score + (q_idx - kv_idx)
    def causal(b, h, q_idx, kv_idx):
        return q_idx >= kv_idx
    out = flex_attention(q, k, v, score_mod=relative,
                         block_mask=create_block_mask(causal, None, None, L, S))

torch calls score_mod and mask_mod under vmap, one score at a time; here they are called
once on index tensors shaped to broadcast against the [B, H, L, S] scores (b: [B,1,1,1],
h: [1,H,1,1], q_idx: [1,1,L,1], kv_idx: [1,1,1,S]), which gives the same numbers for the
tensor expressions these functions are written in (arithmetic, comparisons, where,
indexing a table by an index). The masked softmax is then dense: a BlockMask's blocks only
let torch's kernel skip work, and the answer is the one of mask_mod over every position.
As torch: scores in float32, fully masked rows give 0 and a log-sum-exp of -inf. Gradients
come from the ops (torch 2.13 has no CPU backward for it); compiled code traces it.
"""
import math

from ... import arange, float32, logsumexp, ones, where
from ... import bool as bool_
from ...tensor import Tensor

_DEFAULT_SPARSE_BLOCK_SIZE = 128


def noop_mask(b, h, q_idx, kv_idx):
    """Every position attends everywhere."""
    return b.new_ones(size=(), dtype=bool_)


def _combine(mods, both):
    if not all(callable(m) for m in mods):
        raise RuntimeError(f"All inputs should be callable mask_mods: {mods}")

    def mask_mod(b, h, q_idx, kv_idx):
        result = b.new_ones(size=(), dtype=bool_) if both else b.new_zeros(size=(), dtype=bool_)
        for mod in mods:
            result = (result & mod(b, h, q_idx, kv_idx)) if both else \
                (result | mod(b, h, q_idx, kv_idx))
        return result
    return mask_mod


def and_masks(*mask_mods):
    """A mask_mod that is the intersection of mask_mods."""
    return _combine(mask_mods, True)


def or_masks(*mask_mods):
    """A mask_mod that is the union of mask_mods."""
    return _combine(mask_mods, False)


def _indices(batch, heads, q_len, kv_len, device):
    return (arange(batch, device=device).view(batch, 1, 1, 1),
            arange(heads, device=device).view(1, heads, 1, 1),
            arange(q_len, device=device).view(1, 1, q_len, 1),
            arange(kv_len, device=device).view(1, 1, 1, kv_len))


def _dense_mask(mask_mod, batch, heads, q_len, kv_len, device):
    """mask_mod at every [B, H, L, S] position."""
    mask = mask_mod(*_indices(batch, heads, q_len, kv_len, device))
    if not isinstance(mask, Tensor):
        mask = ones((), dtype=bool_, device=device) if mask else \
            ones((), dtype=bool_, device=device).logical_not()
    return mask.expand(batch, heads, q_len, kv_len)


class BlockMask:
    """Which (query block, key block) pairs mask_mod leaves any position in, and mask_mod
    itself, for sequences of seq_lengths = (Q_LEN, KV_LEN)."""

    def __init__(self, mask_mod, batch, heads, seq_lengths, block_size, device):
        self.mask_mod, self.seq_lengths = mask_mod, seq_lengths
        self.BLOCK_SIZE = block_size
        self._batch, self._heads, self._device = batch, heads, device

    @property
    def shape(self):
        q_len, kv_len = self.seq_lengths
        return (self._batch, self._heads, q_len, kv_len)

    def to_dense(self):
        """[B, H, query blocks, key blocks]: 1 where the block holds an unmasked position."""
        q_len, kv_len = self.seq_lengths
        bq, bkv = self.BLOCK_SIZE
        nq, nkv = -(-q_len // bq), -(-kv_len // bkv)
        mask = _dense_mask(self.mask_mod, self._batch, self._heads, q_len, kv_len, self._device)
        padded = mask.new_zeros((self._batch, self._heads, nq * bq, nkv * bkv))
        padded[:, :, :q_len, :kv_len] = mask
        blocks = padded.view(self._batch, self._heads, nq, bq, nkv, bkv)
        return blocks.any(dim=5).any(dim=3).to(dtype=arange(1).dtype).int()

    def numel(self):
        batch, heads, q_len, kv_len = self.shape
        return batch * heads * q_len * kv_len

    def sparsity(self):
        """The percentage of positions the kernel would skip, as torch counts it: computed
        blocks at their full size, so padding past the lengths makes it smaller (even < 0)."""
        computed = int(self.to_dense().sum()) * self.BLOCK_SIZE[0] * self.BLOCK_SIZE[1]
        return 100 * (1 - computed / self.numel())

    def __repr__(self):
        return f"BlockMask(shape={self.shape}, sparsity={self.sparsity():.2f}%, " \
               f"mask_mod={getattr(self.mask_mod, '__name__', self.mask_mod)})"


def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device="cuda",
                      BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE, _compile=False):
    """The BlockMask of mask_mod; B or H None: one for every batch entry or head."""
    sizes = BLOCK_SIZE if isinstance(BLOCK_SIZE, tuple) else (BLOCK_SIZE, BLOCK_SIZE)
    return BlockMask(mask_mod, 1 if B is None else B, 1 if H is None else H, (Q_LEN, KV_LEN),
                     sizes, device)


def _check(query, key, value, enable_gqa):
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        raise ValueError(f"flex_attention: query, key and value must be 4-d [B, H, L, E], got "
                         f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
    hq, hkv = query.size(1), key.size(1)
    if hq != hkv and not (enable_gqa and hq % hkv == 0):
        raise ValueError(f"Expect number of query heads to be a multiple of kv heads for GQA "
                         f"but got Hq={hq} and Hkv={hkv}." if enable_gqa else
                         f"Expect query and key/value to have the same number of heads but got "
                         f"Hq={hq} and Hkv={hkv}. Try setting enable_gqa=True for GQA.")
    return hq // hkv


def flex_attention(query, key, value, score_mod=None, block_mask=None, scale=None,
                   enable_gqa=False, return_lse=False, kernel_options=None):
    """softmax(score_mod(q @ k^T * scale) masked by block_mask's mask_mod) @ v, and the
    log-sum-exp of each row with return_lse."""
    groups = _check(query, key, value, enable_gqa)
    if groups > 1:      # each key/value head serves `groups` query heads in a row
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    batch, heads, q_len, _ = query.shape
    kv_len = key.size(2)
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = (query.to(float32) @ key.to(float32).transpose(-2, -1)) * scale
    if score_mod is not None:
        scores = score_mod(scores, *_indices(batch, heads, q_len, kv_len, query.device))
        scores = scores.expand(batch, heads, q_len, kv_len)
    if block_mask is not None:
        mask = _dense_mask(block_mask.mask_mod, batch, heads, q_len, kv_len, query.device)
        scores = where(mask, scores, float("-inf"))
    lse = logsumexp(scores, -1)
    # a fully masked row: lse -inf, weights 0 (not NaN), as torch's kernel
    finite = lse.isfinite().unsqueeze(-1)
    weights = where(finite, (scores - where(finite, lse.unsqueeze(-1), 0.0)).exp(), 0.0)
    out = (weights @ value.to(float32)).to(query.dtype)
    return (out, lse) if return_lse else out
