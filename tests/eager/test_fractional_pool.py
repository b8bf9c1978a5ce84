"""F.fractional_max_pool2d/3d (and _with_indices), nn.FractionalMaxPool2d/3d and
F.max_pool*/adaptive_max_pool*_with_indices against torch 2.13: values, indices and
gradients given the same `_random_samples`, torch's checks and messages, the modules'
settings and state_dict, and compiled mode (samples fixed: traced; drawn: a TraceError)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as F

from helpers import assert_close, raised, to_tc, to_torch

gen = torch.Generator().manual_seed(0)

CASES_2D = [((2, 3, 7, 9), 2, {"output_size": (4, 5)}),
            ((2, 3, 7, 9), (3, 2), {"output_size": (5, 8)}),       # windows to the end
            ((1, 2, 8, 8), 3, {"output_ratio": (0.5, 0.4)}),
            ((3, 6, 5), 2, {"output_size": 3}),                    # unbatched
            ((2, 1, 6, 6), 1, {"output_size": (6, 1)})]
CASES_3D = [((2, 2, 6, 7, 8), 2, {"output_size": (4, 5, 3)}),
            ((1, 2, 5, 6, 7), (3, 2, 2), {"output_ratio": (0.5, 0.6, 0.5)}),
            ((2, 5, 5, 6), 2, {"output_size": 2})]                 # unbatched


def _samples(shape, dims):
    n = 1 if len(shape) == dims + 1 else shape[0]
    c = shape[-dims - 1]
    return torch.rand(n, c, dims, generator=gen)


@pytest.mark.parametrize("dims,case", [(2, c) for c in CASES_2D] + [(3, c) for c in CASES_3D])
def test_values_indices_and_gradients_match_torch(dims, case):
    shape, kernel, kw = case
    x = torch.randn(*shape, generator=gen, requires_grad=True)
    samples = _samples(shape, dims)
    want = getattr(TF, f"fractional_max_pool{dims}d")(x, kernel, return_indices=True,
                                                       _random_samples=samples, **kw)
    xc = to_tc(x)
    got = getattr(F, f"fractional_max_pool{dims}d_with_indices")(
        xc, kernel, _random_samples=to_tc(samples), **kw)
    assert_close(got[0], want[0], rtol=0, atol=0)
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
    assert got[1].dtype == tc.int64
    assert type(got[0].grad_fn).__name__ == type(want[0].grad_fn).__name__
    upstream = torch.randn(want[0].shape, generator=gen)
    want[0].backward(upstream)
    got[0].backward(to_tc(upstream))
    assert_close(xc.grad, x.grad, what="gradient")


def test_ties_and_nan_follow_torch():
    """The first strict maximum of a window; its last NaN when it has any."""
    x = torch.tensor([[[[1.0, 1.0, 2.0, 2.0, 0.0],
                        [float("nan"), 0.0, float("nan"), 2.0, 5.0],
                        [3.0, 3.0, float("nan"), float("nan"), 1.0],
                        [0.0, 0.0, 0.0, 0.0, 0.0]]]])
    samples = torch.tensor([[[0.3, 0.7]]])
    want = TF.fractional_max_pool2d(x, 2, output_size=(3, 4), return_indices=True,
                                    _random_samples=samples)
    got = F.fractional_max_pool2d(to_tc(x), 2, output_size=(3, 4), return_indices=True,
                                  _random_samples=to_tc(samples))
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())


def test_float64_samples_and_value_only_form():
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, generator=gen)
    samples = torch.rand(2, 3, 2, dtype=torch.float64, generator=gen)
    want = TF.fractional_max_pool2d(x, 3, output_ratio=(0.7, 0.5), _random_samples=samples)
    got = F.fractional_max_pool2d(to_tc(x), 3, output_ratio=(0.7, 0.5),
                                  _random_samples=to_tc(samples))
    assert isinstance(got, tc.Tensor)
    assert_close(got, want, rtol=0, atol=0)


def test_drawn_samples_give_a_max_of_each_window():
    """Without _random_samples the windows are random: every output is some input value,
    its index points at it, and the result has torch's shape."""
    x = tc.randn(2, 3, 10, 10)
    values, indices = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
    assert tuple(values.shape) == (2, 3, 5, 5)
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(flat.gather(2, indices.reshape(2, 3, -1)).numpy(),
                                  values.reshape(2, 3, -1).numpy())


