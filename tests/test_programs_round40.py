"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 40), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses and
outputs to 1e-5 relative):
- johnma2006/mamba-minimal (Mamba with tied embedding, RMSNorm, depthwise causal Conv1d,
  selective scan by a Python loop of einsums; einops' rearrange/repeat/einsum spelled as
  permute/expand/einsum, einops not being installed) under AdamW: stopped on
  `x_and_res.split(split_size=[d, d], dim=-1)` (Tensor.split's keyword is split_size,
  torch.split's split_size_or_sections); agrees now.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


# --- Tensor.split's keyword ---------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda lib, x: x.split(split_size=[2, 4], dim=-1),
    lambda lib, x: x.split(split_size=3),
    lambda lib, x: lib.split(x, split_size_or_sections=[1, 5], dim=1),
    lambda lib, x: lib.Tensor.split(x, 2, dim=-1),
])
def test_split_takes_torch_keywords_method_and_function(call):
    x = np.arange(12.0, dtype=np.float32).reshape(2, 6)
    want = call(torch, torch.tensor(x))
    got = call(tc, tc.tensor(x))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g, w)


def test_torch_split_refuses_the_methods_keyword_as_torch_does():
    x = np.arange(6.0, dtype=np.float32)
    with pytest.raises(TypeError, match="split_size"):
        torch.split(torch.tensor(x), split_size=2)
    with pytest.raises(TypeError, match="split_size"):
        tc.split(tc.tensor(x), split_size=2)
