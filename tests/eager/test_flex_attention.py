"""torch.nn.attention.flex_attention (its tutorial's score_mods and mask_mods): outputs and
log-sum-exps against torch's CPU forward, BlockMask facts against torch's, gradients against
torch's scaled_dot_product_attention with the equivalent float mask (torch has no CPU
backward for flex_attention), compiled against eager."""
import importlib
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

B, H, S, D = 2, 4, 10, 8
DOCUMENTS = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
HEAD_SLOPES = np.array([0.5, -0.25, 0.125, 1.0], dtype=np.float32)


def _fa(lib):
    return importlib.import_module(f"{lib.__name__}.nn.attention.flex_attention")


def _qkv(lib, heads_kv=H, requires_grad=False):
    rng = np.random.default_rng(0)
    return [lib.tensor(rng.standard_normal((B, h, S, D)).astype(np.float32),
                       requires_grad=requires_grad) for h in (H, heads_kv, heads_kv)]


def score_mods(lib):
    slopes, = [lib.tensor(HEAD_SLOPES)]
    return {
        None: None,
        "relative": lambda score, b, h, q, kv: score + (q - kv) * 0.1,
        "alibi": lambda score, b, h, q, kv: score + slopes[h] * (kv - q),
        "softcap": lambda score, b, h, q, kv: 2.0 * lib.tanh(score / 2.0),
    }


def mask_mods(lib):
    fa, documents = _fa(lib), lib.tensor(DOCUMENTS)

    def causal(b, h, q, kv):
        return q >= kv

    def window(b, h, q, kv):
        return q - kv <= 3

    def document(b, h, q, kv):
        return documents[q] == documents[kv]

    return {None: None, "causal": causal, "sliding causal": fa.and_masks(causal, window),
            "document or window": fa.or_masks(document, window),
            "a row masked out": lambda b, h, q, kv: (q != 2) & (kv >= 0)}


def _run(lib, score, mask):
    fa = _fa(lib)
    mask_mod = mask_mods(lib)[mask]
    block_mask = None if mask_mod is None else fa.create_block_mask(mask_mod, None, None, S, S,
                                                                    device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch: its eager path is a reference one
        return fa.flex_attention(*_qkv(lib), score_mod=score_mods(lib)[score],
                                 block_mask=block_mask, return_lse=True)


@pytest.mark.parametrize("mask", [None, "causal", "sliding causal", "document or window",
                                  "a row masked out"])
@pytest.mark.parametrize("score", [None, "relative", "alibi", "softcap"])
def test_outputs_and_log_sum_exps_match_torch(score, mask):
    (out, lse), (want_out, want_lse) = _run(tc, score, mask), _run(torch, score, mask)
    assert_close(out, want_out)
    assert np.array_equal(np.isinf(lse.numpy()), np.isinf(want_lse.numpy()))
    finite = np.isfinite(want_lse.numpy())
    assert_close(lse.numpy()[finite], want_lse.numpy()[finite])


def test_grouped_query_attention_and_scale_match_torch():
    results = {}
    for lib in (tc, torch):
        fa = _fa(lib)
        block_mask = fa.create_block_mask(mask_mods(lib)["causal"], None, None, S, S,
                                          device="cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[lib] = fa.flex_attention(*_qkv(lib, heads_kv=2), block_mask=block_mask,
                                             scale=0.3, enable_gqa=True)
            with pytest.raises(ValueError, match="Try setting enable_gqa=True"):
                fa.flex_attention(*_qkv(lib, heads_kv=2))
    assert_close(results[tc], results[torch])


def test_block_masks_match_torchs():
    for q_len, kv_len, batch, heads in ((300, 300, 2, 4), (130, 260, None, None)):
        masks = {lib: _fa(lib).create_block_mask(mask_mods(lib)["causal"], batch, heads, q_len,
                                                 kv_len, device="cpu") for lib in (tc, torch)}
        got, want = masks[tc], masks[torch]
        assert tuple(got.shape) == tuple(want.shape)
        assert tuple(got.seq_lengths) == tuple(want.seq_lengths)
        assert tuple(got.BLOCK_SIZE) == tuple(want.BLOCK_SIZE)
        assert_close(got.to_dense(), want.to_dense())
        assert got.sparsity() == pytest.approx(want.sparsity())


def test_gradients_match_torchs_sdpa_with_the_same_float_mask():
    """alibi scores under a causal mask == SDPA with bias + -inf above the diagonal."""
    q, k, v = _qkv(tc, requires_grad=True)
    fa = _fa(tc)
    mods = mask_mods(tc)
    out = fa.flex_attention(q, k, v, score_mod=score_mods(tc)["alibi"],
                            block_mask=fa.create_block_mask(mods["causal"], None, None, S, S))
    (out * out).sum().backward()
    tq, tk, tv = _qkv(torch, requires_grad=True)
    pos = np.arange(S)
    bias = HEAD_SLOPES[:, None, None] * (pos[None, None, :] - pos[None, :, None])
    bias = np.where(pos[:, None] >= pos[None, :], bias, -np.inf).astype(np.float32)
    want = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv,
                                                            attn_mask=torch.tensor(bias))
    (want * want).sum().backward()
    for got_t, want_t in ((out, want), (q.grad, tq.grad), (k.grad, tk.grad), (v.grad, tv.grad)):
        assert_close(got_t, want_t, atol=1e-5)


def test_compiled_flex_attention_matches_torch_forward():
    fa = _fa(tc)
    mods, scores = mask_mods(tc), score_mods(tc)

    def attend(q, k, v):
        block_mask = fa.create_block_mask(mods["sliding causal"], None, None, S, S)
        return fa.flex_attention(q, k, v, score_mod=scores["softcap"], block_mask=block_mask)
    got = tc.compile(attend, fullgraph=True)(*_qkv(tc))
    want, _ = _run(torch, "softcap", "sliding causal")
    assert_close(got, want)


def test_new_filled_tensors_take_size_by_name_as_torch():
    for lib in (tc, torch):
        x = lib.ones(2)
        assert tuple(x.new_zeros(size=(2, 3)).shape) == (2, 3)
        assert x.new_ones(size=(), dtype=lib.bool).dtype == lib.bool
        assert tuple(x.new_empty(size=(1,)).shape) == (1,)
