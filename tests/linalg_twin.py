"""The check the linear-algebra tests (tests/eager/test_linalg_*.py, test_matrix_exp.py)
share: one function `fn(lib, *tensors)` run with lib = tracecomp and torch on the same
numbers, its outputs compared (values, shapes, dtypes: int32 pivots and infos included) and
the gradients of a random weighting of its floating outputs compared; and in float64 the
tracecomp gradients checked against central differences (tracecomp.autograd.gradcheck)."""
import numpy as np
import torch

import tracecomp as tc

from helpers import assert_close


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _grads(lib, fn, arrays, diff, seed):
    args = [lib.tensor(a.copy(), requires_grad=i in diff) for i, a in enumerate(arrays)]
    outs = _outputs(fn(lib, *args))
    floats = [o for o in outs if o.requires_grad]
    grads = []
    if diff and floats:
        rng = np.random.default_rng(seed)
        loss = sum((o * lib.tensor(rng.standard_normal(tuple(o.shape)).astype(
            str(o.dtype).split(".")[-1]))).sum() for o in floats)
        grads = lib.autograd.grad(loss, [args[i] for i in diff], allow_unused=True)
    return outs, grads


def check_twin(fn, arrays, diff=(0,), rtol=1e-5, atol=1e-6, grad_rtol=None, seed=0,
               gradcheck=True):
    """fn under tracecomp vs torch on `arrays` (numpy, their dtype kept); the gradients
    with respect to the arrays at positions `diff`."""
    got, got_g = _grads(tc, fn, arrays, diff, seed)
    want, want_g = _grads(torch, fn, arrays, diff, seed)
    assert len(got) == len(want), f"{len(got)} outputs | torch={len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, rtol, atol, what=f"output {i}")
    for i, g, w in zip(diff, got_g, want_g):
        assert (g is None) == (w is None), f"gradient of input {i}: tracecomp={g} | torch={w}"
        if g is not None:
            assert_close(g, w, grad_rtol or rtol * 10, atol * 10, what=f"gradient of input {i}")
    if gradcheck and diff and all(a.dtype == np.float64 for a in arrays if a.dtype.kind == "f"):
        args = [tc.tensor(a.copy(), requires_grad=i in diff) for i, a in enumerate(arrays)]

        def floats(*xs):
            return tuple(o for o in _outputs(fn(tc, *xs)) if o.dtype == tc.float64)
        assert tc.autograd.gradcheck(floats, args, atol=1e-6, rtol=1e-4)
    return got
