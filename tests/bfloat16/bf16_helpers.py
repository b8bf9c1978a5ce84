"""Moving bfloat16 tensors between tracecomp and torch (numpy cannot hold torch's bf16:
the bits travel as uint16) and comparing them bit for bit or within bf16 ulps."""
import ml_dtypes
import numpy as np
import torch

import tracecomp as tc


def tc_of(t):
    """A tracecomp tensor with torch tensor t's values and dtype (bfloat16 bit for bit)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return tc.tensor(t.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy())
    return tc.tensor(t.numpy().copy())


def bits(x):
    """float64 values of a tracecomp or torch tensor (bf16 exactly representable)."""
    if isinstance(x, torch.Tensor):
        return x.detach().double().numpy()
    return np.asarray(x.detach().numpy()).astype(np.float64)


def ulps(a, b):
    """The largest distance between a and b in bfloat16 steps (ulps of the larger one)."""
    a, b = bits(a), bits(b)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    a, b = np.where(same, 0, a), np.where(same, 0, b)
    scale = np.maximum(np.abs(a), np.abs(b))
    step = 2.0 ** (np.floor(np.log2(np.where(scale > 2 ** -126, scale, 2 ** -126))) - 7)
    return float(np.max(np.abs(a - b) / step, initial=0))


def assert_same(got, want, max_ulps=0):
    """Equal bit for bit (max_ulps=0), or within max_ulps bfloat16 ulps; dtypes agree."""
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], \
        f"tracecomp={got.dtype} | torch={want.dtype}"
    assert got.shape == tuple(want.shape)
    d = ulps(got, want)
    assert d <= max_ulps, f"{d} ulps apart: tracecomp={bits(got)} | torch={bits(want)}"


def scale_ulps(a, b):
    """The largest distance between a and b in bfloat16 steps at the scale of b's largest
    element (so a 1e-7 difference on a near-zero element of a tensor of ones is 0.0001)."""
    a, b = bits(a), bits(b)
    top = max(float(np.nanmax(np.abs(b), initial=0)), 2.0 ** -126)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    a, b = np.where(same, 0, a), np.where(same, 0, b)
    return float(np.max(np.abs(a - b), initial=0) / 2.0 ** (np.floor(np.log2(top)) - 7))
