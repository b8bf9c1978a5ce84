"""Complex values inside tracecomp.compile: computed as pairs of reals
(passes/complex_parts.py), checked against torch, values and gradients.

Each case builds complex values from real tensors that require grad (view_as_complex,
complex, polar), runs complex ops and returns real values; the compiled function
(fullgraph=True: any graph break fails the test) must give torch's outputs and the
gradients of a real loss of them within float32 rounding. Complex tensors crossing the
compiled function's edge (a complex argument, a complex result that requires grad) and
the graph-break message of an op without a complex rule (prod) are checked too.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.codegen import interp
from tracecomp.ir import verify
from tracecomp.ops.complex import _as_real
from tracecomp.passes import complex_parts

from helpers import assert_close


def _pairs(lib, x, y):
    return lib.view_as_complex(x), lib.view_as_complex(y)


def _put(lib, x, y):
    z = lib.view_as_complex(x).clone()
    z[lib.tensor([0, 2])] = lib.view_as_complex(y)[:2] * 2
    z[1, lib.tensor([3])] = 0.5
    return z


# name -> f(lib, x, y) with x, y: float32 (3, 4, 2) tensors; returns a real tensor
CASES = {
    "mul": lambda lib, x, y: lib.view_as_real(_pairs(lib, x, y)[0] * _pairs(lib, x, y)[1]),
    "add": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x) + lib.view_as_complex(y)),
    "sub": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x) - lib.view_as_complex(y)),
    "div": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x) / lib.view_as_complex(y)),
    "neg": lambda lib, x, y: lib.view_as_real(-lib.view_as_complex(x)),
    "conj": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x).conj()
                                               * lib.view_as_complex(y)),
    "conj_physical": lambda lib, x, y: lib.view_as_real(
        lib.conj_physical(lib.view_as_complex(x))),
    "abs": lambda lib, x, y: (lib.view_as_complex(x) * lib.view_as_complex(y)).abs(),
    "angle": lambda lib, x, y: lib.view_as_complex(x).angle() * y[..., 0],
    "real_imag": lambda lib, x, y: (lib.view_as_complex(x) * lib.view_as_complex(y)).real
    * 2 - (lib.view_as_complex(x) / lib.view_as_complex(y)).imag,
    "exp": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x).exp()),
    "log": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x).log()),
    "sgn": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x).sgn()),
    "polar": lambda lib, x, y: lib.view_as_real(lib.polar(x[..., 0].abs() + 0.5, x[..., 1])
                                                * lib.view_as_complex(y)),
    "complex": lambda lib, x, y: lib.view_as_real(lib.complex(x[..., 0], y[..., 1])
                                                  * lib.view_as_complex(y)),
    "times_real_tensor": lambda lib, x, y: lib.view_as_real(lib.view_as_complex(x)
                                                            * y[..., 0]),
    "real_over_complex": lambda lib, x, y: lib.view_as_real(y[..., 1]
                                                            / lib.view_as_complex(x)),
    "python_numbers": lambda lib, x, y: lib.view_as_real(
        (lib.view_as_complex(x) * (1 + 2j) + 0.5) * 2.5 - 1j),
    "sum": lambda lib, x, y: lib.view_as_real(
        (lib.view_as_complex(x) * lib.view_as_complex(y)).sum(dim=1)),
    "mean": lambda lib, x, y: lib.view_as_real(
        (lib.view_as_complex(x) * lib.view_as_complex(y)).mean()),
    "sum_keepdim": lambda lib, x, y: lib.view_as_real(
        lib.view_as_complex(x).sum(dim=0, keepdim=True) * lib.view_as_complex(y)),
    "where": lambda lib, x, y: lib.view_as_real(
        lib.where(x[..., 0] > 0, lib.view_as_complex(x), lib.view_as_complex(y))),
    "movement": lambda lib, x, y: lib.view_as_real(
        lib.cat([lib.view_as_complex(x), lib.view_as_complex(y)], 1).permute(1, 0)[1:6]
        .reshape(5, 3).flip(0)[:, None].expand(5, 2, 3)),
    "index": lambda lib, x, y: lib.view_as_real(
        lib.view_as_complex(x)[lib.tensor([2, 0, 2])]
        * lib.view_as_complex(y)[:, lib.tensor([1, 3, 0, 0])]),
    "index_put": lambda lib, x, y: lib.view_as_real(_put(lib, x, y)),
    "matmul": lambda lib, x, y: lib.view_as_real(
        lib.view_as_complex(x) @ lib.view_as_complex(y).transpose(0, 1)),
    "to_complex128": lambda lib, x, y: lib.view_as_real(
        lib.view_as_complex(x).to(lib.complex128) * lib.view_as_complex(y)).float(),
    "to_bool_and_real": lambda lib, x, y: lib.where(
        lib.complex(x[..., 0] * (x[..., 1] > 0), y[..., 1] * (y[..., 0] > 0)).bool(),
        lib.view_as_complex(x).real, y[..., 0]),
    "zero_pad": lambda lib, x, y: lib.view_as_real(
        lib.nn.functional.pad(lib.view_as_complex(x), (1, 2))),
}


def _run(lib, fn, x, y, weights, compiled):
    x = lib.tensor(x, requires_grad=True)
    y = lib.tensor(y, requires_grad=True)
    f = tc.compile(lambda a, b: fn(lib, a, b), fullgraph=True) if compiled else \
        (lambda a, b: fn(lib, a, b))
    out = f(x, y)
    (out * lib.tensor(weights)).sum().backward()
    return out, x.grad, y.grad


@pytest.mark.parametrize("name", sorted(CASES))
def test_complex_op_compiles_to_torchs_values_and_gradients(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    y = rng.standard_normal((3, 4, 2)).astype(np.float32)
    out_t = CASES[name](torch, torch.tensor(x), torch.tensor(y))
    weights = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    want = _run(torch, CASES[name], x, y, weights, False)
    got = _run(tc, CASES[name], x, y, weights, True)
    for what, g, w in zip(("value", "grad of x", "grad of y"), got, want):
        if w is None:       # an argument the case does not use
            assert g is None, f"{name}: {what} is not None"
        else:
            assert_close(g, w, rtol=2e-5, atol=2e-6, what=f"{name}: {what}")


def test_division_is_torchs_over_the_whole_range():
    """Smith's scaling: a divisor near float32's limit, a zero divisor, a real one."""
    num = torch.tensor([1 + 1j, 3e19 - 2e19j, 1 - 1j, 2 + 0j, 0j, 1e-30 + 1e-30j])
    den = torch.tensor([3e19 + 4e19j, 2e19 + 1e19j, 0j, 1e-20 + 1e-21j, 0j, 1e-30 - 2e-30j])
    want = torch.view_as_real(num / den).numpy()
    f = tc.compile(lambda a, b: (tc.view_as_real(a / b), tc.view_as_real(a / 0.5),
                                 tc.view_as_real(a / b.real)), fullgraph=True)
    got, half, by_real = f(tc.tensor(num.numpy()), tc.tensor(den.numpy()))
    np.testing.assert_array_equal(np.isnan(got.numpy()), np.isnan(want))
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-6, atol=0)
    np.testing.assert_allclose(half.numpy(), torch.view_as_real(num / 0.5).numpy(), rtol=2e-6)
    np.testing.assert_allclose(by_real.numpy(), torch.view_as_real(num / den.real).numpy(),
                               rtol=2e-6, atol=0)


def test_complex_arguments_and_results_cross_the_compiled_edge():
    """A complex argument goes in as its parts' view and a complex result comes back,
    its gradient flowing back through loss.backward() to a real leaf (a real gradient)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2)).astype(np.float32)
    w = (rng.standard_normal(5) + 1j * rng.standard_normal(5)).astype(np.complex64)
    def fn(lib, a, b):
        z = lib.view_as_complex(a) * b
        return z, z.abs()

    results = []
    for lib, f in ((torch, lambda a, b: fn(torch, a, b)),
                   (tc, tc.compile(lambda a, b: fn(tc, a, b), fullgraph=True))):
        xt = lib.tensor(x, requires_grad=True)
        z, size = f(xt, lib.tensor(w))
        assert z.dtype == lib.complex64
        (lib.view_as_real(z * (2 - 1j)).sum() + size.sum()).backward()
        results.append((z.detach().numpy(), size.detach().numpy(), xt.grad.numpy()))
    for what, g, want in zip(("z", "|z|", "grad"), results[1], results[0]):
        assert_close(g, want, rtol=2e-5, atol=2e-6, what=what)
    assert results[1][2].dtype == np.float32


