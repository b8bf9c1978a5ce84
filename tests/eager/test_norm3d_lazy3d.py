"""BatchNorm3d, InstanceNorm3d and the 3-D lazy modules (LazyConv3d, LazyConvTranspose3d,
LazyBatchNorm3d, LazyInstanceNorm1d/2d/3d) against torch 2.13: outputs, running
statistics, gradients, repr, state_dict keys and errors; a 3-D CNN compiled as eager."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, with_torch_weights

RNG = np.random.default_rng(0)
X5 = RNG.standard_normal((2, 3, 4, 5, 6)).astype(np.float32)


@pytest.mark.parametrize("name,kwargs", [
    ("BatchNorm3d", {}), ("BatchNorm3d", {"affine": False, "momentum": None}),
    ("InstanceNorm3d", {}), ("InstanceNorm3d", {"affine": True, "track_running_stats": True})])
def test_3d_norms_train_and_evaluate_as_torchs(name, kwargs):
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(3, **kwargs)
    ours = with_torch_weights(getattr(tc.nn, name)(3, **kwargs), ref)
    assert repr(ours) == repr(ref)
    for train in (True, True, False):
        ours.train(train), ref.train(train)
        x, xt = tc.tensor(X5, requires_grad=True), torch.tensor(X5, requires_grad=True)
        y, yt = ours(x), ref(xt)
        assert_close(y, yt.detach(), rtol=1e-4, atol=1e-5)
        (y * y).sum().backward(), (yt * yt).sum().backward()
        assert_close(x.grad, xt.grad, rtol=1e-4, atol=1e-4)
    for (k, v), (kt, vt) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert k == kt
        assert_close(v, vt.detach(), rtol=1e-5, atol=1e-6, what=k)


def test_unbatched_instance_norm_3d_and_the_input_checks():
    ref, ours = torch.nn.InstanceNorm3d(3), tc.nn.InstanceNorm3d(3)
    assert_close(ours(tc.tensor(X5[0])), ref(torch.tensor(X5[0])), rtol=1e-4, atol=1e-5)
    for module, bad in ((tc.nn.BatchNorm3d(3), X5[0]), (tc.nn.InstanceNorm3d(3), X5[0, 0])):
        twin = getattr(torch.nn, type(module).__name__)(3)
        with pytest.raises(ValueError) as want:
            twin(torch.tensor(bad))
        with pytest.raises(ValueError, match=str(want.value).replace("(", r"\(").replace(
                ")", r"\)")):
            module(tc.tensor(bad))


LAZY = [("LazyConv3d", (4, 3), {"padding": 1}, X5),
        ("LazyConvTranspose3d", (4, 2), {"stride": 2}, X5),
        ("LazyBatchNorm3d", (), {}, X5),
        ("LazyInstanceNorm1d", (), {}, X5[:, :, 0, 0]),
        ("LazyInstanceNorm2d", (), {}, X5[:, :, 0]),
        ("LazyInstanceNorm3d", (), {}, X5)]


@pytest.mark.parametrize("name,args,kwargs,x", LAZY, ids=[c[0] for c in LAZY])
def test_3d_lazy_modules_take_their_shapes_from_the_first_input(name, args, kwargs, x):
    torch.manual_seed(0)
    ref, ours = getattr(torch.nn, name)(*args, **kwargs), getattr(tc.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(ref)
    ref(torch.tensor(x)), ours(tc.tensor(x))       # materialized: the non-lazy class
    assert type(ours).__name__ == type(ref).__name__ and repr(ours) == repr(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    with_torch_weights(ours, ref)
    assert_close(ours(tc.tensor(x)), ref(torch.tensor(x)).detach(), rtol=1e-4, atol=1e-5)


def test_a_3d_cnn_compiled_trains_as_eager():
    """Compiled and eager outputs agree; their gradients each agree with torch's in float64.
    sum(y^2) of an InstanceNorm's y hardly depends on the weights (n var / (var + eps)), so
    its gradients are what is left after cancellation: eager and compiled float32 sum in
    different orders and differ by up to 2e-4 on 1.4 (znver3), eager's farther from float64."""
    def build(nn):
        return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                             nn.Conv3d(4, 2, 1), nn.InstanceNorm3d(2))
    tc.manual_seed(1)
    model = build(tc.nn)
    twin, exact = build(tc.nn), build(torch.nn).double()
    twin.load_state_dict(model.state_dict())
    exact.load_state_dict({k: torch.tensor(v.numpy()).double()
                           for k, v in model.state_dict().items()})
    compiled = tc.compile(twin)
    for _ in range(2):
        for m in (model, twin, exact):
            m.zero_grad()
        y, yc = model(tc.tensor(X5)), compiled(tc.tensor(X5))
        ye = exact(torch.tensor(X5).double())
        assert_close(yc, y, rtol=1e-4, atol=1e-5)
        (y * y).sum().backward(), (yc * yc).sum().backward(), (ye * ye).sum().backward()
    for (k, p), q, r in zip(model.named_parameters(), twin.parameters(), exact.parameters()):
        scale = float(r.grad.abs().max())
        for got, who in ((p.grad, "eager"), (q.grad, "compiled")):
            assert_close(got, r.grad.float(), rtol=0, atol=3e-4 * scale + 1e-7,
                         what=f"{who} {k}")
    assert_close(twin[1].running_var, model[1].running_var)