@pytest.mark.parametrize("call", [
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 4, output_size=(5, 7)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=(2, 9)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_ratio=(.5, .5, .5)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), (2, 2, 2), output_size=3),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=(2, 2, 2)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 4, 5, 5), 2, output_size=2),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 0, 7, 9), 2, output_size=2),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=2,
                                           _random_samples=lib.rand(2, 3, 3)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=2,
                                           _random_samples=lib.rand(1, 3, 2)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=2,
                                           _random_samples=lib.rand(2, 2, 2)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=2,
                                           _random_samples=lib.rand(2, 3, 2).double()),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9), 2, output_size=2,
                                           _random_samples=lib.rand(2, 3, 2, 1)),
    lambda lib, F: F.fractional_max_pool2d(lib.zeros(2, 3, 7, 9).long(), 2, output_size=2),
    lambda lib, F: F.fractional_max_pool3d(lib.zeros(1, 1, 5, 6, 7), 2, output_size=(4, 5, 6)),
    lambda lib, F: F.fractional_max_pool3d(lib.zeros(1, 1, 5, 6, 7), 2, output_size=(3, 5, 6)),
    lambda lib, F: F.fractional_max_pool3d(lib.zeros(1, 1, 5, 6, 7), (2, 2), output_size=2),
    lambda lib, F: F.fractional_max_pool3d(lib.zeros(1, 2, 5, 6, 7), 2, output_size=2,
                                           _random_samples=lib.rand(1, 2, 2)),
    lambda lib, F: lib.nn.FractionalMaxPool2d(2),
    lambda lib, F: lib.nn.FractionalMaxPool3d(2, output_size=2, output_ratio=0.5),
    lambda lib, F: lib.nn.FractionalMaxPool2d(2, output_ratio=1.5),
])
def test_errors_match_torch(call):
    theirs = raised(torch, lambda lib: call(lib, TF))
    ours = raised(tc, lambda lib: call(lib, F))
    assert isinstance(ours, type(theirs)), f"tracecomp={ours!r} | torch={theirs!r}"
    assert str(ours) == str(theirs), f"tracecomp={ours} | torch={theirs}"


def test_modules_keep_torch_settings_and_buffers():
    samples = torch.rand(1, 2, 3, generator=gen)
    for lib in (torch, tc):
        m2 = lib.nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)
        m3 = lib.nn.FractionalMaxPool3d((2, 1, 2), output_size=3,
                                        _random_samples=samples if lib is torch
                                        else to_tc(samples))
        assert (m2.kernel_size, m2.output_ratio, m2.output_size) == ((3, 3), (0.5, 0.5), None)
        assert (m3.kernel_size, m3.output_size) == ((2, 1, 2), (3, 3, 3))
        assert list(m2.state_dict()) == [] and list(m3.state_dict()) == ["_random_samples"]
        assert repr(m2) == "FractionalMaxPool2d()"
    x = torch.randn(1, 2, 5, 4, 6, generator=gen)
    want = torch.nn.FractionalMaxPool3d((2, 1, 2), output_size=3, _random_samples=samples)(x)
    got = tc.nn.FractionalMaxPool3d((2, 1, 2), output_size=3,
                                    _random_samples=to_tc(samples))(to_tc(x))
    assert_close(got, want, rtol=0, atol=0)


def test_compiled_with_fixed_samples_and_graph_break_when_drawn():
    samples = tc.rand(2, 3, 2)
    x = tc.randn(2, 3, 8, 7, requires_grad=True)

    def pool(x):
        out = F.fractional_max_pool2d(x, 2, output_size=(4, 3), _random_samples=samples)
        return (out * out).sum()

    loss = tc.compile(pool)(x)
    loss.backward()
    grad, x.grad = x.grad, None
    eager = pool(x)
    eager.backward()
    assert_close(loss, eager)
    assert_close(grad, x.grad)
    drawn = tc.compile(lambda x: F.fractional_max_pool2d(x, 2, output_ratio=0.5),
                       fullgraph=True)
    with pytest.raises(tc.TraceError, match="fractional_max_pool2d"):
        drawn(x)


@pytest.mark.parametrize("name,args", [
    ("max_pool1d_with_indices", ((2, 3, 9), 3, 2, 1)),
    ("max_pool2d_with_indices", ((2, 3, 7, 8), (3, 2), 2, (1, 0), 1, True)),
    ("max_pool3d_with_indices", ((1, 2, 5, 6, 5), 2)),
    ("adaptive_max_pool1d_with_indices", ((2, 3, 9), 4)),
    ("adaptive_max_pool2d_with_indices", ((2, 3, 7, 8), (3, 5))),
    ("adaptive_max_pool3d_with_indices", ((2, 4, 5, 6), (2, 3, 2))),
])
def test_pool_with_indices_forms_always_return_indices(name, args):
    shape, *rest = args
    x = torch.randn(*shape, generator=gen, requires_grad=True)
    want = getattr(TF, name)(x, *rest)            # return_indices=False: still a pair
    xc = to_tc(x)
    got = getattr(F, name)(xc, *rest)
    assert isinstance(got, tuple) and len(got) == 2
    assert_close(got[0], want[0], rtol=0, atol=0)
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())
    upstream = torch.randn(want[0].shape, generator=gen)
    want[0].backward(upstream)
    got[0].backward(to_tc(upstream))
    assert_close(xc.grad, to_torch(x.grad), what="gradient")
