"""Run one piece of code under tracecomp and torch on the same inputs and compare pytrees.

`both(fn, *args)` calls fn(lib, *args_in_lib) for lib in (tracecomp, torch), arguments
being numpy arrays (made into each library's float32 tensors) or pytrees of them, and
checks every leaf of the two results with assert_close (float32 rounding)."""
import numpy as np
import torch

import tracecomp as tc

from helpers import assert_close


def convert(lib, tree):
    if isinstance(tree, np.ndarray):
        return lib.tensor(tree)
    if isinstance(tree, (tuple, list)):
        return type(tree)(convert(lib, t) for t in tree)
    if isinstance(tree, dict):
        return {k: convert(lib, v) for k, v in tree.items()}
    return tree


def same_tree(got, want, rtol=1e-4, atol=1e-5, what="result"):
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tc.Tensor), f"{what}: tracecomp={type(got)} | torch=Tensor"
        assert got.requires_grad == want.requires_grad, \
            f"{what}.requires_grad: tracecomp={got.requires_grad} | torch={want.requires_grad}"
        assert_close(got, want, rtol=rtol, atol=atol, what=what)
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), \
            f"{what}: tracecomp={type(got).__name__}[{len(got)}] | " \
            f"torch={type(want).__name__}[{len(want)}]"
        for i, (g, w) in enumerate(zip(got, want)):
            same_tree(g, w, rtol, atol, f"{what}[{i}]")
    elif isinstance(want, dict):
        assert list(got) == list(want), f"{what} keys: tracecomp={list(got)} | torch={list(want)}"
        for k in want:
            same_tree(got[k], want[k], rtol, atol, f"{what}[{k!r}]")
    else:
        assert got == want, f"{what}: tracecomp={got!r} | torch={want!r}"


def both(fn, *args, rtol=1e-4, atol=1e-5):
    """fn(lib, *args) under both libraries, compared; returns (ours, torch's)."""
    ours = fn(tc, *convert(tc, args))
    theirs = fn(torch, *convert(torch, args))
    same_tree(ours, theirs, rtol, atol)
    return ours, theirs


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
