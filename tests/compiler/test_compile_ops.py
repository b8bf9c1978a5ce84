"""The op table (tests/op_table.py) through the compile pipeline: each case is traced,
simplified, differentiated by the graph autodiff pass and run on the reference backend and
on the llvm backend; forward values must equal eager tracecomp's and gradients the eager
tape's.

Cases whose output shape or control flow depends on tensor values cannot be traced (listed
in DATA_DEPENDENT): with fullgraph=True they fail with a TraceError that says so; by
default they are a graph break, run eagerly with a warning, never wrongly.
"""
import numpy as np
import pytest

import tracecomp as tc

from helpers import assert_close
from op_table import CASES, differentiable_args, make_inputs, outputs, variant_id

VARIANTS = [pytest.param(c, k, id=variant_id(c, k)) for c in CASES for k in range(len(c.variants))]
# values decide the output's shape (boolean-mask indexing): a graph break
DATA_DEPENDENT = {"index_mask", "index_mask_combo", "index_mask_values"}


def _tensors(arrays, diff):
    return [tc.tensor(a.copy(), requires_grad=i in diff) for i, a in enumerate(arrays)]


def _compiled(case, backend, fullgraph=False):
    return tc.compile(lambda *args: case.fn(tc, *args), backend=backend, fullgraph=fullgraph)


@pytest.mark.parametrize("case,k", VARIANTS)
def test_compiled_matches_eager(case, k, backend):
    diff = differentiable_args(case, k) if case.grad else ()
    arrays = make_inputs(case, k, case.dtypes[0])
    eager_in, comp_in = _tensors(arrays, diff), _tensors(arrays, diff)
    want = outputs(case.fn(tc, *eager_in))
    if case.name in DATA_DEPENDENT:
        with pytest.raises(tc.TraceError, match="depends on the data"):
            _compiled(case, backend, fullgraph=True)(*comp_in)
        with pytest.warns(UserWarning, match="graph break in .*depends on the data"):
            got = outputs(_compiled(case, backend)(*comp_in))
    else:
        got = outputs(_compiled(case, backend)(*comp_in))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, case.rtol, case.atol, what=f"{case.name} output {i}")
    pairs = [(g, w) for g, w in zip(got, want) if w.requires_grad]
    if not pairs:
        return
    for i, (g, _) in enumerate(pairs):
        assert g.requires_grad, f"{case.name}: compiled output {i} lost requires_grad"
    rng = np.random.default_rng(k)
    cots = [rng.standard_normal(tuple(w.shape)).astype(w._data.dtype) for _, w in pairs]
    want_g = tc.autograd.grad([w for _, w in pairs], [eager_in[i] for i in diff],
                              [tc.tensor(c) for c in cots], allow_unused=True)
    got_g = tc.autograd.grad([g for g, _ in pairs], [comp_in[i] for i in diff],
                             [tc.tensor(c) for c in cots], allow_unused=True)
    for i, (g, w) in enumerate(zip(got_g, want_g)):
        if w is None:
            assert g is None or not np.any(g.numpy()), f"{case.name}: spurious gradient"
            continue
        assert_close(g, w, case.rtol * 10, case.atol * 10, what=f"{case.name} d/d(arg {i})")
