"""The op table (tests/op_table.py) eagerly on tensors on 'cuda' (numba's simulator here):
each variant's outputs and input gradients equal the same op's on the CPU, which the eager
suite compares with torch. Device ops run as one-node kernels, or on the host where no
kernel computes the op (codegen/cuda/device.py), so this checks both paths and the tape."""
import dataclasses

import numpy as np
import pytest

import tracecomp as tc

from op_table import CASES, differentiable_args, make_inputs
from op_table import outputs as _outputs
from op_table import variant_id as _id

# smaller inputs where the simulator runs a Python thread per element for minutes: the
# same calls, ranks and windows (ceil_mode's partial ones included) on fewer batch rows and
# channels (avg_pool3d's device sums: 67 + 30 s of the suite on the tables' shapes; the
# in-place conv's unfold, product and backward on one image of two: 6.8 s loaded)
SIMULATED_SHAPES = {"F_avg_pool3d": (((1, 2, 4, 5, 6),), ((1, 5, 4, 4),)),
                    "inplace_conv_leaky_relu": (((1, 3, 6, 6), (4, 3, 4, 4)),)}
CUDA_CASES = [dataclasses.replace(c, variants=SIMULATED_SHAPES[c.name])
              if c.name in SIMULATED_SHAPES else c for c in CASES]
VARIANTS = [pytest.param(c, k, id=_id(c, k)) for c in CUDA_CASES
            for k in range(len(c.variants))]


def _host(t):
    return t.detach().cpu().numpy() if isinstance(t, tc.Tensor) else np.asarray(t)


def _run(case, k, arrays, where):
    diff = differentiable_args(case, k)
    args = [tc.tensor(a.copy(), requires_grad=i in diff, device=where)
            for i, a in enumerate(arrays)]
    outs = _outputs(case.fn(tc, *args))
    grads = []
    wanted = [o for o in outs if isinstance(o, tc.Tensor) and o.requires_grad]
    if diff and wanted:
        total = sum((o.float() * (j + 1.5)).sum() for j, o in enumerate(wanted))
        total.backward()
        grads = [args[i].grad for i in diff]
    return outs, grads


@pytest.mark.parametrize("case,k", VARIANTS)
def test_op_on_cuda_matches_the_cpu(case, k):
    arrays = make_inputs(case, k, case.dtypes[0])
    want, want_grads = _run(case, k, arrays, "cpu")
    got, got_grads = _run(case, k, arrays, "cuda")
    assert len(got) == len(want)
    for g, w in zip(got + got_grads, want + want_grads):
        if isinstance(w, tc.Tensor):
            assert isinstance(g, tc.Tensor) and g.device == tc.device("cuda", 0), case.name
            assert g.dtype == w.dtype and tuple(g.shape) == tuple(w.shape), case.name
        if w is None:
            assert g is None
            continue
        want_ = _host(w)
        # the device sums in another order: where large values cancel (eigh's gradients
        # reach 1e5), an element's error scales with the largest, not with itself
        scale = max(1.0, float(np.abs(want_[np.isfinite(want_)]).max(initial=0)))
        np.testing.assert_allclose(_host(g), want_, rtol=max(case.rtol, 1e-5),
                                   atol=max(case.atol, 1e-6) * scale, err_msg=case.name)
