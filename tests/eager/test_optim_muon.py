"""torch.optim.Muon against torch 2.13: parameters and momentum buffers over 5 steps with the
same gradients (within bfloat16 rounding of the Newton-Schulz update), state_dict structure,
and torch's errors. Also the bfloat16 addmm family, which Muon's iteration is made of:
torch computes beta * x + alpha * (a @ b) in float32 and rounds once."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tests.optim_pair import check_state

SHAPES = [(6, 4), (3, 8), (5, 5)]
LR = 0.02


@pytest.mark.parametrize("kwargs", [
    dict(lr=LR), dict(lr=LR, nesterov=False, weight_decay=0.01),
    dict(lr=LR, adjust_lr_fn="match_rms_adamw", momentum=0.9),
    dict(lr=LR, ns_steps=3, ns_coefficients=(2.0, -1.5, 0.5), eps=1e-5)], ids=str)
def test_muon_steps_follow_torch(kwargs):
    """An update moves each weight by about lr (times the shape's scale); a different
    formula (the scale, the nesterov mix, the coefficients) moves it by a fifth of that or
    more, while torch's and ours differ by the bfloat16 rounding of the iteration."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [tc.tensor(p.copy(), requires_grad=True) for p in start]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    opt, ref = tc.optim.Muon(ours, **kwargs), torch.optim.Muon(theirs, **kwargs)
    for _ in range(5):
        for p, q, s in zip(ours, theirs, SHAPES):
            g = rng.standard_normal(s).astype(np.float32)
            p.grad, q.grad = tc.tensor(g), torch.tensor(g)
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), atol=0.1 * LR)
    check_state(opt.state_dict(), ref.state_dict(), "Muon")


def test_muon_refuses_what_torch_refuses():
    with pytest.raises(ValueError, match="Muon only supports 2D parameters.*size: "
                                         r"tracecomp.Size\(\[3\]\)"):
        tc.optim.Muon([tc.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="Adjust learning rate function rms is not supported"):
        tc.optim.Muon([tc.zeros(2, 2, requires_grad=True)], adjust_lr_fn="rms")
    with pytest.raises(ValueError, match="momentum should be >= 0 but is: -1"):
        tc.optim.Muon([tc.zeros(2, 2, requires_grad=True)], momentum=-1)
    p = tc.zeros(2, 2, requires_grad=True)
    p.grad = tc.ones(2, 2)
    with pytest.raises(ValueError, match="Number of steps must be less than 100"):
        tc.optim.Muon([p], ns_steps=100).step()


@pytest.mark.parametrize("op", ["addmm", "baddbmm", "addbmm", "addmv"])
def test_bfloat16_addmm_family_rounds_once_as_torch(op):
    """16 * 16 + 1 * 1 = 257 is not a bfloat16 (it rounds to 256); 257 + 1 = 258 is: torch
    gives 258, rounding twice would give 256."""
    def run(lib):
        a = lib.tensor([[16.0, 1.0]], dtype=lib.bfloat16)
        b = lib.tensor([[16.0], [1.0]], dtype=lib.bfloat16)
        x = lib.tensor([[1.0]], dtype=lib.bfloat16)
        args = {"addmm": (x, a, b), "baddbmm": (x[None], a[None], b[None]),
                "addbmm": (x, a[None], b[None]), "addmv": (x[0], a, b[:, 0])}[op]
        out = getattr(lib, op)(*args)
        return out.dtype, out.float().tolist()
    got, want = run(tc), run(torch)
    assert str(got[0]).split(".")[-1] == str(want[0]).split(".")[-1] and got[1] == want[1]
