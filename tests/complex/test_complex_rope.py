"""Rotary position embeddings (RoPE) as LLaMA-style models write them, under
tracecomp.compile, against torch: torch.polar for the frequencies, view_as_complex of the
query/key pairs, a complex multiply by freqs_cis, view_as_real(...).flatten(3) and
.type_as(x). The rotation, a small LLaMA-style block with it (compile(model) with
fullgraph=True, one graph) and a whole compiled AdamW training step match torch's values,
gradients and weights for 3 steps.
"""
import math

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def precompute_freqs_cis(lib, dim, end, theta=10000.0):
    freqs = 1.0 / (theta ** (lib.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    t = lib.arange(end).float()
    freqs = lib.outer(t, freqs)
    return lib.polar(lib.ones_like(freqs), freqs)


def apply_rotary_emb(lib, xq, xk, freqs_cis):
    xq_ = lib.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = lib.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    shape = [d if i == 1 or i == xq_.ndim - 1 else 1 for i, d in enumerate(xq_.shape)]
    freqs_cis = freqs_cis.view(*shape)
    xq_out = lib.view_as_real(xq_ * freqs_cis).flatten(3)
    xk_out = lib.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


@pytest.mark.parametrize("backend", ["llvm", "interp"])
def test_rotary_embedding_compiles_with_torchs_values_and_gradients(backend):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 6, 3, 8)).astype(np.float32)
    k = rng.standard_normal((2, 6, 3, 8)).astype(np.float32)
    w = rng.standard_normal((2, 6, 3, 8)).astype(np.float32)
    results = []
    for lib in (torch, tc):
        freqs = precompute_freqs_cis(lib, 8, 16)[1:7]     # positions 1..6, as a decode offset
        xq, xk = lib.tensor(q, requires_grad=True), lib.tensor(k, requires_grad=True)

        def rope(a, b, f, lib=lib):
            return apply_rotary_emb(lib, a, b, f)
        if lib is tc:
            rope = tc.compile(rope, backend=backend, fullgraph=True)
        oq, ok = rope(xq, xk, freqs)
        ((oq * lib.tensor(w)).sum() + (ok * ok).sum()).backward()
        results.append([t.detach().numpy() for t in (oq, ok, xq.grad, xk.grad)])
    for what, got, want in zip(("xq_out", "xk_out", "xq.grad", "xk.grad"), *results[::-1]):
        assert_close(got, want, rtol=1e-5, atol=1e-6, what=what)


def _llama_block(lib, as_buffer, dim=16, n_heads=2, max_seq=12):
    nn, F = lib.nn, lib.nn.functional

    class RMSNorm(nn.Module):
        def __init__(self, dim, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(lib.ones(dim))

        def forward(self, x):
            x32 = x.float()
            return (x32 * lib.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) \
                * self.weight

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_heads, self.head_dim = n_heads, dim // n_heads
            self.wq = nn.Linear(dim, dim, bias=False)
            self.wk = nn.Linear(dim, dim, bias=False)
            self.wv = nn.Linear(dim, dim, bias=False)
            self.wo = nn.Linear(dim, dim, bias=False)

        def forward(self, x, freqs_cis, mask):
            bsz, seqlen, _ = x.shape
            xq = self.wq(x).view(bsz, seqlen, self.n_heads, self.head_dim)
            xk = self.wk(x).view(bsz, seqlen, self.n_heads, self.head_dim)
            xv = self.wv(x).view(bsz, seqlen, self.n_heads, self.head_dim)
            xq, xk = apply_rotary_emb(lib, xq, xk, freqs_cis)
            xq, xk, xv = xq.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2)
            scores = xq @ xk.transpose(2, 3) / math.sqrt(self.head_dim) + mask
            scores = F.softmax(scores.float(), dim=-1).type_as(xq)
            out = (scores @ xv).transpose(1, 2).contiguous().view(bsz, seqlen, -1)
            return self.wo(out)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.attention_norm, self.ffn_norm = RMSNorm(dim), RMSNorm(dim)
            self.w1 = nn.Linear(dim, 2 * dim, bias=False)
            self.w2 = nn.Linear(2 * dim, dim, bias=False)
            self.w3 = nn.Linear(dim, 2 * dim, bias=False)
            # as Meta's reference keeps it (a plain complex attribute: a constant of the
            # graph), or as a buffer (a complex input of the compiled call)
            freqs_cis = precompute_freqs_cis(lib, dim // n_heads, max_seq)
            if as_buffer:
                self.register_buffer("freqs_cis", freqs_cis, persistent=False)
            else:
                self.freqs_cis = freqs_cis

        def forward(self, x, start_pos=0):
            seqlen = x.shape[1]
            freqs_cis = self.freqs_cis[start_pos: start_pos + seqlen]
            mask = lib.triu(lib.full((seqlen, seqlen), float("-inf")), diagonal=1)
            h = x + self.attention(self.attention_norm(x), freqs_cis, mask)
            y = self.ffn_norm(h)
            return h + self.w2(F.silu(self.w1(y)) * self.w3(y))

    return Block()


def _twins(as_buffer=False):
    torch.manual_seed(0)
    ref = _llama_block(torch, as_buffer)
    ours = _llama_block(tc, as_buffer)
    ours.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    return ref, ours


def _batches():
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((2, 7, 16)).astype(np.float32),
             rng.standard_normal((2, 7, 16)).astype(np.float32)) for _ in range(3)]


def _train(lib, model, step_fn):
    opt = lib.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for x, y in _batches():
        losses.append(float(step_fn(model, opt, lib.tensor(x), lib.tensor(y))))
    return losses


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    return loss.detach()


def _assert_same_training(ref, ours, got_losses, want_losses):
    np.testing.assert_allclose(got_losses, want_losses, rtol=2e-5)
    params = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        assert_close(params[name], p, rtol=1e-4, atol=1e-5, what=f"{name} after 3 steps")


@pytest.mark.parametrize("as_buffer", [False, True])
def test_llama_block_compiles_in_one_graph_and_trains_as_torch(as_buffer):
    ref, ours = _twins(as_buffer)
    compiled = tc.compile(ours, fullgraph=True)
    want = _train(torch, ref, _step)
    got = _train(tc, compiled, lambda m, opt, x, y: _step(compiled, opt, x, y))
    _assert_same_training(ref, ours, got, want)


def test_llama_whole_training_step_compiles_with_adamw():
    ref, ours = _twins()
    want = _train(torch, ref, _step)
    step = tc.compile(_step, fullgraph=True)
    got = _train(tc, ours, step)
    _assert_same_training(ref, ours, got, want)
