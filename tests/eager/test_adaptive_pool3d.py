"""adaptive_avg_pool3d / adaptive_max_pool3d and their modules against torch 2.13
(nn/functional_adaptive3d.py): values, indices, gradients, unbatched input, None and 0 in
output_size, errors; compiled (interp and llvm) as eager."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

RNG = np.random.default_rng(0)
CASES = [((2, 3, 5, 7, 6), (2, 3, 4)), ((3, 5, 7, 6), 2), ((1, 2, 4, 4, 4), (None, 2, 3)),
         ((1, 2, 3, 4, 5), (3, 4, 5)), ((1, 1, 7, 5, 3), (2, 2, 2)), ((1, 2, 3, 4, 5), 0)]


@pytest.mark.parametrize("shape,out", CASES, ids=[f"{s}->{o}" for s, o in CASES])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_values_indices_and_gradients_are_torchs(shape, out, kind):
    x = RNG.standard_normal(shape).astype(np.float32)
    ours, theirs = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if kind == "avg":
        got = tc.nn.functional.adaptive_avg_pool3d(ours, out)
        want = torch.nn.functional.adaptive_avg_pool3d(theirs, out)
    else:
        got, where = tc.nn.functional.adaptive_max_pool3d(ours, out, return_indices=True)
        want, want_where = torch.nn.functional.adaptive_max_pool3d(theirs, out, True)
        assert where.dtype == tc.int64 and where.tolist() == want_where.tolist()
    assert_close(got, want.detach())
    if out == 0:        # torch's backward refuses an empty grad_output; ours gives zeros
        return
    (got * got).sum().backward(), (want * want).sum().backward()
    assert_close(ours.grad, theirs.grad)


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 2, 0, 4, 5)])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_bad_input_raises_torchs_error(shape, kind):
    name = f"adaptive_{kind}_pool3d"
    with pytest.raises(RuntimeError) as want:
        getattr(torch.nn.functional, name)(torch.zeros(shape), 2)
    with pytest.raises(RuntimeError) as got:
        getattr(tc.nn.functional, name)(tc.zeros(shape), 2)
    assert str(got.value) == str(want.value)


def test_modules_repr_and_compiled_as_eager(backend):
    for cls in ("AdaptiveAvgPool3d", "AdaptiveMaxPool3d"):
        size = (2, None, 3)
        assert repr(getattr(tc.nn, cls)(size)) == repr(getattr(torch.nn, cls)(size))
    model = tc.nn.Sequential(tc.nn.Conv3d(3, 4, 3), tc.nn.AdaptiveMaxPool3d((2, 2, 1)),
                             tc.nn.ReLU(), tc.nn.AdaptiveAvgPool3d(1), tc.nn.Flatten())
    x = tc.tensor(RNG.standard_normal((2, 3, 6, 7, 5)).astype(np.float32))
    compiled = tc.compile(model, backend=backend)
    assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)
    grads = []
    for run in (model, compiled):
        model.zero_grad()
        run(x).pow(2).sum().backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
    for g, w in zip(*grads):
        assert_close(g, w, rtol=1e-4, atol=1e-6)
