"""nn.init beyond the basics, against torch 2.13 and exact properties: orthogonal_, sparse_,
dirac_, eye_, trunc_normal_'s two samplers, calculate_gain's whole table, the deprecated
names and the private helpers libraries call; every torch.nn.init function exists."""
import math
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.nn import init


def test_every_torch_init_function_exists():
    names = [n for n in dir(torch.nn.init) if not n.startswith("__")
             and callable(getattr(torch.nn.init, n))
             and getattr(getattr(torch.nn.init, n), "__module__", "") == "torch.nn.init"]
    assert [n for n in names if not hasattr(init, n)] == []


@pytest.mark.parametrize("shape", [(6, 8), (8, 3), (4, 2, 3, 3)])
def test_orthogonal_gives_orthonormal_rows_or_columns_times_gain(shape):
    t = init.orthogonal_(tc.empty(*shape), gain=1.5)
    m = t.numpy().reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    assert np.allclose(gram, 1.5 ** 2 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions"):
        init.orthogonal_(tc.empty(3))


def test_sparse_zeroes_the_same_count_per_column_as_torch():
    t = init.sparse_(tc.empty(10, 7), 0.25, std=0.5)
    tt = torch.nn.init.sparse_(torch.empty(10, 7), 0.25, std=0.5)
    assert list((t.numpy() == 0).sum(0)) == list((tt.numpy() == 0).sum(0)) == [3] * 7
    assert 0.2 < t.numpy()[t.numpy() != 0].std() < 1.0


@pytest.mark.parametrize("shape,groups", [((4, 2, 3, 3), 2), ((3, 5, 4), 1),
                                          ((6, 3, 1, 2, 3), 3)])
def test_dirac_and_eye_equal_torch(shape, groups):
    assert np.array_equal(init.dirac_(tc.empty(*shape), groups).numpy(),
                          torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())
    assert np.array_equal(init.eye_(tc.empty(3, 5)).numpy(),
                          torch.nn.init.eye_(torch.empty(3, 5)).numpy())


def _truncated_mean(mean, std, a, b):
    pdf = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)    # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))              # noqa: E731
    al, be = (a - mean) / std, (b - mean) / std
    return mean + std * (pdf(al) - pdf(be)) / (cdf(be) - cdf(al))


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 1.0, 2.0, 3.0),
                                          (1.0, 0.5, -1.0, 0.0)])
def test_trunc_normal_bounds_and_mean(mean, std, a, b):
    tc.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # the far-from-mean case warns, as torch does
        x = init.trunc_normal_(tc.empty(40000), mean, std, a, b).numpy()
    assert x.min() >= a and x.max() <= b
    assert abs(x.mean() - _truncated_mean(mean, std, a, b)) < 0.02


def test_trunc_normal_warns_like_torch_far_from_the_mean():
    def notes(lib):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            lib.nn.init.trunc_normal_(lib.empty(10), 0.0, 1.0, 3.0, 4.0)
        return [str(w.message) for w in seen]
    assert notes(tc) == notes(torch) != []


def test_calculate_gain_table_equals_torch():
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                 "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for param in (None, 0.2, 3):
        assert init.calculate_gain("leaky_relu", param) == \
            torch.nn.init.calculate_gain("leaky_relu", param)
    for bad in (("leaky_relu", True), ("gelu", None)):
        with pytest.raises(ValueError) as want:
            torch.nn.init.calculate_gain(*bad)
        with pytest.raises(ValueError) as got:
            init.calculate_gain(*bad)
        assert str(got.value) == str(want.value)


def test_deprecated_names_warn_like_torch_and_private_helpers_fill():
    for name in ("uniform", "normal", "xavier_uniform", "kaiming_normal", "orthogonal"):
        with pytest.warns(FutureWarning) as got:
            getattr(init, name)(tc.empty(3, 4))
        with pytest.warns(FutureWarning) as want:
            getattr(torch.nn.init, name)(torch.empty(3, 4))
        assert str(got[0].message) == str(want[0].message)
    t = tc.empty(3, 4)
    assert np.all(init._no_grad_fill_(t, 2.5).numpy() == 2.5)
    assert not np.any(init._no_grad_zero_(t).numpy())
    x = init._no_grad_trunc_normal_(tc.empty(1000), 0.0, 1.0, -0.5, 0.5).numpy()
    assert x.min() >= -0.5 and x.max() <= 0.5
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(tc.empty(0, 3))
