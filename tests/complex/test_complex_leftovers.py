"""Complex gaps closed against torch: scatter_reduce / index_reduce / segment_reduce on
complex values (every reduce, include_self both ways, eager and compiled), and where torch
refuses (amax/amin, autograd of complex results, segment_reduce's complex data) the same
refusal here, of the same class, naming the op, the dtype and what is valid.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised

DTYPES = ("complex64", "complex128")
# per dtype: (rtol, atol) of a value against torch's
TOLERANCE = {"complex64": (2e-5, 2e-6), "complex128": (1e-12, 1e-13)}
REDUCES = ("sum", "prod", "mean", "amax", "amin")
INDEX = np.array([[0, 1, 0, 2, 2], [2, 2, 1, 0, 2], [0, 0, 1, 1, 2]])


def _complex(shape, dtype, seed):
    parts = np.random.default_rng(seed).uniform(-2.0, 2.0, shape + (2,))
    return (parts[..., 0] + 1j * parts[..., 1]).astype(dtype)


def _scatter_operands(lib, dtype, requires_grad=False):
    x = lib.tensor(_complex((3, 5), dtype, 0), requires_grad=requires_grad)
    src = lib.tensor(_complex((3, 5), dtype, 1), requires_grad=requires_grad)
    return x, lib.tensor(INDEX), src


def _scatter_reduce(lib, dtype, reduce, include_self, requires_grad=False):
    x, index, src = _scatter_operands(lib, dtype, requires_grad)
    return x.scatter_reduce(0, index, src, reduce, include_self=include_self)


def _computed(reduce):
    """torch computes sum, prod and mean of complex values; amax/amin it refuses."""
    return reduce in ("sum", "prod", "mean")


def _same_refusal(fn):
    want, got = raised(torch, fn), raised(tc, fn)
    assert isinstance(got, type(want)), f"tracecomp={got!r} | torch={want!r}"
    return want, got


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("include_self", (True, False))
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_eager(reduce, include_self, dtype):
    fn = lambda lib: _scatter_reduce(lib, dtype, reduce, include_self)   # noqa: E731
    if _computed(reduce):
        assert_close(fn(tc), fn(torch), *TOLERANCE[dtype])
        return
    want, got = _same_refusal(fn)
    assert str(want) in str(got)      # torch's words, then ours: what reduce is valid
    for named in ("scatter_reduce", reduce, "complex", '"sum", "prod" or "mean"'):
        assert named in str(got)


@pytest.mark.parametrize("backend", ("llvm", "interp"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("include_self", (True, False))
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_compiled(reduce, include_self, dtype, backend):
    def f(x, index, src):
        return x.scatter_reduce(0, index, src, reduce, include_self=include_self)
    compiled = tc.compile(f, fullgraph=True, backend=backend)
    if not _computed(reduce):
        with pytest.raises(NotImplementedError, match=f"not implemented for 'Complex.*{reduce}"):
            compiled(*_scatter_operands(tc, dtype))
        return
    got = compiled(*_scatter_operands(tc, dtype))
    assert_close(got, f(*_scatter_operands(torch, dtype)), *TOLERANCE[dtype])
    np.testing.assert_array_equal(got.numpy(), f(*_scatter_operands(tc, dtype)).numpy())


@pytest.mark.parametrize("reduce", ("sum", "prod", "mean"))
@pytest.mark.parametrize("which", ("self", "src", "both"))
def test_scatter_reduce_refuses_complex_autograd_at_the_op(which, reduce):
    """torch raises when the op runs (not at backward), whichever input requires grad."""
    def fn(lib):
        x, index, src = _scatter_operands(lib, "complex64")
        x.requires_grad_(which in ("self", "both"))
        src.requires_grad_(which in ("src", "both"))
        return x.scatter_reduce(0, index, src, reduce)
    want, got = _same_refusal(fn)
    assert str(want) in str(got) and "complex64" in str(got)
    with tc.no_grad(), torch.no_grad():      # without grad mode it computes
        assert_close(fn(tc), fn(torch), *TOLERANCE["complex64"])


def test_compiled_scatter_reduce_refuses_complex_autograd():
    x, index, src = _scatter_operands(tc, "complex64", requires_grad=True)
    f = tc.compile(lambda x, i, s: x.scatter_reduce(0, i, s, "prod"), fullgraph=True)
    with pytest.raises(RuntimeError, match="scatter_reduce does not support automatic diff"):
        f(x, index, src)


def test_scatter_multiply_complex_backward_is_refused_clearly():
    """scatter(reduce="multiply") has no derivative in torch (it fails at backward, for any
    dtype); on complex values ours fails there too, saying so (it said "gt_cpu")."""
    def fn(lib):
        x, index, src = _scatter_operands(lib, "complex64", requires_grad=True)
        x.scatter(0, index, src, reduce="multiply").abs().sum().backward()
    with pytest.warns(UserWarning):
        want = raised(torch, fn)
    assert "derivative for aten::scatter is not implemented" in str(want)
    with pytest.raises(RuntimeError, match="no derivative for complex values"):
        fn(tc)


@pytest.mark.filterwarnings("ignore:index_reduce.. is in beta")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("include_self", (True, False))
@pytest.mark.parametrize("reduce", ("prod", "mean", "amax", "amin"))
def test_index_reduce(reduce, include_self, dtype):
    def fn(lib, requires_grad=False):
        x = lib.tensor(_complex((4, 3), dtype, 0), requires_grad=requires_grad)
        source = lib.tensor(_complex((5, 3), dtype, 1), requires_grad=requires_grad)
        return x.index_reduce(0, lib.tensor([0, 2, 0, 3, 2]), source, reduce,
                              include_self=include_self)
    if reduce in ("prod", "mean") and include_self:
        assert_close(fn(tc), fn(torch), *TOLERANCE[dtype])
        want, got = _same_refusal(lambda lib: fn(lib, True))
        assert str(want) in str(got)
        return
    for requires_grad in (False, True):      # the dtype error comes first in torch
        want, got = _same_refusal(lambda lib, rg=requires_grad: fn(lib, rg))
        assert str(want) in str(got) and "index_reduce" in str(got)


@pytest.mark.parametrize("dtype", ("complex64", "int64"))
@pytest.mark.parametrize("reduce", ("sum", "mean", "max"))
def test_segment_reduce_refuses_non_float_data(reduce, dtype):
    def fn(lib):
        data = lib.arange(8).to(getattr(lib, dtype))
        return lib.segment_reduce(data, reduce, lengths=lib.tensor([3, 5]))
    want, got = _same_refusal(fn)
    assert str(want) in str(got) and "floating point" in str(got)


# --- backend="interp": no numpy warning where nothing is exceptional --------------------------
# The parts rules compute both sides of a `where` (complex division's two Smith branches, ...),
# so an operand with a zero real or imaginary part divided by zero in the side they drop.
NO_WARNING_CASES = {
    "div": lambda lib, a, b: a / b,
    "div_by_real": lambda lib, a, b: a / (b.real + 3.0),
    "real_by_complex": lambda lib, a, b: (b.real + 3.0) / a,
    "reciprocal": lambda lib, a, b: lib.reciprocal(a),
    "rsqrt": lambda lib, a, b: lib.rsqrt(a),
    "log1p": lambda lib, a, b: lib.log1p(a),
    "asinh": lambda lib, a, b: lib.asinh(a),
    "sigmoid": lambda lib, a, b: lib.sigmoid(a),
    "pow": lambda lib, a, b: a ** b,
    "pow_minus_one": lambda lib, a, b: a ** -1,
}
# nonzero, with zero real or imaginary parts (and mixed)
_DIVIDEND = [1 + 2j, 3 + 0j, 0 + 1j, -2 + 0j, 0.5 - 0.25j, 0 - 3j, 2 + 2j]
_DIVISOR = [2 + 0j, 0 + 1j, 1.5 + 0j, 0 - 2j, 3 + 4j, -1 + 0j, 0.5 + 0j]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(NO_WARNING_CASES))
def test_interp_complex_ops_raise_no_spurious_warning(case, dtype):
    fn = NO_WARNING_CASES[case]
    a, b = (np.array(v, dtype=dtype) for v in (_DIVIDEND, _DIVISOR))
    got = tc.compile(lambda x, y: fn(tc, x, y), backend="interp", fullgraph=True)(
        tc.tensor(a), tc.tensor(b))
    assert_close(got, fn(torch, torch.tensor(a), torch.tensor(b)), *TOLERANCE[dtype])


# --- linalg.matrix_exp of complex matrices ----------------------------------------------------
def _matrix_exp_loss(lib, a, w):
    """a real loss of exp(A) reading both parts (torch's conjugate Wirtinger gradient)"""
    e = lib.linalg.matrix_exp(a)
    return (e * w).real.sum() + (e.abs() ** 2).sum() * 0.1


@pytest.mark.parametrize("mode", ("eager", "llvm", "interp"))
@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_exp_complex(dtype, mode):
    a, w = _complex((2, 4, 4), dtype, 2) * 0.6, _complex((2, 4, 4), dtype, 3)
    ta = torch.tensor(a, requires_grad=True)
    want = _matrix_exp_loss(torch, ta, torch.tensor(w))
    want.backward()
    fn = lambda x, y: _matrix_exp_loss(tc, x, y)      # noqa: E731
    if mode != "eager":
        fn = tc.compile(fn, backend=mode, fullgraph=True)
    xa = tc.tensor(a, requires_grad=True)
    got = fn(xa, tc.tensor(w))
    got.backward()
    assert_close(got, want.detach(), *TOLERANCE[dtype])
    assert_close(xa.grad, ta.grad, *TOLERANCE[dtype], what="gradient")
    assert_close(tc.linalg.matrix_exp(tc.tensor(a)), torch.linalg.matrix_exp(torch.tensor(a)),
                 *TOLERANCE[dtype])


@pytest.mark.parametrize("op", ("cholesky_ex", "inv_ex", "cond"))
def test_linalg_complex_refusal_does_not_contradict_itself(op):
    """ops written for real matrices said "Expected a floating point or complex tensor ...
    Got ComplexFloat"; they say that tracecomp has no complex matrices for them yet"""
    with pytest.raises(RuntimeError, match=f"linalg.{op}: tracecomp's linalg has no complex"):
        getattr(tc.linalg, op)(tc.tensor(_complex((3, 3), "complex64", 0)))


# --- logcumsumexp and logaddexp of complex values -----------------------------------------
INF, NAN = float("inf"), float("nan")
# torch's special cases: equal infinite real parts, NaN in either part, huge gaps
SPECIAL = [0j, 1 + 2j, -3 + 0.5j, 1e3 + 1j, -1e3 - 2j, 80 + 3j, 1e30 + 0j, complex(-INF, 0),
           complex(-INF, 2), complex(INF, 0), complex(INF, 1), complex(NAN, 0), complex(0, NAN),
           complex(2, INF), 1e-8 + 1e-8j, -1e-8j]
LOG_CASES = {
    "logcumsumexp_dim0": lambda lib, a, b: lib.logcumsumexp(a, 0),
    "logcumsumexp_dim1": lambda lib, a, b: lib.logcumsumexp(a, -1),
    "logaddexp": lambda lib, a, b: lib.logaddexp(a, b),
}


def _run(fn, mode):
    """fn eagerly, or compiled by the backend `mode` (a graph break fails)"""
    return fn if mode == "eager" else tc.compile(fn, backend=mode, fullgraph=True)


def _log_operands(dtype):
    """parts of a few units, and large real parts (exp would overflow) and a -inf one"""
    a, b = _complex((3, 6), dtype, 4) * 3, _complex((3, 6), dtype, 5)
    a[0, 2], a[1, 0], a[2, 3], b[1, 4] = 400 + 1j, complex(-INF, 0), -300 - 2j, 95 - 1j
    return a, b


@pytest.mark.parametrize("mode", ("eager", "llvm", "interp"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(LOG_CASES))
def test_log_sum_exp_complex(case, dtype, mode):
    fn, (a, b) = LOG_CASES[case], _log_operands(dtype)
    w = _complex((3, 6), dtype, 6)

    def loss(lib, x, y, weights):
        out = fn(lib, x, y)
        return out, (out * weights).real.sum()
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (a, b))
    want, want_loss = loss(torch, tx, ty, torch.tensor(w))
    want_loss.backward()
    x, y = (tc.tensor(v, requires_grad=True) for v in (a, b))
    got, got_loss = _run(lambda *xs: loss(tc, *xs), mode)(x, y, tc.tensor(w))
    got_loss.backward()
    assert_close(got, want, *TOLERANCE[dtype])
    for ours, theirs, name in ((x, tx, "a"), (y, ty, "b")):
        if theirs.grad is not None:
            assert_close(ours.grad, theirs.grad.resolve_conj(), *TOLERANCE[dtype],
                         what=f"gradient of {name}")


@pytest.mark.parametrize("mode", ("eager", "llvm"))
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sum_exp_complex_special_values(dtype, mode):
    """every pair of SPECIAL for logaddexp, and rows of them in shuffled orders for
    logcumsumexp: torch's infinities and NaNs"""
    grid = np.array(SPECIAL, dtype=dtype)
    a, b = np.repeat(grid, grid.size), np.tile(grid, grid.size)
    rows = np.stack([np.random.default_rng(k).permutation(grid) for k in range(20)])

    def both(lib, a, b, rows):
        return lib.logaddexp(a, b), lib.logcumsumexp(rows, 1)
    got = _run(lambda *xs: both(tc, *xs), mode)(*map(tc.tensor, (a, b, rows)))
    for ours, theirs in zip(got, both(torch, *map(torch.tensor, (a, b, rows)))):
        assert_close(ours, theirs, *TOLERANCE[dtype])


def test_logaddexp_complex_with_real_operand_promotes():
    a, b = _log_operands("complex64")
    assert_close(tc.logaddexp(tc.tensor(a), tc.tensor(b.real)),
                 torch.logaddexp(torch.tensor(a), torch.tensor(b.real)), *TOLERANCE["complex64"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_logaddexp2_refuses_complex_as_torch(dtype):
    def fn(lib):
        z = lib.tensor(_complex((3,), dtype, 0))
        return lib.logaddexp2(z, z)
    want, got = _same_refusal(fn)
    assert str(want) in str(got)


@pytest.mark.parametrize("mode", ("eager", "llvm"))
@pytest.mark.parametrize("value", (1 + 2j, complex(NAN, 1), complex(-INF, 3)))
def test_log_sum_exp_complex_zero_dim(value, mode):
    """a 0-d logcumsumexp is its input (torch's), a 0-d logaddexp computes (numpy scalars
    there once failed: 'attribute real of numpy.generic objects is not writable')"""
    def both(lib, z, w):
        return lib.logcumsumexp(z, 0), lib.logaddexp(z, w)
    got = _run(lambda *xs: both(tc, *xs), mode)(tc.tensor(value), tc.tensor(2 + 0j))
    for ours, theirs in zip(got, both(torch, torch.tensor(value), torch.tensor(2 + 0j))):
        assert_close(ours, theirs, *TOLERANCE["complex64"])
