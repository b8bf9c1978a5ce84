"""tracecomp.vision.models against torchvision without importing torchvision (CI has none):

- state_dict keys, shapes, dtypes and order, parameter counts: torchvision's, recorded once
  with real torchvision 0.28 in torchvision_keys.json next to this file;
- forward (eval and train, outputs, gradients, BatchNorm running stats): against the same
  blocks and whole models written here with real torch.nn, sharing one set of weights;
- initialization: torchvision's rules (kaiming fan_out, BN 1/0, N(0, 0.01) Linears,
  zero_init_residual);
- the weights interface: weights=/pretrained=True raise (nothing downloads), a torch-saved
  checkpoint loads through tracecomp.load;
- tracecomp.compile of resnet18 and mobilenet_v2 matching eager.
"""
import hashlib
import json
import os
from contextlib import nullcontext

import numpy as np
import pytest
import torch
import torch.nn as tnn

import tracecomp
from tracecomp.vision import models

KEYS = json.load(open(os.path.join(os.path.dirname(__file__), "torchvision_keys.json")))
MODELS = sorted(k for k in KEYS if not k.startswith("_"))
# builders added after the recording; their structure is checked against torchvision's
# recorded parameter counts instead (test_vision_googlenet.py)
UNRECORDED = ["googlenet", "inception_v3"]


@pytest.fixture(autouse=True)
def _seeded():
    """The same weights whatever ran before (the init tests draw from the generator)."""
    tracecomp.manual_seed(0)
    torch.manual_seed(0)


@pytest.fixture
def no_init(monkeypatch):
    """Skip the random fills where only the structure is checked: VGG's 120M-weight
    classifier (or ViT-H's 632M weights) takes seconds to fill, allocating it takes
    milliseconds. The suite's shape-rule check (TRACECOMP_CHECK_SHAPES, conftest.py) is
    off here too: it runs each op's impl twice, and the first zeros array freed raises
    glibc's mmap threshold, so every later weight comes from the heap and is written to
    zero (ViT-H: 2.5 GB twice, ~10 s); the rules of zeros and the other creation ops stay
    checked by every other test."""
    for name in ("kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_",
                 "xavier_uniform_", "trunc_normal_"):
        monkeypatch.setattr(tracecomp.nn.init, name, lambda t, *a, **k: t)
    monkeypatch.setattr(tracecomp.dispatch, "CHECK_SHAPES", False)


def rows(model):
    return [[k, list(v.shape), str(v.dtype).replace("tracecomp.", "")]
            for k, v in model.state_dict().items()]


def npy(t):
    return t.detach().numpy()


def to_torch(model):
    return {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}


def randomize_bn(model, seed=0, bias_std=0.1):
    """BatchNorm at its fresh state is the identity in eval mode (mean 0, var 1, weight 1,
    bias 0), which would hide a wrong eps or a swapped buffer: give it other values
    (bias_std: a large shift puts values past ReLU6's 6)."""
    rng = np.random.RandomState(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith("running_var") or (v.ndim == 1 and k.endswith("weight")):
            v = tracecomp.tensor(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))
        elif k.endswith("running_mean") or (v.ndim == 1 and k.endswith("bias")):
            v = tracecomp.tensor((rng.randn(*v.shape) * bias_std).astype(np.float32))
        sd[k] = v
    model.load_state_dict(sd)


def image(n, size, seed=0):
    return np.random.RandomState(seed).randn(n, 3, size, size).astype(np.float32)


