"""Attention against torch 2.13: F.scaled_dot_product_attention (masks, causal, GQA, the
zero rows of fully masked queries), nn.MultiheadAttention (packed and separate projections,
bias_kv, zero_attn, key_padding_mask, weights per head or averaged, batch_first), the
Transformer family (state_dict keys, repr, forward/backward, an SGD step, compiled forward,
torch's nested-tensor zeros in eval) and their errors."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp.nn import functional as F

from helpers import assert_close, to_tc

RTOL, ATOL = 1e-4, 1e-5


def pair(factory, seed=0):
    """The same module in torch and tracecomp, tracecomp's loaded from torch's state_dict."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # enable_nested_tensor's notice
        tm, m = factory(torch.nn), factory(nn)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})
    return m, tm


def randn(*shape, seed=0):
    return torch.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def check_grads(m, tm, what):
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, tp.grad, RTOL, ATOL, f"{what} grad of {n}")


# --- scaled_dot_product_attention -----------------------------------------------------------
def test_sdpa_fully_masked_rows_are_zero_with_zero_gradient():
    q, k, v = randn(2, 4, 3), randn(2, 5, 3, seed=1), randn(2, 5, 2, seed=2)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[1] = False
    qt = q.clone().requires_grad_()
    want = torch.nn.functional.scaled_dot_product_attention(qt, k, v, attn_mask=mask)
    qc = to_tc(q).requires_grad_()
    got = F.scaled_dot_product_attention(qc, to_tc(k), to_tc(v), attn_mask=to_tc(mask))
    assert_close(got, want, RTOL, ATOL, "sdpa")
    assert not np.any(got.detach().numpy()[:, 1])
    want.sum().backward()
    got.sum().backward()
    assert_close(qc.grad, qt.grad, RTOL, ATOL, "sdpa grad")
    assert np.all(np.isfinite(qc.grad.numpy()))


@pytest.mark.parametrize("float_mask", [False, True])
def test_sdpa_mask_and_causal_together_as_torch_fused_kernel(float_mask):
    q, k = randn(1, 2, 4, 8), randn(1, 2, 4, 8, seed=1)
    mask = torch.rand(4, 4, generator=torch.Generator().manual_seed(0)) > 0.5
    mask[:, 0] = True
    if float_mask:
        mask = torch.zeros(4, 4).masked_fill(~mask, float("-inf")) + randn(4, 4, seed=2)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, k, attn_mask=mask,
                                                            is_causal=True)
    got = F.scaled_dot_product_attention(to_tc(q), to_tc(k), to_tc(k), attn_mask=to_tc(mask),
                                         is_causal=True)
    assert_close(got, want, RTOL, ATOL, "mask and causal")


def test_sdpa_dropout_keeps_expectation_and_zeroes():
    q = tc.ones(1, 1, 3, 4)
    v = tc.arange(4 * 2, dtype=tc.float32).reshape(1, 1, 4, 2)
    assert float((F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)).abs().sum()) == 0.0
    tc.manual_seed(0)
    outs = np.stack([F.scaled_dot_product_attention(q, tc.ones(1, 1, 4, 4), v,
                                                    dropout_p=0.5).numpy() for _ in range(400)])
    want = F.scaled_dot_product_attention(q, tc.ones(1, 1, 4, 4), v).numpy()
    assert np.allclose(outs.mean(0), want, atol=0.35)


@pytest.mark.parametrize("call", [
    lambda lib, q: lib.nn.functional.scaled_dot_product_attention(
        q, q, q[..., :3], attn_mask=lib.ones(4, 4, dtype=lib.bool), is_causal=True),
    lambda lib, q: lib.nn.functional.scaled_dot_product_attention(q, q.double(), q),
    lambda lib, q: lib.nn.functional.scaled_dot_product_attention(q[0, 0, 0], q[0, 0, 0],
                                                                  q[0, 0, 0]),
    lambda lib, q: lib.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=1.5),
    lambda lib, q: lib.nn.functional.scaled_dot_product_attention(
        q, q[:, :4], q[:, :4], enable_gqa=True),
])
def test_sdpa_errors_match_torch(call):
    q = randn(2, 6, 4, 8)
    with pytest.raises((RuntimeError, ValueError)) as want:
        call(torch, q)
    with pytest.raises(type(want.value)) as got:
        call(tc, to_tc(q))
    # torch cuts its GQA message short ("... the number of heads in "): ours goes on
    assert str(got.value).startswith(str(want.value))


