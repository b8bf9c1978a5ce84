"""A fold whose windows tile its output (a non-overlapping max pool's gradient) fuses into its
consumer on the llvm backend as a movement op (fusion.moving_fold, window._tiling_fold_at):
one kernel computes the pool's backward and the activation's mask, with no buffer for the
fold's output. Results must equal the numpy impls exactly (the fold adds its one entry to
zero: -0.0 becomes +0.0), with output rows and columns no window reaches left at zero."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp.codegen.llvm.backend import compile_graph
from tracecomp.codegen.llvm.target import host
from tracecomp.ops import conv
from tracecomp.passes import fusion
from tracecomp.passes.target import REFERENCE
from tracecomp.tracing.tracer import trace


def _backward(size, kernel):
    def pool_backward(cols, mask):
        out = conv.fold(cols * 2.0, (size, size), kernel, stride=kernel)
        return tc.where(mask > 0, out, 0.0)
    return pool_backward


@pytest.mark.parametrize("size, kernel", [(28, 2), (29, 2), (10, 3), (7, 7)])
def test_the_fold_fuses_into_its_consumer_and_equals_numpy(size, kernel):
    rng = np.random.default_rng(size)
    per = size // kernel
    cols = rng.standard_normal((3, 4 * kernel * kernel, per * per)).astype(np.float32)
    cols[0, 0, :] = -0.0
    mask = rng.standard_normal((3, 4, size, size)).astype(np.float32)
    mask[0] = 1.0
    fn = _backward(size, kernel)
    graph = trace(fn, tc.tensor(cols), tc.tensor(mask))
    groups = [g for g in fusion.run(graph, host()).groups
              if g.kind not in ("view", "constant")]
    assert len(groups) == 1 and any(n.op == "fold" for n in groups[0].nodes), groups
    got = compile_graph(graph)([cols, mask])[0]
    want = fn(tc.tensor(cols), tc.tensor(mask)).numpy()
    np.testing.assert_array_equal(got, want)
    # the -0.0 entries (channel 0's first tap) come out +0.0, as numpy's `+=` into zeros
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    assert not np.signbit(got[0, 0, ::kernel, ::kernel][:per, :per]).any()
    if size % kernel:
        assert not got[:, :, per * kernel:, :].any() and not got[:, :, :, per * kernel:].any()


def test_overlapping_folds_and_other_targets_keep_their_own_kernel():
    cols = tc.randn(2, 4 * 9, 36)
    overlapping = trace(lambda c: conv.fold(c, (8, 8), 3, stride=1) * 2.0, cols)
    tiling = trace(lambda c: conv.fold(c, (18, 18), 3, stride=3) * 2.0, cols)
    for graph, target in ((overlapping, host()), (tiling, REFERENCE)):
        kinds = [g.kind for g in fusion.run(graph, target).groups]
        assert "fold" in kinds and "elementwise" in kinds, kinds