def close(a, b, rtol=1e-4):
    """Max difference relative to the reference's largest value: float32 convolutions sum in
    another order than torch's, so elementwise tolerances on near-zero outputs would flake."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(np.abs(b).max(), 1e-6)
    assert np.abs(a - b).max() <= rtol * scale, (np.abs(a - b).max(), scale)


# --- structure: keys, shapes, dtypes, order, parameter count -------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_state_dict_is_torchvisions(name, no_init):
    model = getattr(models, name)()
    ref = KEYS[name]
    got = rows(model)
    if "rows" in ref:
        assert got == ref["rows"]
    else:  # the larger variants are recorded as a hash of the same rows
        text = "\n".join(f"{k} {tuple(s)} {d}" for k, s, d in got)
        assert len(got) == ref["count"]
        assert hashlib.sha256(text.encode()).hexdigest() == ref["sha256"]
    assert sum(p.numel() for p in model.parameters()) == ref["num_params"]
    assert len(list(model.parameters())) == ref["parameters"]


def test_num_classes_and_registry(no_init):
    assert models.list_models() == sorted(MODELS + UNRECORDED)
    assert models.list_models(include="resnet*") == ["resnet101", "resnet152", "resnet18",
                                                     "resnet34", "resnet50"]
    assert "vgg11" not in models.list_models(exclude=["vgg*"])
    m = models.get_model("ResNet18", num_classes=7)
    assert isinstance(m, models.ResNet) and tuple(m.fc.weight.shape) == (7, 512)
    assert tuple(models.vgg11(num_classes=3).classifier[6].weight.shape) == (3, 4096)
    assert tuple(models.squeezenet1_0(num_classes=5).classifier[1].weight.shape) == (5, 512, 1, 1)
    assert models.get_model_weights("resnet50") is models.ResNet50_Weights
    assert models.get_weight("ResNet50_Weights.IMAGENET1K_V1").url.endswith("0676ba61.pth")
    with pytest.raises(ValueError, match="Unknown model"):
        models.get_model("resnet9000")
    with pytest.raises(ValueError, match="groups"):
        models.resnext50_32x4d(groups=8)


# --- initialization: torchvision's rules ---------------------------------------------------

def std_ok(t, std):
    return abs(npy(t).std() - std) < 0.1 * std


def test_resnet_init():
    m = models.resnet18(num_classes=10)
    for name, mod in m.named_modules():
        if isinstance(mod, tracecomp.nn.Conv2d):  # kaiming_normal_, fan_out, relu gain
            o, _, kh, kw = mod.weight.shape
            assert mod.weight.numel() < 2000 or std_ok(mod.weight, (2 / (o * kh * kw)) ** .5), name
        elif isinstance(mod, tracecomp.nn.BatchNorm2d):
            assert (npy(mod.weight) == 1).all() and (npy(mod.bias) == 0).all()
    bound = 1 / 512 ** .5  # fc keeps Linear's default init
    assert 0.9 * bound < np.abs(npy(m.fc.weight)).max() <= bound
    z = models.resnet50(zero_init_residual=True)
    assert all((npy(b.bn3.weight) == 0).all() for b in z.layer1)
    assert (npy(z.layer1[0].bn1.weight) == 1).all()
    z = models.resnet18(zero_init_residual=True)
    assert all((npy(b.bn2.weight) == 0).all() for b in z.layer4)


def test_mobilenet_squeezenet_alexnet_init():
    m = models.mobilenet_v2()
    w = m.features[18][0].weight  # 1280x320x1x1, kaiming fan_out, leaky_relu gain ~ sqrt(2)
    assert std_ok(w, (2 / 1280) ** .5)
    assert std_ok(m.classifier[1].weight, 0.01) and (npy(m.classifier[1].bias) == 0).all()
    s = models.squeezenet1_0()
    assert std_ok(s.classifier[1].weight, 0.01)  # final conv: N(0, 0.01)
    w = s.features[12].expand3x3.weight  # kaiming_uniform_ fan_in, a=0: bound sqrt(6/fan_in)
    assert 0.95 * (6 / (64 * 9)) ** .5 < np.abs(npy(w)).max() <= (6 / (64 * 9)) ** .5
    a = models.alexnet()  # not re-initialized: Linear's default U(+-1/sqrt(fan_in))
    assert 0.95 / 4096 ** .5 < np.abs(npy(a.classifier[4].weight)).max() <= 1 / 4096 ** .5


def test_vgg_init(monkeypatch):
    # Filling the 120M classifier weights takes seconds: record the N(0, 0.01) calls instead
    # (and check the convolutions, which keep the real kaiming fill, by their values)
    calls, real = [], tracecomp.nn.init.normal_

    def normal_(t, mean=0.0, std=1.0, *args, **kwargs):
        if t.ndim != 2:  # kaiming_normal_ on a conv goes through here too: fill it
            return real(t, mean, std, *args, **kwargs)
        calls.append((tuple(t.shape), mean, std))
        return t
    monkeypatch.setattr(tracecomp.nn.init, "normal_", normal_)
    m = models.vgg11_bn(num_classes=10)
    assert calls == [((4096, 25088), 0, 0.01), ((4096, 4096), 0, 0.01), ((10, 4096), 0, 0.01)]
    assert all((npy(lin.bias) == 0).all() for lin in m.classifier[::3])
    assert std_ok(m.features[4].weight, (2 / (128 * 9)) ** .5)  # fan_out, relu gain
    assert (npy(m.features[4].bias) == 0).all()
    assert (npy(m.features[5].weight) == 1).all()


# --- torch.nn references: the same architecture written with real torch --------------------

class TBasic(tnn.Module):
    expansion = 1

    def __init__(self, inp, planes, stride=1, down=None, groups=1, width=64):
        super().__init__()
        self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = down

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inp, planes, stride=1, down=None, groups=1, width=64):
        super().__init__()
        w = int(planes * width / 64) * groups
        self.conv1, self.bn1 = tnn.Conv2d(inp, w, 1, bias=False), tnn.BatchNorm2d(w)
        self.conv2 = tnn.Conv2d(w, w, 3, stride, 1, groups=groups, bias=False)  # V1.5
        self.bn2 = tnn.BatchNorm2d(w)
        self.conv3 = tnn.Conv2d(w, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu, self.downsample = tnn.ReLU(), down

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TResNet(tnn.Module):
    def __init__(self, block, layers, num_classes=10):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1, self.relu = tnn.BatchNorm2d(64), tnn.ReLU()
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        inp = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inp != planes * block.expansion:
                down = tnn.Sequential(tnn.Conv2d(inp, planes * block.expansion, 1, stride,
                                                 bias=False),
                                      tnn.BatchNorm2d(planes * block.expansion))
            blocks = [block(inp, planes, stride, down)]
            inp = planes * block.expansion
            blocks += [block(inp, planes) for _ in range(1, n)]
            setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(tnn.functional.adaptive_avg_pool2d(x, 1), 1))


def cba(i, o, k=3, s=1, g=1):  # torchvision.ops.Conv2dNormActivation with ReLU6
    return tnn.Sequential(tnn.Conv2d(i, o, k, s, (k - 1) // 2, groups=g, bias=False),
                          tnn.BatchNorm2d(o), tnn.ReLU6())


class TInverted(tnn.Module):
    def __init__(self, inp, oup, stride, t):
        super().__init__()
        h = inp * t
        layers = [cba(inp, h, 1)] if t != 1 else []
        layers += [cba(h, h, 3, stride, h), tnn.Conv2d(h, oup, 1, bias=False),
                   tnn.BatchNorm2d(oup)]
        self.conv, self.res = tnn.Sequential(*layers), stride == 1 and inp == oup

    def forward(self, x):
        return x + self.conv(x) if self.res else self.conv(x)


class TMobileNetV2(tnn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        feats, inp = [cba(3, 32, 3, 2)], 32
        for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                           [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
            for i in range(n):
                feats.append(TInverted(inp, c, s if i == 0 else 1, t))
                inp = c
        self.features = tnn.Sequential(*feats, cba(320, 1280, 1))
        self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(1280, num_classes))

    def forward(self, x):
        x = tnn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class TVGG(tnn.Module):
    def __init__(self, cfg, num_classes=10):
        super().__init__()
        layers, inp = [], 3
        for v in cfg:
            if v == "M":
                layers.append(tnn.MaxPool2d(2, 2))
            else:
                layers += [tnn.Conv2d(inp, v, 3, padding=1), tnn.BatchNorm2d(v), tnn.ReLU()]
                inp = v
        self.features = tnn.Sequential(*layers)
        self.classifier = tnn.Sequential(
            tnn.Linear(25088, 4096), tnn.ReLU(), tnn.Dropout(), tnn.Linear(4096, 4096),
            tnn.ReLU(), tnn.Dropout(), tnn.Linear(4096, num_classes))

    def forward(self, x):
        x = tnn.functional.adaptive_avg_pool2d(self.features(x), 7)
        return self.classifier(torch.flatten(x, 1))


def check_against(ours, ref, x, train=False, rtol=1e-4, double=False):
    """Load ours' weights into the torch reference (strict: the keys must agree), run both,
    compare outputs; in train mode also every gradient and the BN running statistics.
    double: in float64, where gradients agree to 1e-9: in float32 a BN weight's gradient (a
    sum that cancels) is 1e-3 off in torch itself, and a ReLU input within rounding of 0
    may pass a gradient in one library only."""
    ref.load_state_dict(to_torch(ours))
    if double:
        ours.double(), ref.double()
        x = x.astype(np.float64)
    ours.train(train), ref.train(train)
    xt = torch.from_numpy(x)
    y_ref = ref(xt)
    y = ours(tracecomp.tensor(x))
    close(npy(y), npy(y_ref), rtol)
    if train:
        y_ref.square().sum().backward()
        y.square().sum().backward()
        grads = dict(ref.named_parameters())
        for name, p in ours.named_parameters():
            close(p.grad.numpy(), grads[name].grad.numpy(), 1e-9 if double else 1e-3)
        theirs = ref.state_dict()
        for k, v in ours.state_dict().items():
            close(v.numpy(), theirs[k].numpy())


def test_basic_block_vs_torch():
    down = models.resnet.conv1x1(16, 32, 2)
    ours = models.BasicBlock(16, 32, 2, tracecomp.nn.Sequential(down,
                                                                tracecomp.nn.BatchNorm2d(32)))
    ref = TBasic(16, 32, 2, tnn.Sequential(tnn.Conv2d(16, 32, 1, 2, bias=False),
                                           tnn.BatchNorm2d(32)))
    x = np.random.RandomState(0).randn(4, 16, 8, 8).astype(np.float32)
    check_against(ours, ref, x, train=True, rtol=1e-9, double=True)
    randomize_bn(ours.float())
    check_against(ours, ref.float(), x)


def test_bottleneck_grouped_vs_torch():  # the ResNeXt block: groups and width_per_group
    ours = models.Bottleneck(64, 16, groups=4, base_width=8)
    ref = TBottleneck(64, 16, groups=4, width=8)
    x = np.random.RandomState(1).randn(3, 64, 6, 6).astype(np.float32)
    check_against(ours, ref, x, train=True, rtol=1e-9, double=True)
    randomize_bn(ours.float())
    check_against(ours, ref.float(), x)


def test_inverted_residual_and_fire_vs_torch():
    ours = models.InvertedResidual(24, 24, 1, expand_ratio=6)
    randomize_bn(ours, bias_std=4)
    x = np.random.RandomState(2).randn(2, 24, 8, 8).astype(np.float32)
    check_against(ours, TInverted(24, 24, 1, 6), x, train=True, rtol=1e-9, double=True)
    fire = models.squeezenet.Fire(32, 8, 16, 16)

    class TFire(tnn.Module):
        def __init__(self):
            super().__init__()
            self.squeeze = tnn.Conv2d(32, 8, 1)
            self.expand1x1, self.expand3x3 = tnn.Conv2d(8, 16, 1), tnn.Conv2d(8, 16, 3, padding=1)

        def forward(self, x):
            x = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)
    x = np.random.RandomState(3).randn(2, 32, 5, 5).astype(np.float32)
    check_against(fire, TFire(), x, train=True, rtol=1e-9, double=True)


def test_resnet18_vs_torch():
    ours = models.resnet18(num_classes=10)
    randomize_bn(ours)
    check_against(ours, TResNet(TBasic, [2, 2, 2, 2]), image(1, 32))


def test_resnet_training_vs_torch():
    # train mode: batch statistics, gradients, running stats; one block a stage (the
    # blocks repeat the same code) keeps float64 eager convolutions short
    ours = models.ResNet(models.BasicBlock, [1, 1, 1, 1], num_classes=10)
    check_against(ours, TResNet(TBasic, [1, 1, 1, 1]), image(2, 32), train=True, rtol=1e-9,
                  double=True)


def test_resnet50_vs_torch():
    ours = models.resnet50(num_classes=10)
    randomize_bn(ours)
    check_against(ours, TResNet(TBottleneck, [3, 4, 6, 3]), image(1, 32))


def test_mobilenet_v2_vs_torch():
    ours = models.mobilenet_v2(num_classes=10)
    randomize_bn(ours, bias_std=4)
    check_against(ours, TMobileNetV2(), image(2, 32))


def test_vgg11_bn_at_32x32_vs_torch(no_init):
    # 32x32 ends the features at 1x1; the 7x7 adaptive pool copies it 49 times, as torch.
    # The classifier is swapped for one Linear on the same 25088 inputs: its three layers
    # are plain Linear/ReLU/Dropout, and 120M weights would take seconds to fill and copy
    ours = models.vgg11_bn(num_classes=10, init_weights=False)
    ours.classifier = tracecomp.nn.Sequential(tracecomp.nn.Linear(25088, 10))
    rng = np.random.RandomState(0)
    ours.load_state_dict({k: tracecomp.tensor((rng.randn(*v.shape) * 0.05).astype(np.float32))
                          for k, v in ours.state_dict().items() if v.is_floating_point()},
                         strict=False)
    randomize_bn(ours)
    with torch.device("meta"):
        ref = TVGG(models.vgg.cfgs["A"])
    ref.classifier = tnn.Sequential(tnn.Linear(25088, 10))
    ref.load_state_dict(to_torch(ours), assign=True)
    ours.eval(), ref.eval()
    x = image(2, 32)
    with tracecomp.no_grad():
        y = ours(tracecomp.tensor(x)).numpy()
    close(y, npy(ref(torch.from_numpy(x))))


# --- the weights interface -----------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"weights": "DEFAULT"}, {"weights": "IMAGENET1K_V1"},
                                    {"weights": models.ResNet18_Weights.IMAGENET1K_V1},
                                    {"pretrained": True}])
def test_weights_refused_with_recipe(kwargs):
    with pytest.warns(UserWarning) if "pretrained" in kwargs else nullcontext():
        with pytest.raises(models.WeightsUnavailableError,
                           match=r"(?s)no pretrained weights.*tracecomp\.load\(\"resnet18-"):
            models.resnet18(**kwargs)
    with pytest.raises(RuntimeError, match="vgg16_bn-6c64b313.pth"):
        models.get_model("vgg16_bn", weights="DEFAULT")


def test_untrained_spellings(no_init):
    assert models.resnet18(weights=None, progress=False) is not None
    with pytest.warns(UserWarning, match="deprecated"):
        models.alexnet(pretrained=False)
    with pytest.raises(TypeError):
        models.resnet18(True, True, 10)


def test_torch_checkpoint_loads(tmp_path):
    ref = TResNet(TBasic, [2, 2, 2, 2])
    for m in ref.modules():  # non-trivial BN buffers, which the checkpoint must carry
        if isinstance(m, tnn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    ours = models.resnet18(num_classes=10)
    ours.load_state_dict(tracecomp.load(str(tmp_path / "r18.pth")))
    ours.eval(), ref.eval()
    x = image(1, 32)
    with tracecomp.no_grad():
        close(ours(tracecomp.tensor(x)).numpy(), npy(ref(torch.from_numpy(x))))


# --- compiled ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,size", [("resnet18", 64), ("mobilenet_v2", 32)])
def test_compiled_matches_eager(name, size):
    m = getattr(models, name)(num_classes=10)
    randomize_bn(m)
    m.eval()
    x = tracecomp.tensor(image(1, size))
    with tracecomp.no_grad():
        eager = m(x).numpy()
        compiled = tracecomp.compile(m)(x).numpy()
    close(compiled, eager, 1e-5)


def test_compiled_training_step_resnet():
    # float64: in float32 a pre-ReLU sum that rounds to +2e-6 in one order and to 0 in the
    # other lets one gradient through in one run only, which BN over 4x4x4 values spreads to
    # a 10% change of whole weight gradients (seen eager vs torch too, not a compiler bug).
    # One block per stage keeps the compile short; every kind of layer is in it.
    m = models.ResNet(models.BasicBlock, [1, 1, 1, 1], num_classes=10).double()
    x = tracecomp.tensor(image(2, 32).astype(np.float64))
    m(x).square().sum().backward()
    eager = {n: p.grad.numpy().copy() for n, p in m.named_parameters()}
    m.zero_grad()
    tracecomp.compile(m)(x).square().sum().backward()
    for n, p in m.named_parameters():
        close(p.grad.numpy(), eager[n], 1e-9)