# --- MultiheadAttention --------------------------------------------------------------------
MHA = [
    ("packed", {}),
    ("kdim_vdim", {"kdim": 3, "vdim": 5}),
    ("bias_kv_zero_attn", {"add_bias_kv": True, "add_zero_attn": True}),
    ("no_bias_batch_first", {"bias": False, "batch_first": True}),
]


@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("name,kwargs", MHA, ids=[c[0] for c in MHA])
def test_multihead_attention_matches_torch(name, kwargs, need_weights, average):
    m, tm = pair(lambda n: n.MultiheadAttention(8, 2, **kwargs))
    n_batch, tgt, src = 2, 4, 5
    shape = (lambda length, e: (n_batch, length, e)) if kwargs.get("batch_first") else \
        (lambda length, e: (length, n_batch, e))
    q = randn(*shape(tgt, 8), seed=1).requires_grad_()
    k = randn(*shape(src, kwargs.get("kdim", 8)), seed=2).requires_grad_()
    v = randn(*shape(src, kwargs.get("vdim", 8)), seed=3).requires_grad_()
    kpm = torch.zeros(n_batch, src, dtype=torch.bool)
    kpm[0, -2:] = True
    mask = torch.rand(tgt, src, generator=torch.Generator().manual_seed(0)) > 0.8
    qc, kc, vc = (to_tc(t).requires_grad_() for t in (q, k, v))
    out, w = tm(q, k, v, key_padding_mask=kpm, attn_mask=mask, need_weights=need_weights,
                average_attn_weights=average)
    outc, wc = m(qc, kc, vc, key_padding_mask=to_tc(kpm), attn_mask=to_tc(mask),
                 need_weights=need_weights, average_attn_weights=average)
    assert_close(outc, out, RTOL, ATOL, "output")
    if need_weights:
        assert_close(wc, w, RTOL, ATOL, "weights")
    else:
        assert wc is None and w is None
    g = randn(*out.shape, seed=4)
    out.backward(g)
    outc.backward(to_tc(g))
    for a, b, what in ((qc, q, "query"), (kc, k, "key"), (vc, v, "value")):
        assert_close(a.grad, b.grad, RTOL, ATOL, f"{what} grad")
    check_grads(m, tm, name)


def test_multihead_attention_unbatched_float_mask_and_causal_hint():
    m, tm = pair(lambda n: n.MultiheadAttention(6, 3))
    x = randn(4, 6)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4)
    want = tm(x, x, x, attn_mask=causal, need_weights=False, is_causal=True)[0]
    got = m(to_tc(x), to_tc(x), to_tc(x), attn_mask=to_tc(causal), need_weights=False,
            is_causal=True)[0]
    assert_close(got, want, RTOL, ATOL, "unbatched causal")
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(to_tc(x), to_tc(x), to_tc(x), is_causal=True)


def test_multihead_attention_init_and_errors():
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert not np.any(m.in_proj_bias.detach().numpy())
    assert not np.any(m.out_proj.bias.detach().numpy())
    bound = np.sqrt(6.0 / (16 + 48))                 # xavier_uniform of (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    for args, exc in (((10, 3), AssertionError), ((0, 2), ValueError)):
        with pytest.raises(exc) as want:
            torch.nn.MultiheadAttention(*args)
        with pytest.raises(exc) as got:
            nn.MultiheadAttention(*args)
        assert str(got.value) == str(want.value)


# --- the Transformer family ---------------------------------------------------------------
def transformer(n, **kw):
    return n.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                         dim_feedforward=16, dropout=0.0, **kw)


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True, "norm_first": True,
                                         "activation": "gelu"}], ids=["default", "variant"])
