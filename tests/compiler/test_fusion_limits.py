"""Fusion keeps kernels to MAX_MEMBERS nodes: a long chain of elementwise ops, each read
once (an unrolled RNN's weight gradient summed over a thousand time steps), is cut into
several kernels instead of one expression too deep to build or compile."""
import numpy as np

import tracecomp as tc
from tracecomp.codegen.llvm.target import host
from tracecomp.passes import fusion
from tracecomp.tracing.tracer import trace

STEPS = 1000


def summed_products(xs, w):
    total = xs[0] @ w
    for x in xs[1:]:
        total = total + x @ w           # a matmul (stored) added into a chain of adds
    return total


def test_a_long_add_chain_is_cut_into_bounded_kernels():
    rng = np.random.default_rng(0)
    xs = [tc.tensor(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(STEPS)]
    w = tc.tensor(rng.standard_normal((3, 3)).astype(np.float32))
    groups = fusion.run(trace(lambda w, *xs: summed_products(xs, w), w, *xs), host()).groups
    adds = [g for g in groups if g.kind == "elementwise"]
    assert max(len(g.nodes) for g in adds) == fusion.MAX_MEMBERS
    assert sum(len(g.nodes) for g in adds) == STEPS - 1     # every add is in some kernel
    assert len(adds) == -(-(STEPS - 1) // fusion.MAX_MEMBERS)

    compiled = tc.compile(lambda w, *xs: summed_products(xs, w))(w, *xs)
    want = sum(x.numpy().astype(np.float64) @ w.numpy() for x in xs)
    np.testing.assert_allclose(compiled.numpy(), want, rtol=1e-4, atol=1e-4)


def test_an_entry_with_more_calls_than_worth_optimizing_is_left_as_it_is():
    # the same 999 products and adds: over OPTIMIZE_MAX_CALLS kernels in one entry, which
    # LLVM is told not to optimize (its kernels still are), with the same results
    from tracecomp.codegen.llvm.backend import compile_graph
    from tracecomp.codegen.llvm.lower import entry
    rng = np.random.default_rng(1)
    xs = [tc.tensor(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(STEPS)]
    w = tc.tensor(rng.standard_normal((3, 3)).astype(np.float32))
    runner = compile_graph(trace(lambda w, *xs: summed_products(xs, w), w, *xs))
    defines = [line for line in runner.llvm_ir.splitlines() if line.startswith("define")]
    entries = [line for line in defines if '@"entry' in line]
    assert STEPS >= entry.OPTIMIZE_MAX_CALLS and entries     # 1000 products and 8 sums
    assert all("optnone" in line and "noinline" in line for line in entries)
    assert not any("optnone" in line for line in defines if line not in entries)
    (got,) = runner([t.numpy() for t in [w] + xs])
    want = sum(x.numpy().astype(np.float64) @ w.numpy() for x in xs)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
