"""Loop coalescing (codegen/loop_dims.py) and the plain loops of elementwise kernels: the
merged shapes are exact properties; the kernels' values are checked against eager."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.loop_dims import merged_shapes

CASES = [   # root shape, operand shapes, keep_first -> merged root, merged operands
    ((10, 256), [(10, 256), (10, 256)], False, (2560,), [(2560,), (2560,)]),
    ((64, 256), [(64, 256), (256,)], False, (64, 256), [(64, 256), (1, 256)]),
    ((4, 5, 6), [(4, 5, 6), (4, 1, 1)], False, (4, 30), [(4, 30), (4, 1)]),
    ((4, 5, 6), [(4, 5, 6), (1, 5, 6)], False, (4, 30), [(4, 30), (1, 30)]),
    ((4, 5, 6), [(4, 5, 6), (5, 1)], False, (4, 5, 6), [(4, 5, 6), (1, 5, 1)]),
    ((4, 1, 6), [(4, 1, 6), (6,)], False, (4, 6), [(4, 6), (1, 6)]),  # a size-1 dim fits
    ((8, 3, 2), [(8, 3, 2)], True, (8, 6), [(8, 6)]),                   # dim 0 stays alone
    ((7,), [(7,), ()], False, (7,), [(7,), (1,)]),
]


@pytest.mark.parametrize("root, shapes, keep_first, want_root, want", CASES)
def test_merged_shapes(root, shapes, keep_first, want_root, want):
    got_root, got = merged_shapes(root, shapes, keep_first)
    assert (got_root, got) == (want_root, want)
    for shape in got:      # every merged operand still broadcasts to the merged root
        np.broadcast_shapes(shape, got_root)


BROADCASTS = [((10, 256), (10, 256)), ((64, 256), (256,)), ((4, 5, 6), (4, 1, 1)),
              ((4, 5, 6), (1, 5, 6)), ((4, 5, 6), (5, 1)), ((3, 1, 4, 5), (1, 7, 1, 5))]


@pytest.mark.parametrize("a_shape, b_shape", BROADCASTS)
def test_coalesced_elementwise_kernels_match_eager(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a = tc.tensor(rng.standard_normal(a_shape).astype(np.float32))
    b = tc.tensor(rng.standard_normal(b_shape).astype(np.float32))

    def exact(a, b):       # every step rounds as eagerly: a misplaced element shows
        return tc.where(a > b, a, b) - a * 2

    def rounded(a, b):     # tanh and a fused multiply-add round a little differently
        return (a * b + 1).tanh() - b

    np.testing.assert_array_equal(tc.compile(exact)(a, b).numpy(), exact(a, b).numpy())
    np.testing.assert_allclose(tc.compile(rounded)(a, b).numpy(), rounded(a, b).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_elementwise_loops_are_neither_unrolled_nor_interleaved():
    """The loop metadata reaches LLVM (it unrolled a (10, 256) update into 130 KB of IR)."""
    f = tc.compile(lambda p, g: p - 0.01 * g)
    p, g = tc.randn(10, 256), tc.randn(10, 256)
    np.testing.assert_allclose(f(p, g).numpy(), (p - 0.01 * g).numpy(), rtol=1e-6)
    ir_text, optimized = f.llvm_ir["forward"], f.optimized_ir["forward"]
    assert '!"llvm.loop.unroll.disable"' in ir_text
    assert '!"llvm.loop.interleave.count", i32 1' in ir_text
    assert "llvm.loop.unroll.disable" in optimized


def test_loops_calling_mathlib_are_interleaved(monkeypatch):
    """A tanh's loop is interleaved MATH_INTERLEAVE times (latency-bound otherwise), a
    plain multiply-add's is not, and the values are eager's at every length around the
    interleaved body's 4 vectors (the tail included; interleaved from any length here, and
    the cache off, so that no object compiled under the usual threshold is reused)."""
    from tracecomp.codegen.llvm.lower import kernels
    monkeypatch.setattr(kernels, "MATH_INTERLEAVE_FROM", 1)
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    f = tc.compile(lambda x, a: (x * a + 1).tanh())
    for n in (1, 7, 31, 32, 33, 127, 1000):
        x, a = tc.randn(n), tc.randn(n)
        np.testing.assert_allclose(f(x, a).numpy(), (x * a + 1).tanh().numpy(), rtol=2e-6,
                                   atol=1e-7)
    interleaved = f'!"llvm.loop.interleave.count", i32 {kernels.MATH_INTERLEAVE}'
    assert interleaved in f.llvm_ir["forward"]
    assert kernels.MATH_INTERLEAVE > 1
    g = tc.compile(lambda x, a: x * a + 1)
    g(tc.randn(40), tc.randn(40))
    assert '!"llvm.loop.interleave.count", i32 1' in g.llvm_ir["forward"]
    assert interleaved not in g.llvm_ir["forward"]


def test_only_long_mathlib_loops_are_interleaved():
    """Below MATH_INTERLEAVE_FROM elements the copies would cost compile time for nothing;
    a loop whose length is known only at run time is interleaved."""
    from tracecomp.codegen.llvm.lower.kernels import MATH_INTERLEAVE, MATH_INTERLEAVE_FROM
    interleaved = f'!"llvm.loop.interleave.count", i32 {MATH_INTERLEAVE}'
    for n, expected in ((MATH_INTERLEAVE_FROM - 1, False), (MATH_INTERLEAVE_FROM, True)):
        f = tc.compile(lambda x: x.exp() * 2)
        x = tc.randn(n)
        np.testing.assert_allclose(f(x).numpy(), (x.exp() * 2).numpy(), rtol=2e-6)
        assert (interleaved in f.llvm_ir["forward"]) is expected, n
    f = tc.compile(lambda x: x.exp() * 2, dynamic=True)
    for n in (5, 9):
        x = tc.randn(n)
        np.testing.assert_allclose(f(x).numpy(), (x.exp() * 2).numpy(), rtol=2e-6)
    assert interleaved in f.llvm_ir["forward"]
