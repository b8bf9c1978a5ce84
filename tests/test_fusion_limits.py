"""Fusion keeps kernels to MAX_MEMBERS nodes: a long chain of elementwise ops, each read
once (an unrolled RNN's weight gradient summed over a thousand time steps), is cut into
several kernels instead of one expression too deep to build or compile."""
import numpy as np

import tracecomp as tc
from tracecomp.codegen.llvm.kernels import supported
from tracecomp.passes import fusion
from tracecomp.tracer import trace

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
    groups = fusion.run(trace(lambda w, *xs: summed_products(xs, w), w, *xs), supported).groups
    adds = [g for g in groups if g.kind == "elementwise"]
    assert max(len(g.nodes) for g in adds) == fusion.MAX_MEMBERS
    assert sum(len(g.nodes) for g in adds) == STEPS - 1     # every add is in some kernel
    assert len(adds) == -(-(STEPS - 1) // fusion.MAX_MEMBERS)

    compiled = tc.compile(lambda w, *xs: summed_products(xs, w))(w, *xs)
    want = sum(x.numpy().astype(np.float64) @ w.numpy() for x in xs)
    np.testing.assert_allclose(compiled.numpy(), want, rtol=1e-4, atol=1e-4)
