"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 48), each reproduced here against torch.

Programs run (every weight drawn from one numpy generator in both libraries, inputs the
same; "agrees" means eager, compile(model) and a compiled whole training step give torch's
losses and parameters after every optimizer step; where float32 runs drift through Adam's
lr * sign on a near-zero gradient, the float64 run (set_default_dtype) is the check):
- karpathy/llm.c train_gpt2.py, the torch reference GPT-2 (2 layers of 16, vocabulary 29,
  block 16; its tied lm_head/wte, NewGELU, the masked manual attention and the flash path's
  scaled_dot_product_attention(is_causal=True), cross_entropy with ignore_index=-1,
  configure_optimizers' decay groups, two micro-steps of gradient accumulation,
  clip_grad_norm_, the warmup/cosine lr written into each param group inside the step,
  generate with top_k): agrees after the fix below; float64 to 1e-15, generate gives
  torch's tokens. Found: a compiled step that sets `param_group['lr']` itself before
  optimizer.step() ran the update with the lr the group held when the call began (the
  previous step's), silently, from the second step on.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc


# --- a compiled step that sets its optimizer's lr itself, as llm.c's training loop does ---
def _scheduled_steps(lib, opt_name, lrs, compiled, kind):
    """Adam(W)/SGD steps on one parameter; each step writes lrs[s] (or the float it is
    given) into every param group before optimizer.step()."""
    w = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64))
    opt = getattr(lib.optim, opt_name)([w], lr=1e-3, **({"momentum": 0.9} if opt_name ==
                                                         "SGD" else {}))

    def step(s):
        opt.zero_grad()
        loss = (w * w * w).sum()
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lrs[s] if kind == "index" else s
        opt.step()
        return loss
    if compiled:
        step = tc.compile(step)
    for s in range(len(lrs)):
        step(s if kind == "index" else lrs[s])
    return w.detach().numpy(), [g["lr"] for g in opt.param_groups]


@pytest.mark.parametrize("opt_name", ["AdamW", "SGD"])
@pytest.mark.parametrize("kind", ["index", "float"])
def test_a_compiled_step_uses_the_lr_it_writes_into_the_group(opt_name, kind):
    lrs = [0.1, 0.2, 0.3, 0.05]
    ref = _scheduled_steps(torch, opt_name, lrs, False, kind)
    ours = _scheduled_steps(tc, opt_name, lrs, True, kind)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-12, atol=1e-14)
    assert ours[1] == ref[1]
