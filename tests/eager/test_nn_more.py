"""The layers added for issue 9 against torch 2.13: for each, repr and state_dict keys, then
(torch's weights loaded) forward values and the gradients of input and parameters; a
model of them trained one SGD step and run compiled; running statistics, dropout channel
patterns, ParameterDict, the loss modules and their argument errors."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn

from helpers import assert_close, to_tc

RTOL, ATOL = 1e-4, 1e-5


def pair(factory, seed=0):
    torch.manual_seed(seed)
    tm, m = factory(torch.nn), factory(nn)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})
    return m, tm


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def check_parity(m, tm, shapes, what):
    xs = [torch.tensor(_x(s, i), requires_grad=True) for i, s in enumerate(shapes)]
    xc = [to_tc(x).requires_grad_() for x in xs]
    yt, yc = tm(*xs), m(*xc)
    assert_close(yc, yt, RTOL, ATOL, f"{what} forward")
    g = torch.tensor(_x(tuple(yt.shape), 9))
    yt.backward(g)
    yc.backward(to_tc(g))
    for i, (a, b) in enumerate(zip(xc, xs)):
        assert_close(a.grad, b.grad, RTOL, ATOL, f"{what} grad of input {i}")
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, tp.grad, RTOL, ATOL, f"{what} grad of {n}")
    for k, v in tm.state_dict().items():          # running statistics updated alike
        assert_close(m.state_dict()[k], v, RTOL, ATOL, f"{what} {k} after forward")


LAYERS = [
    ("conv1d", lambda n: n.Conv1d(4, 6, 3, stride=2, padding=1), [(2, 4, 9)]),
    ("conv1d_same_reflect", lambda n: n.Conv1d(4, 6, 4, padding="same", dilation=2,
                                               padding_mode="reflect"), [(2, 4, 9)]),
    ("conv1d_groups_unbatched", lambda n: n.Conv1d(4, 6, 3, groups=2, bias=False), [(4, 9)]),
    ("conv2d_circular", lambda n: n.Conv2d(3, 4, 3, padding=1, padding_mode="circular"),
     [(2, 3, 6, 5)]),
    ("conv2d_replicate", lambda n: n.Conv2d(3, 4, (3, 2), padding=(1, 2),
                                            padding_mode="replicate"), [(2, 3, 6, 5)]),
    ("conv_transpose2d", lambda n: n.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                     output_padding=1), [(2, 4, 5, 5)]),
    ("conv_transpose2d_groups", lambda n: n.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1),
                                                            groups=2, dilation=(1, 2),
                                                            bias=False), [(2, 4, 5, 4)]),
    ("conv_transpose1d", lambda n: n.ConvTranspose1d(4, 2, 4, stride=3, padding=2,
                                                     output_padding=1), [(4, 7)]),
    ("group_norm", lambda n: n.GroupNorm(2, 4), [(3, 4, 5)]),
    ("instance_norm1d", lambda n: n.InstanceNorm1d(4, affine=True), [(3, 4, 5)]),
    ("instance_norm2d_stats", lambda n: n.InstanceNorm2d(4, affine=True,
                                                         track_running_stats=True),
     [(3, 4, 5, 3)]),
    ("rms_norm", lambda n: n.RMSNorm([3, 4]), [(2, 3, 4)]),
    ("local_response_norm", lambda n: n.LocalResponseNorm(3), [(2, 5, 4, 3)]),
    ("prelu", lambda n: n.PReLU(4, 0.1), [(3, 4, 2)]),
    ("bilinear", lambda n: n.Bilinear(3, 4, 5), [(2, 6, 3), (2, 6, 4)]),
    ("max_pool1d", lambda n: n.MaxPool1d(3, 2, 1, 2, ceil_mode=True), [(2, 3, 11)]),
    ("avg_pool1d", lambda n: n.AvgPool1d(3, 2, 1, True, False), [(2, 3, 10)]),
    ("adaptive_pools", lambda n: n.Sequential(n.AdaptiveMaxPool2d((3, None)), n.Flatten(2),
                                              n.AdaptiveAvgPool1d(4), n.AdaptiveMaxPool1d(2)),
     [(2, 3, 7, 5)]),
    ("upsample_bilinear", lambda n: n.Upsample(scale_factor=1.7, mode="bilinear"),
     [(2, 3, 4, 5)]),
    ("upsample_bicubic_ac", lambda n: n.Upsample(size=(7, 3), mode="bicubic",
                                                 align_corners=True), [(1, 2, 4, 5)]),
    ("upsample_nearest", lambda n: n.UpsamplingNearest2d(scale_factor=(2, 3)), [(1, 2, 3, 3)]),
    ("pixel_shuffle", lambda n: n.Sequential(n.PixelShuffle(2), n.PixelUnshuffle(2)),
     [(2, 8, 3, 4)]),
    ("fold_unfold", lambda n: n.Sequential(n.Unfold(2, padding=1), n.Fold((4, 5), 2,
                                                                          padding=1)),
     [(2, 3, 4, 5)]),
    ("paddings", lambda n: n.Sequential(n.ReflectionPad2d(2), n.ReplicationPad2d((1, 0, 2, 1)),
                                        n.CircularPad2d(1), n.ZeroPad2d((1, 2, 0, 1)),
                                        n.ConstantPad2d(1, 0.5)), [(2, 3, 4, 5)]),
    ("paddings_1d", lambda n: n.Sequential(n.ReflectionPad1d((1, 2)), n.ReplicationPad1d(2),
                                           n.CircularPad1d(1), n.ZeroPad1d(1),
                                           n.ConstantPad1d((2, 0), -1.0)), [(2, 3, 5)]),
    ("activations", lambda n: n.Sequential(
        n.Hardtanh(-2.0, 2.0), n.ReLU6(), n.SELU(), n.CELU(0.7), n.Hardsigmoid(),
        n.Hardswish(), n.Mish(), n.LogSigmoid(), n.Softsign(), n.Softshrink(0.1),
        n.Hardshrink(0.05), n.Tanhshrink(), n.Threshold(-0.1, 0.3)), [(3, 4)]),
    ("softmin_glu_softmax2d", lambda n: n.Sequential(n.GLU(1), n.Softmin(1), n.Softmax2d()),
     [(2, 6, 3, 2)]),
    ("rrelu_eval", lambda n: n.RReLU(0.1, 0.3).eval(), [(3, 4)]),
    ("dropouts_eval", lambda n: n.Sequential(n.Dropout1d(), n.Dropout2d(0.2), n.AlphaDropout(),
                                             n.FeatureAlphaDropout(0.1)).eval(), [(2, 3, 4)]),
]


@pytest.mark.parametrize("name,factory,shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, factory, shapes):
    m, tm = pair(factory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # dropout2d's note on 3-D input
        check_parity(m, tm, shapes, name)


def net(n):
    """A small model of the new layers: conv1d, group/instance norm, PReLU, upsampling,
    transposed convolution, pooling and a bilinear head."""
    class Net(n.Module):
        def __init__(self):
            super().__init__()
            self.features = n.Sequential(
                n.Conv1d(2, 4, 3, padding=1), n.GroupNorm(2, 4), n.PReLU(4),
                n.Upsample(scale_factor=2, mode="linear"), n.ConvTranspose1d(4, 4, 2, stride=2),
                n.InstanceNorm1d(4, affine=True), n.Hardswish(), n.AdaptiveMaxPool1d(3),
                n.Flatten())
            self.head = n.Bilinear(12, 12, 3)

        def forward(self, x):
            h = self.features(x)
            return self.head(h, h)
    return Net()


def test_model_sgd_step_and_compiled_forward_match_torch():
    m, tm = pair(net)
    opt, topt = tc.optim.SGD(m.parameters(), lr=0.05), torch.optim.SGD(tm.parameters(), lr=0.05)
    for step in range(2):
        x = _x((4, 2, 6), step)
        for model, o, lib in ((m, opt, tc), (tm, topt, torch)):
            o.zero_grad()
            (model(lib.tensor(x)) ** 2).mean().backward()
            o.step()
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert_close(v, tv, RTOL, ATOL, f"{k} after two steps")
    x = _x((4, 2, 6), 5)
    compiled = tc.compile(m)
    assert_close(compiled(tc.tensor(x)), tm(torch.tensor(x)), RTOL, ATOL, "compiled forward")


def test_instance_norm_running_stats_then_eval_match_torch():
    m, tm = pair(lambda n: n.InstanceNorm2d(3, momentum=0.3, track_running_stats=True))
    for step in range(3):
        x = _x((4, 3, 5, 5), step) * 2 + 1
        m(tc.tensor(x))
        tm(torch.tensor(x))
    for k in ("running_mean", "running_var"):
        assert_close(getattr(m, k), getattr(tm, k), RTOL, ATOL, k)
    m.eval()
    tm.eval()
    x = _x((2, 3, 5, 5), 7)
    assert_close(m(tc.tensor(x)), tm(torch.tensor(x)), RTOL, ATOL, "eval")


@pytest.mark.parametrize("name,shape,dims", [("Dropout1d", (40, 50, 3), 1),
                                             ("Dropout2d", (40, 50, 3, 3), 2),
                                             ("Dropout3d", (40, 50, 2, 2, 2), 3),
                                             ("FeatureAlphaDropout", (40, 50, 3, 3), 2)])
def test_channel_dropout_drops_whole_channels(name, shape, dims):
    y = getattr(nn, name)(0.5)(tc.ones(*shape)).numpy()
    flat = y.reshape(shape[:2] + (-1,))
    assert np.all(flat == flat[..., :1])               # one draw per (sample, channel)
    values = set(np.round(np.unique(flat), 4))
    assert len(values) == 2 and 0.35 < np.mean(flat[..., 0] == flat.max()) < 0.65


def test_alpha_dropout_keeps_selu_statistics():
    tc.manual_seed(0)
    y = nn.AlphaDropout(0.3)(tc.randn(200000)).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    a = 1 / np.sqrt((1.7580993408473766 ** 2 * 0.3 + 1) * 0.7)
    assert np.isclose(y.min(), -1.7580993408473766 * a * 0.7, atol=1e-5) or y.min() < -1.06


def test_parameter_dict_matches_torch():
    def build(lib):
        pd = lib.nn.ParameterDict({"b": lib.ones(2), "a": lib.nn.Parameter(lib.zeros(3))})
        pd["c"] = lib.ones(1)
        pd.update([("d", lib.nn.Parameter(lib.ones(4)))])
        del pd["b"]
        return pd
    pd, tpd = build(tc), build(torch)
    assert list(pd.keys()) == list(tpd.keys()) == ["a", "c", "d"]
    assert list(pd.state_dict()) == list(tpd.state_dict())
    assert all(isinstance(p, nn.Parameter) for p in pd.values())
    assert [n for n, _ in pd.named_parameters()] == [n for n, _ in tpd.named_parameters()]
    assert pd.get("zz") is None and "a" in pd and len(pd) == 3
    with pytest.raises(RuntimeError, match="ParameterDict should not be called"):
        pd()


LOSSES = [
    ("CosineEmbeddingLoss", {"margin": 0.2}, [(4, 5), (4, 5)], "sign", (4,)),
    ("MarginRankingLoss", {"margin": 0.1}, [(6,), (6,)], "sign", (6,)),
    ("HingeEmbeddingLoss", {"margin": 0.5, "reduction": "sum"}, [(3, 4)], "sign", (3, 4)),
    ("SoftMarginLoss", {}, [(3, 4)], "sign", (3, 4)),
    ("MultiLabelSoftMarginLoss", {"reduction": "none"}, [(3, 4)], "binary", (3, 4)),
    ("MultiMarginLoss", {"p": 2, "margin": 0.7}, [(3, 4)], "class", (3,)),
    ("TripletMarginLoss", {"margin": 0.5, "swap": True}, [(4, 5)] * 3, None, None),
    ("TripletMarginWithDistanceLoss", {"swap": True}, [(4, 5)] * 3, None, None),
    ("PoissonNLLLoss", {"full": True}, [(3, 4)], "count", (3, 4)),
    ("GaussianNLLLoss", {"full": True}, [(3, 4), (3, 4)], "var", (3, 1)),
]


def _target(kind, shape, lib):
    rng = np.random.default_rng(3)
    values = {"sign": lambda: np.where(rng.random(shape) < 0.5, -1.0, 1.0),
              "binary": lambda: (rng.random(shape) < 0.5) * 1.0,
              "class": lambda: rng.integers(0, 4, shape),
              "count": lambda: rng.integers(0, 5, shape) * 1.0,
              "var": lambda: rng.uniform(0.1, 2.0, shape)}[kind]()
    return lib.tensor(values.astype(np.int64 if kind == "class" else np.float32))


@pytest.mark.parametrize("name,kwargs,shapes,target,tshape", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_modules_match_torch(name, kwargs, shapes, target, tshape):
    tl, loss = getattr(torch.nn, name)(**kwargs), getattr(nn, name)(**kwargs)
    assert list(loss.state_dict()) == list(tl.state_dict())
    xs = [torch.tensor(_x(s, i), requires_grad=True) for i, s in enumerate(shapes)]
    xc = [to_tc(x).requires_grad_() for x in xs]
    extra_t = [] if target is None else [_target(target, tshape, torch)]
    extra_c = [] if target is None else [_target(target, tshape, tc)]
    want, got = tl(*xs, *extra_t), loss(*xc, *extra_c)
    assert_close(got, want, RTOL, ATOL, f"{name} value")
    want.sum().backward()
    got.sum().backward()
    for i, (a, b) in enumerate(zip(xc, xs)):
        assert_close(a.grad, b.grad, RTOL, ATOL, f"{name} grad of input {i}")


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.MultiMarginLoss(p=3),
    lambda lib: lib.nn.TripletMarginLoss(margin=0.0)(lib.ones(2, 3), lib.ones(2, 3),
                                                     lib.ones(2, 3)),
    lambda lib: lib.nn.functional.triplet_margin_loss(lib.ones(2, 3), lib.ones(3),
                                                      lib.ones(2, 3)),
    lambda lib: lib.nn.functional.margin_ranking_loss(lib.ones(2), lib.ones(2, 1),
                                                      lib.ones(2)),
    lambda lib: lib.nn.functional.gaussian_nll_loss(lib.ones(2, 3), lib.ones(2, 3),
                                                    lib.ones(3, 3)),
    lambda lib: lib.nn.functional.gaussian_nll_loss(lib.ones(2, 3), lib.ones(2, 3),
                                                    -lib.ones(2, 3)),
    lambda lib: lib.nn.GroupNorm(3, 4),
    lambda lib: lib.nn.InstanceNorm1d(3, affine=True)(lib.ones(2, 4, 5)),
    lambda lib: lib.nn.functional.glu(lib.ones(3, 3), 1),
    lambda lib: lib.nn.functional.prelu(lib.ones(2, 4), lib.ones(3)),
    lambda lib: lib.nn.functional.pixel_shuffle(lib.ones(1, 3, 2, 2), 2),
    lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2), scale_factor=2,
                                              mode="linear"),
    lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2), size=3, align_corners=True),
    lambda lib: lib.nn.ConvTranspose2d(2, 2, 3, stride=2)(lib.ones(1, 2, 4, 4),
                                                          output_size=(20, 20)),
    lambda lib: lib.nn.functional.conv_transpose2d(lib.ones(1, 4, 3, 3),
                                                   lib.ones(4, 2, 3, 3), stride=2,
                                                   output_padding=2),
    lambda lib: lib.nn.functional.conv1d(lib.ones(2, 3, 5), lib.ones(2, 4, 3)),
    lambda lib: lib.nn.functional.dropout1d(lib.ones(2, 3, 4, 5)),
    lambda lib: lib.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"),
])
def test_argument_errors_match_torch(call):
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)) as got:
        call(tc)
    # torch prints sizes as torch.Size([...]); compare the words around them
    strip = str.maketrans("()[],", "     ")
    words = [w for w in str(want.value).translate(strip).split() if not w.startswith("torch")]
    mine = [w for w in str(got.value).translate(strip).split() if not w.startswith("tracecomp")]
    assert mine[:len(words)] == words


def test_multi_margin_loss_target_out_of_range():
    with pytest.raises(RuntimeError, match="target out of range"):
        nn.functional.multi_margin_loss(tc.ones(2, 3), tc.tensor([0, 3]))


def test_pairwise_distance_module():
    a, b = np.random.default_rng(3).standard_normal((2, 4, 5)).astype(np.float32)
    for kw in ({}, {"p": 1.0, "keepdim": True}, {"eps": 0.1}):
        got = tc.nn.PairwiseDistance(**kw)(tc.tensor(a), tc.tensor(b))
        want = torch.nn.PairwiseDistance(**kw)(torch.tensor(a), torch.tensor(b))
        assert_close(got, want)
    assert repr(tc.nn.PairwiseDistance()) == repr(torch.nn.PairwiseDistance())