def test_transformer_forward_backward_and_sgd_step_match_torch(kwargs):
    m, tm = pair(lambda n: transformer(n, **kwargs))
    bf = kwargs.get("batch_first", False)
    src = randn(*((3, 5, 8) if bf else (5, 3, 8)), seed=1)
    tgt = randn(*((3, 4, 8) if bf else (4, 3, 8)), seed=2)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert_close(nn.Transformer.generate_square_subsequent_mask(4), mask, what="causal mask")
    kpm = torch.zeros(3, 5, dtype=torch.bool)
    kpm[1, -1] = True
    opt, topt = tc.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)
    want = tm(src, tgt, tgt_mask=mask, src_key_padding_mask=kpm,
              memory_key_padding_mask=kpm)
    got = m(to_tc(src), to_tc(tgt), tgt_mask=to_tc(mask), src_key_padding_mask=to_tc(kpm),
            memory_key_padding_mask=to_tc(kpm))
    assert_close(got, want, RTOL, ATOL, "transformer")
    (want ** 2).mean().backward()
    (got ** 2).mean().backward()
    check_grads(m, tm, "transformer")
    opt.step()
    topt.step()
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert_close(v, tv, RTOL, ATOL, f"{k} after a step")


def test_transformer_encoder_compiled_matches_torch():
    def factory(n):
        layer = n.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        return n.TransformerEncoder(layer, 2, norm=n.LayerNorm(8))
    m, tm = pair(factory)
    x = randn(2, 5, 8)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    want = tm(x, mask=mask)
    compiled = tc.compile(m)
    xc = to_tc(x).requires_grad_()
    got = compiled(xc, mask=to_tc(mask))
    assert_close(got, want, RTOL, ATOL, "compiled encoder")
    got.sum().backward()
    assert xc.grad is not None and m.layers[0].linear1.weight.grad is not None


def test_transformer_encoder_eval_zeroes_padding_like_torch_nested_path():
    m, tm = pair(lambda n: n.TransformerEncoder(
        n.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2, norm=n.LayerNorm(8)))
    m.eval()
    tm.eval()
    x = randn(3, 5, 8)
    kpm = torch.zeros(3, 5, dtype=torch.bool)
    kpm[0, 3:] = True
    for not_left_aligned in (False, True):
        if not_left_aligned:
            kpm[1, 0] = True                  # torch then keeps the padded outputs too
        with torch.no_grad():
            want = tm(x, src_key_padding_mask=kpm)
        with tc.no_grad():
            got = m(to_tc(x), src_key_padding_mask=to_tc(kpm))
        assert_close(got, want, RTOL, ATOL, f"eval, left aligned={not not_left_aligned}")


def test_transformer_warnings_and_errors_match_torch():
    def notes(lib):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(8, 2, norm_first=True), 1)
        return [str(w.message) for w in seen]
    assert notes(tc) == notes(torch)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    m = transformer(nn)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(tc.zeros(5, 3, 8), tc.zeros(4, 2, 8))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal"):
        m(tc.zeros(5, 3, 8), tc.zeros(4, 3, 6))


@pytest.mark.parametrize("backends", ["MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION",
                                      "CUDNN_ATTENTION", "OVERRIDEABLE",
                                      ("EFFICIENT_ATTENTION", "MATH")])
def test_sdpa_kernel_allows_what_torchs_cpu_build_allows(backends):
    from torch.nn import attention as torch_attention

    from tracecomp.nn import attention as tc_attention
    q = torch.randn(1, 2, 4, 8)

    def outcome(lib, attention):
        names = [backends] if isinstance(backends, str) else list(backends)
        chosen = [getattr(attention.SDPBackend, n) for n in names]
        with attention.sdpa_kernel(chosen if len(chosen) > 1 else chosen[0]):
            flags = (lib.backends.cuda.math_sdp_enabled(), lib.backends.cuda.flash_sdp_enabled())
            try:
                out = lib.nn.functional.scaled_dot_product_attention(*[
                    q if lib is torch else tc.tensor(q.numpy())] * 3)
            except RuntimeError as e:
                return flags, str(e)
            return flags, out.numpy()
    got, want = outcome(tc, tc_attention), outcome(torch, torch_attention)
    assert got[0] == want[0]
    if isinstance(want[1], str):
        assert got[1] == want[1]
    else:
        np.testing.assert_allclose(got[1], want[1], atol=1e-6)
    assert tc.backends.cuda.math_sdp_enabled() and tc.backends.cuda.flash_sdp_enabled()
    assert [m.value for m in tc_attention.SDPBackend] == \
        [torch_attention.SDPBackend.__members__[m.name].value for m in tc_attention.SDPBackend]
    with pytest.raises(AssertionError, match="Backend must be an instance of SDPBackend"):
        with tc_attention.sdpa_kernel("math"):
            pass
