"""avg_pool3d and conv_transpose3d (F, nn.AvgPool3d, nn.ConvTranspose3d), composed of their
2-D forms: forward and gradients against torch over their settings, the modules' attributes,
repr and state_dict, and torch's errors (type and message) on bad arguments."""
import numpy as np
import pytest
import torch

import tracecomp as tc

RNG = np.random.default_rng(0)

AVG = [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
       {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
       {"kernel_size": (3, 2, 3), "stride": (2, 1, 2), "padding": (1, 0, 1), "ceil_mode": True},
       {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
        "count_include_pad": False},
       {"kernel_size": 3, "stride": 2, "ceil_mode": True},
       {"kernel_size": (2, 3, 2), "padding": (1, 1, 0), "divisor_override": 5},
       {"kernel_size": 2, "stride": 1, "divisor_override": -3},
       {"kernel_size": [3], "stride": []}]


def _both(fn, arrays):
    """fn(lib, *tensors) under torch and tracecomp: [output, grads...] of each, the grads
    those of sum(output * output)."""
    results = []
    for lib in (torch, tc):
        ts = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = fn(lib, *ts)
        (y * y).sum().backward()
        results.append([y.detach().numpy()] + [t.grad.numpy() for t in ts])
    return results


def _assert_match(results, tol=1e-5):
    for want, got in zip(*results):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("cfg", AVG, ids=[str(c) for c in AVG])
@pytest.mark.parametrize("shape", [(2, 3, 5, 6, 7), (3, 5, 6, 7)], ids=["batched", "unbatched"])
def test_avg_pool3d_and_its_gradient_match_torch(cfg, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    _assert_match(_both(lambda lib, t: lib.nn.functional.avg_pool3d(t, **cfg), [x]))


def test_avg_pool3d_of_an_empty_batch_is_empty():
    x = np.zeros((0, 2, 4, 4, 4), np.float32)
    assert tuple(tc.nn.functional.avg_pool3d(tc.tensor(x), 2).shape) == (0, 2, 2, 2, 2)


CONVT = [({}, (4, 3, 3, 3, 3)),
         ({"stride": 2, "padding": 1, "output_padding": 1}, (4, 3, 3, 2, 3)),
         ({"stride": (2, 1, 3), "padding": (0, 1, 2), "output_padding": (1, 0, 2),
           "dilation": (1, 2, 1)}, (4, 3, 2, 3, 3)),
         ({"groups": 2, "stride": 2, "dilation": 2, "output_padding": 1}, (4, 2, 3, 3, 2)),
         ({"groups": 4, "stride": 3, "padding": 2}, (4, 1, 3, 3, 3)),
         ({"dilation": (2, 1, 1), "output_padding": (1, 0, 0), "stride": (1, 2, 1)},
          (4, 3, 2, 2, 2))]


@pytest.mark.parametrize("cfg,wshape", CONVT, ids=[str(c) for c, _ in CONVT])
@pytest.mark.parametrize("shape", [(2, 4, 3, 4, 5), (4, 3, 4, 5)], ids=["batched", "unbatched"])
def test_conv_transpose3d_and_its_gradients_match_torch(cfg, wshape, shape):
    arrays = [RNG.standard_normal(s).astype(np.float32)
              for s in (shape, wshape, (wshape[1] * cfg.get("groups", 1),))]
    results = _both(lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(x, w, b, **cfg),
                    arrays)
    _assert_match(results, 1e-4)


def test_conv_transpose3d_without_bias_and_as_torch_conv_transpose3d():
    x = RNG.standard_normal((1, 2, 2, 3, 3)).astype(np.float32)
    w = RNG.standard_normal((2, 3, 2, 2, 2)).astype(np.float32)
    _assert_match(_both(lambda lib, a, b: lib.conv_transpose3d(a, b, None, 2), [x, w]), 1e-4)


def _same_weights(ref, model):
    model.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})


