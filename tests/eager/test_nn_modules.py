"""nn.Module and the layers against torch 2.13: state_dict keys and order, repr, loading a
torch state_dict then forward/backward parity for every layer, BatchNorm running stats,
load_state_dict errors, hooks, modes, zero_grad and the registration rules."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn

from helpers import assert_close, to_tc

RTOL, ATOL = 1e-4, 1e-5
STRIP = str.maketrans(",{}", "   ")


def mlp(n):
    return n.Sequential(n.Linear(4, 8), n.ReLU(), n.Linear(8, 8), n.GELU(), n.Linear(8, 3))


def cnn(n):
    class CNN(n.Module):
        def __init__(self):
            super().__init__()
            self.features = n.Sequential(
                n.Conv2d(3, 8, 3, padding=1), n.BatchNorm2d(8), n.ReLU(),
                n.MaxPool2d(2), n.Conv2d(8, 8, 3, stride=2, groups=2, bias=False),
                n.BatchNorm2d(8, momentum=None), n.SiLU(), n.AdaptiveAvgPool2d((2, 2)))
            self.flat = n.Flatten()
            self.drop = n.Dropout(0.25)
            self.head = n.Linear(32, 5)

        def forward(self, x):
            return self.head(self.drop(self.flat(self.features(x))))
    return CNN()


def nested(n):
    class Nested(n.Module):
        def __init__(self):
            super().__init__()
            self.emb = n.Embedding(10, 6, padding_idx=0)
            self.blocks = n.ModuleList([n.Sequential(n.LayerNorm(6), n.Linear(6, 6), n.Tanh())
                                        for _ in range(3)])
            self.blocks.append(n.Sequential(n.LayerNorm(6, elementwise_affine=False)))
            self.heads = n.ModuleDict({"cls": n.Linear(6, 2), "reg": n.Sequential(OrderedDict(
                [("norm", n.BatchNorm1d(6)), ("out", n.Linear(6, 1, bias=False))]))})
            self.scale = n.Parameter(torch.ones(1) if n is torch.nn else tc.ones(1))
            self.register_buffer("steps", (torch if n is torch.nn else tc).zeros(()))
            self.register_buffer("cache", (torch if n is torch.nn else tc).zeros(2),
                                 persistent=False)

        def forward(self, idx):
            h = self.emb(idx).mean(1)
            for b in self.blocks:
                h = b(h)
            return self.heads["cls"](h) * self.scale + self.heads["reg"](h)
    return Nested()


def pair(factory, seed=0):
    """The same module in torch and tracecomp, tracecomp's loaded from torch's state_dict."""
    torch.manual_seed(seed)
    tm = factory(torch.nn)
    m = factory(nn)
    assert str(m.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})) == \
        "<All keys matched successfully>"
    return m, tm


def check_parity(m, tm, x, what):
    """Forward values, then the gradients of input and every parameter, vs torch."""
    xt = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    xc = to_tc(xt)
    yt, yc = tm(xt), m(xc)
    assert_close(yc, yt, RTOL, ATOL, f"{what} forward")
    g = torch.randn(yt.shape, generator=torch.Generator().manual_seed(1))
    yt.backward(g)
    yc.backward(to_tc(g))
    if xt.requires_grad:
        assert_close(xc.grad, xt.grad, RTOL, ATOL, f"{what} input grad")
    names = [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in m.named_parameters()] == names
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, tp.grad, RTOL, ATOL, f"{what} grad of {n}")


@pytest.mark.parametrize("factory", [mlp, cnn, nested])
def test_state_dict_keys_order_and_names_match_torch(factory):
    m, tm = pair(factory)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in tm.named_children()]
    for k, v in tm.state_dict().items():
        assert_close(m.state_dict()[k], v, what=k)


@pytest.mark.parametrize("factory", [mlp, cnn, nested])
def test_repr_equals_torch(factory):
    m, tm = pair(factory)
    assert str(m) == str(tm)


def test_every_layer_repr_equals_torch():
    def layers(n):
        return n.Sequential(
            n.Conv2d(3, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=2, groups=3),
            n.Conv2d(3, 6, 3, padding="same", bias=False), n.Conv2d(3, 6, 1, padding="valid"),
            n.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), n.AvgPool2d(2),
            n.AvgPool2d((2, 3), stride=1, padding=1, count_include_pad=False),
            n.AdaptiveAvgPool2d(1), n.BatchNorm1d(4, eps=1e-3, affine=False),
            n.BatchNorm2d(4, momentum=None, track_running_stats=False),
            n.BatchNorm2d(4, bias=False),
            n.LayerNorm((4, 5), bias=False), n.Dropout(), n.Dropout(0.1, inplace=True),
            n.Embedding(7, 3), n.Embedding(7, 3, padding_idx=-1, max_norm=1.0),
            n.Flatten(), n.Flatten(0, 2), n.Unflatten(1, (2, 3)), n.Identity(3, x=1),
            n.ReLU(), n.ReLU(inplace=True), n.LeakyReLU(), n.LeakyReLU(0.2, True), n.GELU(),
            n.GELU("tanh"), n.SiLU(), n.Sigmoid(), n.Tanh(), n.Softmax(1), n.LogSoftmax(),
            n.ELU(0.5), n.Softplus(2.0, 10.0), n.ModuleList(), n.ModuleDict(),
            n.ModuleList([n.ReLU(), n.ReLU(), n.Tanh(), n.ReLU()]), n.Sequential())
    assert str(layers(nn)) == str(layers(torch.nn))


LAYERS = [
    ("linear", lambda n: n.Linear(4, 3), (5, 4)),
    ("linear_nobias_3d", lambda n: n.Linear(4, 3, bias=False), (2, 5, 4)),
    ("conv", lambda n: n.Conv2d(3, 4, 3), (2, 3, 8, 8)),
    ("conv_strided_grouped", lambda n: n.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
     (2, 4, 9, 9)),
    ("conv_same_dilated", lambda n: n.Conv2d(3, 4, 3, padding="same", dilation=2), (1, 3, 7, 7)),
    ("conv_rect_nobias", lambda n: n.Conv2d(3, 2, (3, 1), padding=(1, 0), bias=False),
     (2, 3, 5, 4)),
    ("maxpool", lambda n: n.MaxPool2d(2), (2, 3, 6, 6)),
    ("maxpool_padded", lambda n: n.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    ("avgpool", lambda n: n.AvgPool2d(2), (2, 3, 6, 6)),
    ("avgpool_nopad_count", lambda n: n.AvgPool2d(3, 2, 1, count_include_pad=False),
     (2, 3, 7, 7)),
    ("adaptive_avgpool", lambda n: n.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 9)),
    ("adaptive_avgpool_1", lambda n: n.AdaptiveAvgPool2d(1), (2, 3, 5, 5)),
    ("batchnorm1d", lambda n: n.BatchNorm1d(4), (6, 4)),
    ("batchnorm1d_3d", lambda n: n.BatchNorm1d(4), (6, 4, 5)),
    ("batchnorm2d", lambda n: n.BatchNorm2d(3), (4, 3, 5, 5)),
    ("batchnorm2d_noaffine", lambda n: n.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
    ("batchnorm2d_nobias", lambda n: n.BatchNorm2d(3, bias=False), (4, 3, 5, 5)),
    ("batchnorm2d_nostats", lambda n: n.BatchNorm2d(3, track_running_stats=False),
     (4, 3, 5, 5)),
    ("layernorm", lambda n: n.LayerNorm(5), (3, 4, 5)),
    ("layernorm_2d_noaffine", lambda n: n.LayerNorm((4, 5), elementwise_affine=False),
     (3, 4, 5)),
    ("layernorm_nobias", lambda n: n.LayerNorm(5, bias=False), (3, 5)),
    ("flatten", lambda n: n.Flatten(), (2, 3, 4, 5)),
    ("flatten_range", lambda n: n.Flatten(0, 2), (2, 3, 4, 5)),
    ("unflatten", lambda n: n.Unflatten(1, (2, 3)), (4, 6, 2)),
    ("identity", lambda n: n.Identity(), (3, 4)),
    ("relu", lambda n: n.ReLU(), (3, 4)),
    ("leaky_relu", lambda n: n.LeakyReLU(0.2), (3, 4)),
    ("gelu", lambda n: n.GELU(), (3, 4)),
    ("gelu_tanh", lambda n: n.GELU("tanh"), (3, 4)),
    ("silu", lambda n: n.SiLU(), (3, 4)),
    ("sigmoid", lambda n: n.Sigmoid(), (3, 4)),
    ("tanh", lambda n: n.Tanh(), (3, 4)),
    ("softmax", lambda n: n.Softmax(1), (3, 4, 2)),
    ("log_softmax", lambda n: n.LogSoftmax(-1), (3, 4)),
    ("elu", lambda n: n.ELU(0.5), (3, 4)),
    ("softplus", lambda n: n.Softplus(2.0, 1.0), (3, 4)),
    ("mlp", mlp, (5, 4)),
    ("cnn", cnn, (2, 3, 12, 12)),
]


@pytest.mark.parametrize("name,factory,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_forward_backward_parity(name, factory, shape):
    m, tm = pair(factory)
    if name == "cnn":                    # dropout draws differ between the libraries
        m.drop.eval()
        tm.drop.eval()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    check_parity(m, tm, x, name)
    for k, v in tm.state_dict().items():    # running stats updated the same way
        assert_close(m.state_dict()[k], v, RTOL, ATOL, f"{name} {k} after forward")


def test_embedding_and_nested_parity_with_int_input():
    idx = np.random.default_rng(0).integers(0, 10, (4, 5))
    idx[0, :2] = 0                                   # padding rows get no gradient
    for factory in (lambda n: n.Embedding(10, 6, padding_idx=0), nested):
        m, tm = pair(factory)
        check_parity(m, tm, idx, "embedding")
    m = nn.Embedding(10, 3, padding_idx=2)
    assert np.all(m.weight.detach().numpy()[2] == 0)


@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
def test_batchnorm_running_stats_then_eval_match_torch(momentum):
    m, tm = pair(lambda n: n.BatchNorm2d(3, momentum=momentum))
    rng = np.random.default_rng(1)
    for _ in range(4):
        x = (rng.standard_normal((5, 3, 4, 4)) * 3 + 1).astype(np.float32)
        m(tc.tensor(x))
        tm(torch.tensor(x))
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        assert_close(getattr(m, k), getattr(tm, k), RTOL, ATOL, k)
    assert m.num_batches_tracked.dtype == tc.int64 and int(m.num_batches_tracked) == 4
    m.eval()
    tm.eval()
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert_close(m(tc.tensor(x)), tm(torch.tensor(x)), RTOL, ATOL, "eval output")
    assert int(m.num_batches_tracked) == 4, "eval mode must not count batches"


def test_training_with_optimizer_after_load_matches_torch():
    m, tm = pair(mlp)
    opt, topt = tc.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)
    rng = np.random.default_rng(2)
    for _ in range(3):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        for model, o, lib in ((m, opt, tc), (tm, topt, torch)):
            o.zero_grad()
            (model(lib.tensor(x)) ** 2).mean().backward()
            o.step()
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert_close(v, tv, RTOL, ATOL, k)


def raised(exc, fn, *args, **kwargs):
    """The message of the exception fn(*args) raises (which must be exc)."""
    with pytest.raises(exc) as e:
        fn(*args, **kwargs)
    return str(e.value)


def _torch_words(msg):
    return msg.replace("torch.Size(", "").replace("])", "]")


def test_load_state_dict_errors_in_torch_words():
    m, tm = pair(mlp)
    sd = {k: to_tc(v) for k, v in tm.state_dict().items()}
    tsd = dict(tm.state_dict())
    for d, lib in ((sd, tc), (tsd, torch)):
        del d["2.bias"]
        d["9.weight"] = lib.zeros(1)
        d["extra"] = lib.zeros(1)
        d["0.weight"] = lib.zeros(3, 4)
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(sd)
    with pytest.raises(RuntimeError) as terr:
        tm.load_state_dict(tsd)
    assert str(err.value) == _torch_words(str(terr.value))
    assert "size mismatch for 0.weight: copying a param with shape [3, 4] from checkpoint, " \
           "the shape in current model is [8, 4]." in str(err.value)
    del sd["0.weight"], tsd["0.weight"]
    got, want = m.load_state_dict(sd, strict=False), tm.load_state_dict(tsd, strict=False)
    assert got.missing_keys == want.missing_keys == ["0.weight", "2.bias"]
    assert got.unexpected_keys == want.unexpected_keys == ["9.weight", "extra"]
    assert str(got) == str(want)


def test_load_state_dict_copies_in_place_and_accepts_numpy():
    m = mlp(nn)
    w = m[0].weight
    opt = tc.optim.SGD(m.parameters(), lr=1.0)
    sd = {k: np.full(v.shape, 0.5, np.float32) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert m[0].weight is w and isinstance(w, nn.Parameter) and w.requires_grad
    assert np.all(w.detach().numpy() == 0.5)
    assert opt.param_groups[0]["params"][0] is w


def test_state_dict_values_are_detached_and_share_memory():
    m = nested(nn)
    sd = m.state_dict()
    assert not sd["heads.cls.weight"].requires_grad
    assert "cache" not in sd and "cache" in dict(m.named_buffers())
    sd["heads.cls.weight"].fill_(3.0)
    assert np.all(m.heads["cls"].weight.detach().numpy() == 3.0)
    kv = m.state_dict(keep_vars=True)
    assert kv["scale"] is m.scale


def test_forward_hooks_and_pre_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append("a") or out + 1)
    m.register_forward_hook(lambda mod, args, out: calls.append("first"), prepend=True)
    y = m(tc.ones(1, 3))
    assert calls == ["first", "a"]
    assert_close(y, (m.bias + 1).detach().reshape(1, 2), what="hooked output")
    h1.remove()
    h2.remove()
    assert_close(m(tc.ones(1, 3)), (m.weight.sum(1) + m.bias).detach().reshape(1, 2))
    with m.register_forward_pre_hook(lambda mod, a, k: ((a[0] * 2,), k), with_kwargs=True):
        assert_close(m(tc.ones(1, 3)), (2 * m.weight.sum(1) + m.bias).detach().reshape(1, 2))
    assert len(m._forward_pre_hooks) == 0


def test_train_eval_recursive_and_dropout_modes():
    m = cnn(nn)
    assert all(mod.training for mod in m.modules())
    assert m.eval() is m and not any(mod.training for mod in m.modules())
    m.train()
    assert m.features[1].training
    d = nn.Dropout(0.5)
    x = tc.ones(2000)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    assert np.all(d.eval()(x).numpy() == 1)
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    m = mlp(nn)
    m(tc.ones(2, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=set_to_none)
    for p in m.parameters():
        assert (p.grad is None) if set_to_none else np.all(p.grad.numpy() == 0)


def test_registration_rules_match_torch():
    for n, lib in ((nn, tc), (torch.nn, torch)):
        m = n.Linear(2, 2)
        m.bias = None
        assert m.bias is None and "bias" in m._parameters
        with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
            m.weight = lib.zeros(2, 2)
        m.extra = n.ReLU()
        assert list(dict(m.named_children())) == ["extra"]
        del m.extra
        assert list(m.children()) == []
        with pytest.raises(KeyError, match="attribute 'weight' already exists"):
            m.register_buffer("weight", lib.zeros(1))
        with pytest.raises(KeyError, match="contain"):
            m.register_parameter("a.b", None)
        with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
            m.nope  # noqa: B018 - the attribute access is what raises
        shared = n.Linear(2, 2)
        s = n.Sequential(shared, shared)
        assert len(list(s.parameters())) == 2
        assert len(list(s.named_parameters(remove_duplicate=False))) == 4
        assert [k for k, _ in s.named_modules()] == ["", "0"]


def test_get_submodule_and_get_parameter():
    m, tm = nested(nn), nested(torch.nn)
    assert m.get_submodule("heads.reg.norm") is m.heads["reg"].norm
    assert m.get_parameter("heads.reg.out.weight") is m.heads["reg"].out.weight
    for bad in ("heads.nope", "heads.cls.weight"):
        assert raised(AttributeError, m.get_submodule, bad) == \
            raised(AttributeError, tm.get_submodule, bad)
    assert raised(AttributeError, m.get_parameter, "heads.reg.norm.running_mean") == \
        raised(AttributeError, tm.get_parameter, "heads.reg.norm.running_mean")


def test_to_double_keeps_parameter_identity_and_int_buffers():
    m = cnn(nn)
    w = m.head.weight
    m.double()
    assert m.head.weight is w and w.dtype == tc.float64
    assert m.features[1].running_mean.dtype == tc.float64
    assert m.features[1].num_batches_tracked.dtype == tc.int64
    assert m(tc.randn(1, 3, 12, 12, dtype=tc.float64)).dtype == tc.float64
    assert m.float() is m and w.dtype == tc.float32


def test_parameter_shares_data_and_prints_like_torch():
    t = tc.zeros(3)
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and isinstance(p, tc.Tensor)
    t.fill_(2.0)
    assert np.all(p.detach().numpy() == 2.0)
    assert repr(p) == repr(torch.nn.Parameter(torch.full((3,), 2.0)))
    assert not nn.Parameter(tc.ones(2), requires_grad=False).requires_grad
    assert type(p * 2) is tc.Tensor


def test_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[-1], nn.Linear)
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]._modules) == ["1", "2"]
    s.append(nn.Tanh())
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and isinstance(s[2], nn.Tanh)
    ml = nn.ModuleList([nn.ReLU()])
    ml.extend([nn.Tanh(), nn.Sigmoid()])
    ml.insert(1, nn.GELU())
    assert [type(x).__name__ for x in ml] == ["ReLU", "GELU", "Tanh", "Sigmoid"]
    with pytest.raises(IndexError, match="index 4 is out of range"):
        ml[4]
    md = nn.ModuleDict([("a", nn.ReLU()), ("b", nn.Tanh())])
    assert list(md) == ["a", "b"] and "a" in md and len(md) == 2
    pl = nn.ParameterList([tc.ones(2), nn.Parameter(tc.zeros(3))])
    assert [k for k, _ in pl.named_parameters()] == ["0", "1"]
    assert isinstance(pl[0], nn.Parameter)


def test_conv2d_argument_errors_match_torch():
    for kwargs in ({"groups": 2}, {"padding": "full"}, {"padding": "same", "stride": 2}):
        # torch prints the valid padding strings as a set, in hash order: compare the words
        got = raised(ValueError, nn.Conv2d, 3, 4, 3, **kwargs)
        want = raised(ValueError, torch.nn.Conv2d, 3, 4, 3, **kwargs)
        assert sorted(got.translate(STRIP).split()) == sorted(want.translate(STRIP).split())


@pytest.mark.parametrize("norm_type,max_norm", [(2.0, 0.5), (1.0, 0.3), (float("inf"), 0.1),
                                                (3.0, 100.0)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ps, tps = [], []
    rng = np.random.default_rng(4)
    for shape in ((3, 4), (5,), (2, 2, 2)):
        g = rng.standard_normal(shape).astype(np.float32)
        p, tp = nn.Parameter(tc.zeros(shape)), torch.nn.Parameter(torch.zeros(shape))
        p.grad, tp.grad = tc.tensor(g), torch.tensor(g)
        ps.append(p)
        tps.append(tp)
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    assert_close(total, torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type), what="norm")
    for p, tp in zip(ps, tps):
        assert_close(p.grad, tp.grad, what="clipped grad")
    nn.utils.clip_grad_value_(ps, 0.05)
    torch.nn.utils.clip_grad_value_(tps, 0.05)
    for p, tp in zip(ps, tps):
        assert_close(p.grad, tp.grad, what="value-clipped grad")


def _clip_old_name(lib, params, max_norm):
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        return lib.nn.utils.clip_grad_norm(params, max_norm)


def _clip_two_halves(lib, params, max_norm):
    params = list(params)
    total = lib.nn.utils.get_total_norm([p.grad for p in params])
    lib.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return total


@pytest.mark.parametrize("clip", [_clip_old_name, _clip_two_halves])
def test_clip_grad_norm_spellings_match_torch(clip):
    # seq2seq-translation calls the deprecated clip_grad_norm on model.parameters(), a
    # generator; torch >= 2.6 also spells it as get_total_norm + clip_grads_with_norm_
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(shape).astype(np.float32) for shape in ((3, 4), (3,))]
    got_model, want_model = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    for lib_model, lib in ((got_model, tc), (want_model, torch)):
        for p, g in zip(lib_model.parameters(), grads):
            p.grad = lib.tensor(g)
    total = clip(tc, got_model.parameters(), 0.5)
    assert_close(total, clip(torch, want_model.parameters(), 0.5), what="norm")
    for p, tp in zip(got_model.parameters(), want_model.parameters()):
        assert_close(p.grad, tp.grad, what="clipped grad")


def test_parameters_to_vector_and_back():
    m = nn.Linear(3, 2)
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (8,)
    assert_close(v[:6].reshape(2, 3), m.weight.detach())
    nn.utils.vector_to_parameters(tc.arange(8.0), m.parameters())
    assert np.array_equal(m.bias.detach().numpy(), [6.0, 7.0])
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad


def test_deepcopy_copies_parameters_and_buffers():
    m = nested(nn)
    c = copy.deepcopy(m)
    assert list(c.state_dict()) == list(m.state_dict())
    assert c.heads["reg"].norm.running_mean is not m.heads["reg"].norm.running_mean
    c.heads["cls"].weight.detach().fill_(5.0)
    assert not np.any(m.heads["cls"].weight.detach().numpy() == 5.0)
    assert isinstance(c.scale, nn.Parameter) and c.scale.requires_grad
