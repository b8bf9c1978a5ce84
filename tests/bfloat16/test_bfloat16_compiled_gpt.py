"""A GPT-like model (token and position embeddings, one causal attention block with an MLP,
layer norms, an untied head, cross_entropy) trained 3 AdamW steps under bf16 autocast:
eagerly, with compile(model), and with the whole step compiled (fullgraph=True), against
each other and torch 2.13.

The first step's loss is the same bits in the three tracecomp runs (torch's: a float32 ulp
off, its mean adding in another order). Compiled gradients differ from eager's only where
float32 sums run in another order (tests/bfloat16/test_bfloat16_compiled.py says which and
by how much): layer norms' weight gradients and the embeddings' row sums, a few float32
ulps. AdamW's first steps move each weight by about lr whatever its gradient's size, so the
comparisons after the steps use a tolerance at that scale; compiled model against compiled
step is exact.
"""
import math

import numpy as np
import pytest
import torch
from bf16_helpers import tc_of

import tracecomp as tc

VOCAB, D, HEADS, SEQ, BATCH = 64, 32, 4, 16, 4


def make_gpt(lib, dropout=0.0):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            # no bias on the keys' projection: its gradient is zero in exact arithmetic
            # (softmax ignores a constant per row), so it would be pure rounding, which
            # AdamW's first steps turn into +-lr
            self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
            self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = [z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v)]
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // HEADS))
            mask = lib.tril(lib.ones(t, t)).view(1, 1, t, t)
            att = F.softmax(att.masked_fill(mask == 0, float("-inf")), dim=-1)
            y = (self.drop(att) @ v).transpose(1, 2).contiguous().view(b, t, c)
            x = x + self.proj(y)
            return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(VOCAB, D), nn.Embedding(SEQ, D)
            self.block, self.ln_f = Block(), nn.LayerNorm(D)
            self.head = nn.Linear(D, VOCAB, bias=False)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(lib.arange(idx.shape[1]))
            logits = self.head(self.ln_f(self.block(x)))
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
    return GPT()


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    tm = make_gpt(torch)
    idx, tgt = torch.randint(0, VOCAB, (BATCH, SEQ)), torch.randint(0, VOCAB, (BATCH, SEQ))
    return tm, idx, tgt


def _trainer(lib, model, mode):
    """step(idx, targets) -> loss: forward under bf16 autocast, backward, AdamW."""
    opt = lib.optim.AdamW(model.parameters(), lr=1e-2)
    forward = tc.compile(model, fullgraph=True) if mode == "model" else model

    def step(idx, targets):
        with lib.autocast("cpu", dtype=lib.bfloat16):
            loss = forward(idx, targets)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
        opt.zero_grad()
        return loss.detach(), grads
    return tc.compile(step, fullgraph=True) if mode == "step" else step


def _run(setup, mode, steps=3, dropout=0.0):
    tm, idx, tgt = setup
    if mode == "torch":
        model = make_gpt(torch, dropout)
        model.load_state_dict(tm.state_dict())
        lib, args = torch, (idx, tgt)
    else:
        model = make_gpt(tc, dropout)
        model.load_state_dict({k: tc_of(v) for k, v in tm.state_dict().items()})
        lib, args = tc, (tc_of(idx), tc_of(tgt))
    step = _trainer(lib, model, mode)
    lib.manual_seed(1)
    history = [step(*args) for _ in range(steps)]
    losses = [float(loss) for loss, _ in history]
    params = [p.detach().float().numpy().copy() for p in model.parameters()]
    grads0 = [g.float().numpy() for g in history[0][1]]
    assert all(p.dtype is (torch.float32 if lib is torch else tc.float32)
               for p in model.parameters())
    return losses, params, grads0


def _close(a, b, tol):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def test_gpt_trains_under_bf16_autocast_compiled_as_eager(setup):
    eager = _run(setup, "eager")
    model = _run(setup, "model")
    step = _run(setup, "step")
    torch_run = _run(setup, "torch")
    # step 0's loss: the same bits compiled and eager; torch's float32 mean of the 64
    # token losses adds in another order (a float32 ulp here)
    assert eager[0][0] == model[0][0] == step[0][0]
    assert torch_run[0][0] == pytest.approx(eager[0][0], rel=1e-6)
    # step 0's gradients (float32, of float32 parameters): compiled, float32 sums in another
    # order (measured: 3e-7 of each gradient's scale); torch, also bfloat16 products that
    # accumulate in another order and round a bfloat16 ulp apart (measured: 1.1e-3 of the
    # scale, in the attention's qkv weight)
    for run, tol in ((model, 2e-6), (step, 2e-6), (torch_run, 2.0 ** -8)):
        for g, w in zip(run[2], eager[2]):
            np.testing.assert_allclose(g, w, rtol=0, atol=tol * np.abs(w).max())
    # compile(model) and the compiled step run the same kernels
    assert model[0] == step[0]
    _close(model[1], step[1], 0)
    # after 3 steps, within AdamW's amplification of those differences (lr 1e-2; measured
    # 5e-5 compiled, 7.5e-4 torch)
    for run, tol in ((model, 2e-4), (step, 2e-4), (torch_run, 3e-3)):
        np.testing.assert_allclose(run[0], eager[0], rtol=1e-4)
        _close(run[1], eager[1], tol)


def test_gpt_with_dropout_compiled_step_draws_eagers_masks(setup):
    eager = _run(setup, "eager", steps=2, dropout=0.2)
    step = _run(setup, "step", steps=2, dropout=0.2)
    assert eager[0][0] == step[0][0]
    np.testing.assert_allclose(step[0], eager[0], rtol=1e-4)