@pytest.mark.parametrize("output_size", [None, (6, 8, 10), [2, 6, 6, 8, 9], (5, 7, 9)])
def test_conv_transpose3d_module_matches_torch(output_size):
    args = (4, 6, 3, 2, 1)
    kwargs = {"groups": 2}
    ref, model = torch.nn.ConvTranspose3d(*args, **kwargs), tc.nn.ConvTranspose3d(*args, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert repr(model) == repr(ref)
    _same_weights(ref, model)
    x = RNG.standard_normal((2, 4, 3, 4, 5)).astype(np.float32)
    want = ref(torch.tensor(x), output_size=output_size)
    got = model(tc.tensor(x), output_size=output_size)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                               atol=1e-5)


def test_module_attributes_and_reprs_match_torch():
    cases = [("AvgPool3d", (2,), {"divisor_override": 3}),
             ("AvgPool3d", ((2, 1, 3), (1, 2, 2), 1), {"ceil_mode": True,
                                                       "count_include_pad": False}),
             ("ConvTranspose3d", (4, 6, (3, 2, 1)), {"bias": False, "dilation": 2}),
             ("ConvTranspose3d", (4, 6, 3, 2, 1, 1, 2, True, 1), {})]
    for name, args, kwargs in cases:
        ref, got = getattr(torch.nn, name)(*args, **kwargs), getattr(tc.nn, name)(*args, **kwargs)
        assert repr(got) == repr(ref)
        for attr in ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                     "divisor_override", "output_padding", "dilation", "groups"):
            assert getattr(got, attr, None) == getattr(ref, attr, None), (name, attr)


X = np.zeros((2, 3, 5, 6, 7), np.float32)
XT, W = np.zeros((2, 4, 3, 4, 5), np.float32), np.zeros((4, 3, 3, 3, 3), np.float32)
ERRORS = [
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X)[0, 0], 2),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, padding=2),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), (3, 2, 2), padding=(1, 2, 1)),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, padding=-1),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, stride=0),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, stride=-1),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 0, 1),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), (2, 2)),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, (1, 1)),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, 1, (1, 1)),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 6),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X), 2, divisor_override=0),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X)[:, :, :0], 2),
    lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(X)[0, :, :, :0], 2),
    lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(XT)[0, 0], lib.tensor(W)),
    lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(XT), lib.tensor(W), stride=2,
                                                   output_padding=2),
    lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(XT), lib.tensor(W),
                                                   stride=(1, 2, 2), output_padding=(1, 0, 0)),
    lambda lib: lib.nn.functional.conv_transpose1d(lib.tensor(XT)[:, :, 0, 0],
                                                   lib.tensor(W)[:, :, 0, 0], output_padding=1),
    lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(XT), lib.tensor(W), groups=3),
    lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(XT)[:, :3], lib.tensor(W)),
    lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(XT), lib.tensor(W),
                                                   lib.tensor(np.zeros(4, np.float32))),
    lambda lib: lib.nn.ConvTranspose3d(4, 6, 3, 2, 1)(lib.tensor(XT), output_size=(8, 10)),
    lambda lib: lib.nn.ConvTranspose3d(4, 6, 3, padding_mode="reflect"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_bad_arguments_raise_torchs_error(k):
    with pytest.raises(Exception) as want:
        ERRORS[k](torch)
    with pytest.raises(want.type) as got:
        ERRORS[k](tc)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("kw", [{"padding": -1}, {"output_padding": -1}, {"stride": 0}])
def test_bad_conv_transpose3d_settings_raise_torchs_error_with_context(kw):
    with pytest.raises(RuntimeError) as want:
        torch.nn.functional.conv_transpose3d(torch.tensor(XT), torch.tensor(W), **kw)
    with pytest.raises(RuntimeError, match="conv_transpose3d got") as got:
        tc.nn.functional.conv_transpose3d(tc.tensor(XT), tc.tensor(W), **kw)
    assert str(got.value).startswith(str(want.value))


def test_output_size_out_of_range_names_the_valid_sizes():
    msg = r"requested an output size of \(9, 8, 10\), but valid sizes range from \[5, 7, 9\] " \
          r"to \[6, 8, 10\]"
    for lib in (torch, tc):
        with pytest.raises(ValueError, match=msg):
            lib.nn.ConvTranspose3d(4, 6, 3, 2, 1)(lib.tensor(XT), output_size=(9, 8, 10))
