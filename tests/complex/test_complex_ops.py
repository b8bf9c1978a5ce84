"""Complex tensors against torch 2.13: each op's value, dtype and gradient.

One table of cases; each case runs the same expression under tracecomp and torch on the
same complex64/complex128 (and float) inputs. The gradient goes through a real loss that
weighs the real and imaginary parts of the output by fixed random numbers, so every
direction of torch's convention (dL/dx + i dL/dy) is checked, for complex inputs and for
real inputs of complex ops (whose gradient is real).
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

RNG = np.random.default_rng(0)


def _complex(shape, dtype=np.complex64, away_from_zero=False):
    z = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    if away_from_zero:
        z = z + 0.5 * z / np.abs(z)
    return z.astype(dtype)


def _real(shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


C = _complex((3, 4))
C2 = _complex((3, 4))
D = _complex((3, 4), np.complex128)
NZ = _complex((3, 4), away_from_zero=True)        # for log, 1/x, angle, abs
SMALL = (0.4 * _complex((3, 4), np.complex128))     # inside the unit disc: asin, atanh, ...
R = _real((3, 4))
R64 = _real((3, 4), np.float64)
M1, M2 = _complex((2, 3, 4)), _complex((4, 5))

# name: (fn(lib, *xs), inputs)
CASES = {
    "neg": (lambda lib, x: -x, [C]),
    "add": (lambda lib, x, y: x + y, [C, C2]),
    "sub": (lambda lib, x, y: x - y, [C, C2]),
    "mul": (lambda lib, x, y: x * y, [C, C2]),
    "mul_self": (lambda lib, x: x * x, [C]),
    "div": (lambda lib, x, y: x / y, [C, NZ]),
    "pow_tensor": (lambda lib, x, y: x ** y, [NZ, C2]),
    "pow_2": (lambda lib, x: x ** 2, [C]),
    "pow_2_5": (lambda lib, x: x ** 2.5, [NZ]),
    "pow_complex_scalar": (lambda lib, x: x ** (0.5 + 1j), [NZ]),
    "scalar_ops": (lambda lib, x: (x * (2 - 1j) + 3j) / (1 + 1j) - 0.5, [C]),
    "rdiv": (lambda lib, x: (1 + 1j) / x, [NZ]),
    "mixed_real": (lambda lib, x, r: x * r + r, [C, R]),
    "mixed_widen": (lambda lib, x, r: x * r, [C, R64]),
    "exp": (lambda lib, x: x.exp(), [C]),
    "log": (lambda lib, x: x.log(), [NZ]),
    "log2": (lambda lib, x: lib.log2(x), [NZ]),
    "log10": (lambda lib, x: lib.log10(x), [NZ]),
    "log1p": (lambda lib, x: x.log1p(), [NZ]),
    "expm1": (lambda lib, x: x.expm1(), [C]),
    "sqrt": (lambda lib, x: x.sqrt(), [NZ]),
    "rsqrt": (lambda lib, x: x.rsqrt(), [NZ]),
    "reciprocal": (lambda lib, x: x.reciprocal(), [NZ]),
    "square": (lambda lib, x: x.square(), [C]),
    "sin": (lambda lib, x: x.sin(), [C]),
    "cos": (lambda lib, x: x.cos(), [C]),
    "tan": (lambda lib, x: x.tan(), [SMALL]),
    "tanh": (lambda lib, x: x.tanh(), [SMALL]),
    "sigmoid": (lambda lib, x: x.sigmoid(), [SMALL]),
    "sinh": (lambda lib, x: x.sinh(), [C]),
    "cosh": (lambda lib, x: x.cosh(), [C]),
    "asin": (lambda lib, x: x.asin(), [SMALL]),
    "acos": (lambda lib, x: x.acos(), [SMALL]),
    "atan": (lambda lib, x: x.atan(), [SMALL]),
    "asinh": (lambda lib, x: x.asinh(), [SMALL]),
    "acosh": (lambda lib, x: x.acosh(), [SMALL + 2]),
    "atanh": (lambda lib, x: x.atanh(), [SMALL]),
    "abs": (lambda lib, x: x.abs(), [NZ]),
    "angle": (lambda lib, x: x.angle(), [NZ]),
    "sgn": (lambda lib, x: x.sgn(), [NZ]),
    "real": (lambda lib, x: x.real * 1, [C]),
    "imag": (lambda lib, x: x.imag * 1, [C]),
    "conj": (lambda lib, x: x.conj() * 1, [C]),
    "conj_physical": (lambda lib, x: lib.conj_physical(x), [C]),
    "complex": (lambda lib, a, b: lib.complex(a, b), [R, _real((3, 4))]),
    "polar": (lambda lib, a, b: lib.polar(a, b), [np.abs(R) + 0.1, _real((3, 4))]),
    "view_as_real": (lambda lib, x: lib.view_as_real(x * 1), [C]),
    "view_as_complex": (lambda lib, x: lib.view_as_complex(x * 1), [_real((3, 4, 2))]),
    "sum": (lambda lib, x: x.sum(), [C]),
    "sum_dim": (lambda lib, x: x.sum(1, keepdim=True), [D]),
    "mean": (lambda lib, x: x.mean(0), [C]),
    "prod": (lambda lib, x: x.prod(1), [NZ]),
    "cumsum": (lambda lib, x: x.cumsum(1), [C]),
    "cumprod": (lambda lib, x: x.cumprod(1), [NZ]),
    "matmul": (lambda lib, a, b: a @ b, [M1, M2]),
    "matmul_vec": (lambda lib, a, b: a @ b, [M2.T.copy(), _complex(4)]),
    "einsum": (lambda lib, a, b: lib.einsum("bij,jk->bki", a, b), [M1, M2]),
    "mH": (lambda lib, a: a.mH @ a, [C]),
    "reshape_permute": (lambda lib, x: x.reshape(2, 6).t()[1:] * 1, [C]),
    "cat_stack": (lambda lib, x, y: lib.cat([lib.stack([x, y]), x[None]]) * 1, [C, C2]),
    "where": (lambda lib, x, y: lib.where(x.real > 0, x, y), [C, C2]),
    "to_complex128": (lambda lib, x: x.to(lib.complex128), [C]),
    "var": (lambda lib, x: x.var(1), [C]),
    "std": (lambda lib, x: x.std(), [D]),
    "norm": (lambda lib, x: x.norm(), [C]),
    "vector_norm_3": (lambda lib, x: lib.linalg.vector_norm(x, 3, dim=0), [NZ]),
    "dot": (lambda lib, x, y: lib.dot(x[0], y[1]), [C, C2]),
    "vdot": (lambda lib, x, y: lib.vdot(x[0], y[1]), [C, C2]),
    "outer_mv": (lambda lib, x: lib.outer(x[0], x[1])[:3] + lib.mv(x, x[1])[:, None], [C]),
    "lerp_addcmul": (lambda lib, x, y: lib.addcmul(lib.lerp(x, y, 0.3), x, y, value=0.5),
                     [C, C2]),
    "masked_fill_flip_roll": (lambda lib, x: x.masked_fill(x.real > 0, 2j).flip(0).roll(1, 1),
                              [C]),
    "real_to_complex": (lambda lib, r: r.to(lib.complex64) * (1 + 2j), [R]),
}


def _run(lib, name, xs_np):
    fn, _ = CASES[name]
    xs = [lib.tensor(x.copy(), requires_grad=True) for x in xs_np]
    out = fn(lib, *xs)
    weights = np.random.default_rng(1).standard_normal((2,) + tuple(out.shape))
    w_re, w_im = (lib.tensor(w, dtype=lib.float64) for w in weights)
    if out.is_complex():
        loss = (out.real * w_re).sum() + (out.imag * w_im).sum()
    else:
        loss = (out * w_re).sum()
    loss.backward()
    return out, [x.grad.resolve_conj() for x in xs]


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_dtype_and_grad_match_torch(name):
    xs = CASES[name][1]
    got, got_grads = _run(tc, name, xs)
    want, want_grads = _run(torch, name, xs)
    tol = dict(rtol=2e-4, atol=2e-5)
    assert_close(got, want, what=f"{name} value", **tol)
    for k, (g, w) in enumerate(zip(got_grads, want_grads)):
        assert_close(g, w, what=f"{name} grad of input {k}", **tol)


def test_gradient_is_torchs_conjugate_wirtinger_convention():
    """For L = |z|^2 = x^2 + y^2 torch's gradient is dL/dx + i dL/dy = 2z (not 2 conj(z))."""
    z = tc.tensor([1 + 2j, -3 + 0.5j], requires_grad=True)
    (z.abs() ** 2).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.array([1 + 2j, -3 + 0.5j]), rtol=1e-6)


GRAD_FN_CASES = {
    "real": lambda lib, z: z.real, "imag": lambda lib, z: z.imag, "conj": lambda lib, z: z.conj(),
    "abs": lambda lib, z: z.abs(), "angle": lambda lib, z: z.angle(), "sgn": lambda lib, z: z.sgn(),
    "view_as_real": lambda lib, z: lib.view_as_real(z),
    "view_as_complex": lambda lib, z: lib.view_as_complex(lib.view_as_real(z)),
    "complex": lambda lib, z: lib.complex(z.real, z.imag),
    "fft": lambda lib, z: lib.fft.fft(z), "rfft": lambda lib, z: lib.fft.rfft(z.real),
    "irfft": lambda lib, z: lib.fft.irfft(z),
}


@pytest.mark.parametrize("name", sorted(GRAD_FN_CASES))
def test_grad_fn_names_match_torch(name):
    names = []
    for lib in (tc, torch):
        z = lib.tensor(C[0].copy(), requires_grad=True) * 2
        names.append(type(GRAD_FN_CASES[name](lib, z).grad_fn).__name__)
    assert names[0] == names[1], f"tracecomp={names[0]} | torch={names[1]}"
