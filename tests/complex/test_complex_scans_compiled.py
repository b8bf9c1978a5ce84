"""Complex products, scans and index ops inside tracecomp.compile (ops/complex_parts.py):
prod (whole and along a dim), cumsum, cumprod, gather, scatter_add and take_along_dim, on
complex64 and complex128, against torch.

One table of cases, each run along every dim of a 3-d input: the compiled values
(fullgraph=True, so a graph break fails) equal eager's bit for bit and torch's to rounding,
and the gradients of a real loss, compiled and eager, equal torch's (its conjugate Wirtinger
convention). The inputs hold exact zeros, one and two to a line along each dim, where
prod's and cumprod's gradients take torch's zero-safe rules. 0-d inputs, where a pair's
only dim is its parts, are checked apart. A 256x1024 complex prod and cumprod must compile
in seconds (an LLVM tree of complex products once took minutes).
"""
import time

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

DTYPES = ("complex64", "complex128")
SHAPE = (3, 4, 5)
# per dtype: (rtol, atol) of a value or gradient against torch's
TOLERANCE = {"complex64": (2e-5, 2e-6), "complex128": (1e-12, 1e-13)}


def _index(dim, seed, length=6, other="crop"):
    """Indices into SHAPE along dim, `length` to a line (repeats: scatter_add adds them up).
    The next dim after dim is one shorter than the input's with other="crop" (gather reads
    a corner), 1 with "broadcast" (take_along_dim broadcasts it), else the input's."""
    shape = list(SHAPE)
    shape[dim] = length
    after = (dim + 1) % len(SHAPE)
    shape[after] = {"crop": shape[after] - 1, "broadcast": 1}.get(other, shape[after])
    return np.random.default_rng(seed).integers(0, SHAPE[dim], shape)


def _scatter_add_twice(lib, x, dim):
    """x plus x and x * (0.5 - 2j) at 6 indices to a line, in a corner of x (torch's
    backward wants src the index's shape)."""
    index = _index(dim, 2)
    src = lib.cat([x, x * (0.5 - 2j)], dim)[tuple(slice(0, k) for k in index.shape)]
    return x.scatter_add(dim, lib.tensor(index), src)


# name -> f(lib, x, dim): one complex operand, one dim
CASES = {
    "prod": lambda lib, x, dim: lib.prod(x, dim),
    "prod_keepdim": lambda lib, x, dim: lib.prod(x, dim, keepdim=True),
    "prod_all": lambda lib, x, dim: lib.prod(x.narrow(dim, 0, 2)),
    "cumsum": lambda lib, x, dim: lib.cumsum(x, dim),
    "cumprod": lambda lib, x, dim: lib.cumprod(x, dim),
    "cumprod_negative_dim": lambda lib, x, dim: x.cumprod(dim - x.dim()),
    "gather": lambda lib, x, dim: lib.gather(
        x, dim, lib.tensor(_index(dim, 1))),
    "scatter_add": lambda lib, x, dim: _scatter_add_twice(lib, x, dim),
    "scatter_add_into_zeros": lambda lib, x, dim: lib.zeros(SHAPE, dtype=x.dtype).scatter_add(
        dim, lib.tensor(_index(dim, 3, SHAPE[dim], other="full")), x),
    "take_along_dim": lambda lib, x, dim: lib.take_along_dim(
        x, lib.tensor(_index(dim, 4, other="broadcast")), dim),
}


