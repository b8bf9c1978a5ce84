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
- Blealtan/efficient-kan (KANLinear's B-spline bases, curve2coeff's batched linalg.lstsq,
  update_grid under no_grad with sort/linspace/concatenate, regularization_loss) trained
  as examples/mnist.py trains (AdamW, ExponentialLR, CrossEntropyLoss, grid updated at
  step 3): agrees (compile(model) breaks the graph at the in-place grid update, as it
  says). Its tests/test_simple_math.py (LBFGS over closures): float(closure()) in LBFGS's
  no_grad step printed torch's requires_grad warning, which torch gives only with grad
  mode on; fixed. Its 20 line-search evaluations per step agree in float64 (1e-12); in
  float32 they drift to 6e-4 by step 3, as torch's own float32 run drifts from float64.
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


# --- float() under no_grad ----------------------------------------------------------------
_SCALAR_LOG = """
import warnings
import {lib} as torch
w = torch.nn.Parameter(torch.ones(3))
opt = torch.optim.LBFGS([w], max_iter=2)
def closure():
    opt.zero_grad()
    loss = (w * w).sum()
    loss.backward()
    return loss
x = w.sum()
for name, convert in [("no_grad float", lambda: float(x)),
                      ("no_grad complex", lambda: complex(x)),
                      ("inference float", lambda: float(x)),
                      ("LBFGS step", lambda: opt.step(closure)),
                      ("float", lambda: float(x)), ("float again", lambda: float(x))]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mode = torch.inference_mode() if name.startswith("inference") else \\
            torch.no_grad() if name.startswith("no_grad") else torch.enable_grad()
        with mode:
            convert()
    print(name, [str(w.message).splitlines()[0] for w in caught])
"""


def test_float_of_a_tensor_requiring_grad_under_no_grad_does_not_warn():
    """LBFGS's step reads float(closure()) under no_grad: torch does not warn there (only
    where grad mode is on), tracecomp did (efficient-kan's LBFGS test printed it)."""
    import subprocess
    import sys
    logs = {}
    for lib in ("torch", "tracecomp"):
        out = subprocess.run([sys.executable, "-c", _SCALAR_LOG.format(lib=lib)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        logs[lib] = out.stdout
    assert "float ['Converting a tensor with requires_grad=True" in logs["torch"]
    assert logs["tracecomp"] == logs["torch"]