def test_the_pass_alone_leaves_no_complex_value_verifies_and_keeps_the_outputs():
    w = tc.tensor(np.array([1 - 2j, 0.5j, 3, -1 + 1j], np.complex64))
    f = tc.compile(lambda a, b, w: (CASES["polar"](tc, a, b) * 2, CASES["abs"](tc, a, b),
                                    (tc.view_as_complex(a) * w).sum(0)),
                   fullgraph=True, backend="interp")
    f(tc.randn(3, 4, 2), tc.randn(3, 4, 2), w)
    traced = f.graphs["traced"]
    assert complex_parts.has_complex(traced)
    real = complex_parts.run(traced)
    verify(real, "after complex_parts")
    assert not any(n.dtype.kind == "c" for n in real.inputs + real.nodes)
    assert complex_parts.run(real) is real          # nothing left to rewrite
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(n.shape).astype(np.float32) if n.dtype.kind == "f" else
              (rng.standard_normal(n.shape) + 1j * rng.standard_normal(n.shape)).astype(n.dtype)
              for n in traced.inputs]
    want = interp.compile_graph(traced)(arrays)
    got = interp.compile_graph(real)([_as_real(a) if a.dtype.kind == "c" else a
                                      for a in arrays])
    for k, (g, w) in enumerate(zip(got, want)):
        if w.dtype.kind == "c":
            w = np.stack([w.real, w.imag], -1)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"output {k}")


def test_an_op_without_a_complex_rule_is_a_graph_break_with_eagers_numbers():
    z = tc.tensor([1 + 2j, 3j, 2, -1j]).reshape(1, 1, 2, 2)
    unfold = tc.nn.functional.unfold
    f = tc.compile(lambda z: unfold(z * 2, 1) * 3)
    with pytest.warns(UserWarning, match=r"graph break.*unfold.*complex64.*no compiled form"):
        got = f(z)
    assert got.tolist() == (unfold(z * 2, 1) * 3).tolist()
    with pytest.raises(tc.TraceError, match=r"unfold: .*complex64"):
        tc.compile(lambda z: unfold(z, 1), fullgraph=True)(z)