def _input(dtype, seed=0):
    """Parts of size 0.3 .. 2 (products of a few stay moderate), and exact zeros: one in a
    line along each dim, two in a line along each dim, and one at a line's start."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.3, 2.0, SHAPE + (2,)) * rng.choice([-1, 1], SHAPE + (2,))
    x = (size[..., 0] + 1j * size[..., 1]).astype(dtype)
    for at in ((0, 1, 2), (1, 2, 0), (1, 2, 3), (2, 0, 0), (2, 3, 0), (0, 3, 4), (2, 3, 4)):
        x[at] = 0
    return x


def _weights(shape, dtype):
    parts = np.random.default_rng(5).uniform(-2.0, 2.0, shape + (2,))
    return (parts[..., 0] + 1j * parts[..., 1]).astype(dtype)


def _loss(lib, out, weights):
    """A real loss through the parts (times complex weights) and the modulus (0 where the
    product is 0: torch's gradient of abs there is 0)."""
    return (out * lib.tensor(weights)).real.sum() + out.abs().sum()


def _run(lib, name, x, dim, compiled):
    leaf = lib.tensor(x, requires_grad=True)
    fn = CASES[name]
    f = (tc.compile(lambda t: fn(tc, t, dim), fullgraph=True) if compiled
         else lambda t: fn(lib, t, dim))
    out = f(leaf)
    _loss(lib, out, _weights(tuple(out.shape), x.dtype)).backward()
    return out.detach(), leaf.grad


@pytest.mark.parametrize("dim", range(len(SHAPE)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_are_torchs(name, dtype, dim):
    x = _input(dtype)
    rtol, atol = TOLERANCE[dtype]
    want, want_grad = _run(torch, name, x, dim, compiled=False)
    eager, eager_grad = _run(tc, name, x, dim, compiled=False)
    got, got_grad = _run(tc, name, x, dim, compiled=True)
    what = f"{name} {dtype} dim {dim}"
    assert got.dtype == getattr(tc, dtype), f"{what}: dtype {got.dtype}"
    np.testing.assert_array_equal(got.numpy(), eager.numpy(), err_msg=f"{what}: compiled "
                                  f"values differ from eager's")
    assert_close(got, want, rtol, atol, what=f"{what} compiled value")
    assert_close(got_grad, want_grad, rtol, atol, what=f"{what} compiled gradient")
    assert_close(eager_grad, want_grad, rtol, atol, what=f"{what} eager gradient")


# name -> f(lib, z) on a 0-d z (gather and scatter_add take it as a tensor of 1 element)
SCALARS = {
    "cumsum": lambda lib, z: lib.cumsum(z, 0) * 3,
    "cumprod": lambda lib, z: lib.cumprod(z, 0) * 3,
    "prod": lambda lib, z: lib.prod(z) * 3,
    "gather": lambda lib, z: lib.gather(z, 0, lib.tensor(0)) * 3,
    "scatter_add": lambda lib, z: lib.zeros((), dtype=z.dtype).scatter_add(
        0, lib.tensor(0), z) * 3,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SCALARS))
def test_zero_dim_inputs_are_torchs(name, dtype):
    """On a 0-d value's (2,) pair, dim 0 is the parts: the scan must not run along it."""
    z = np.array(1.5 - 2j, dtype)
    fn = SCALARS[name]
    results = []
    for lib, f in ((torch, lambda t: fn(torch, t)),
                   (tc, tc.compile(lambda t: fn(tc, t), fullgraph=True))):
        leaf = lib.tensor(z, requires_grad=True)
        out = f(leaf)
        (out * lib.tensor(np.array(0.5 + 1j, dtype))).real.backward()
        results.append((out.detach(), leaf.grad))
    (got, got_grad), (want, want_grad) = results[1], results[0]
    assert_close(got, want, *TOLERANCE[dtype], what=f"{name} {dtype} value")
    assert_close(got_grad, want_grad, *TOLERANCE[dtype], what=f"{name} {dtype} gradient")


@pytest.mark.parametrize("name", ["prod", "cumprod"])
def test_large_products_compile_in_seconds(name, monkeypatch):
    """A loose bound on the CPU time of this process (a niced test paused by the scheduler
    does not count): measured about 0.25 s for forward and backward on a 2-core box; an
    LLVM tree of complex products took over 120 s to compile for this shape."""
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    rng = np.random.default_rng(0)
    x = ((rng.standard_normal((256, 1024)) + 1j * rng.standard_normal((256, 1024))) * 0.1
         + 1).astype(np.complex64)
    x[3, 5] = 0
    op = getattr(tc, name)
    leaf = tc.tensor(x, requires_grad=True)
    start = time.process_time()
    tc.compile(lambda t: op(t, 1).abs().sum(), fullgraph=True)(leaf).backward()
    took = time.process_time() - start
    assert took < 60, f"complex {name} of 256x1024 took {took:.1f} s of CPU to compile and run"
    t = torch.tensor(x, requires_grad=True)
    getattr(torch, name)(t, 1).abs().sum().backward()
    assert_close(leaf.grad, t.grad, 1e-3, 1e-4, what=f"{name} 256x1024 gradient")
