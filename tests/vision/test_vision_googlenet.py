"""GoogLeNet and Inception v3 (found missing running aladdinpersson's custom_dataset.py and
image_captioning, which train torchvision.models.googlenet and inception_v3): their
structure against torchvision's published parameter counts, a block of each against the
same block made of torch modules, and the training-mode outputs, input transform and
weights interface torchvision gives."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn

import tracecomp
from tracecomp.vision import models


def _count(model, skip_aux=False):
    return sum(p.numel() for k, p in model.named_parameters()
               if not (skip_aux and k.startswith("aux")))


def test_parameter_counts_are_torchvisions():
    model = models.googlenet(init_weights=False)
    # torchvision records 6,624,904 for the weights (aux heads dropped after loading); its
    # untrained googlenet() keeps them: 13,004,888
    assert _count(model, skip_aux=True) == models.GoogLeNet_Weights.DEFAULT.meta["num_params"]
    assert _count(model) == 13004888
    assert not any(k.startswith("aux") for k in
                   models.googlenet(aux_logits=False, init_weights=False).state_dict())


class _TorchConv(tnn.Module):          # torchvision's BasicConv2d, in torch
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class _TorchInception(tnn.Module):     # torchvision's Inception, in torch (same names)
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pool):
        super().__init__()
        self.branch1 = _TorchConv(cin, c1, kernel_size=1)
        self.branch2 = tnn.Sequential(_TorchConv(cin, c3r, kernel_size=1),
                                      _TorchConv(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(_TorchConv(cin, c5r, kernel_size=1),
                                      _TorchConv(c5r, c5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                      _TorchConv(cin, pool, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                          self.branch4(x)], 1)


def test_inception_block_matches_torch_modules():
    ours, ref = models.Inception(8, 4, 3, 5, 2, 3, 4), _TorchInception(8, 4, 3, 5, 2, 3, 4)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 8, 7, 7)).astype(np.float32)
    for train in (True, False):
        ours.train(train), ref.train(train)
        want = ref(torch.from_numpy(x)).detach().numpy()
        got = ours(tracecomp.tensor(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_training_mode_returns_the_aux_logits():
    model = models.googlenet(num_classes=7, init_weights=False)
    x = tracecomp.randn(2, 3, 64, 64)
    out = model(x)
    assert type(out).__name__ == "GoogLeNetOutputs"
    assert [tuple(t.shape) for t in out] == [(2, 7)] * 3
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    model.eval()
    assert tuple(model(x).shape) == (2, 7)
    compiled = tracecomp.compile(model)
    np.testing.assert_allclose(compiled(x).detach().numpy(), model(x).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_transform_input_is_torchvisions_formula():
    model = models.googlenet(transform_input=True, aux_logits=False, init_weights=False)
    x = np.random.default_rng(1).random((1, 3, 4, 4)).astype(np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    want = x * (std / 0.5)[None, :, None, None] + ((mean - 0.5) / 0.5)[None, :, None, None]
    got = model._transform_input(tracecomp.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_default_init_warns_and_weights_are_refused():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models.googlenet()
    assert any(w.category is FutureWarning and "GoogleNet" in str(w.message) for w in caught)
    with pytest.raises(models.WeightsUnavailableError):
        models.googlenet(weights="IMAGENET1K_V1")


# --- Inception v3 (image_captioning's EncoderCNN trains models.inception_v3) --------------

def test_inception_v3_parameter_counts_are_torchvisions():
    model = models.inception_v3(init_weights=False)
    # torchvision's weights record 27,161,264 (the aux classifier included); without it
    # Inception v3 has its well-known 23.8M
    assert _count(model) == models.Inception_V3_Weights.DEFAULT.meta["num_params"] == 27161264
    assert sum(p.numel() for k, p in model.named_parameters()
               if not k.startswith("AuxLogits")) == 23834568
    assert models.inception_v3(aux_logits=False, init_weights=False).AuxLogits is None


class _TorchInceptionE(tnn.Module):    # torchvision's InceptionE, in torch (same names)
    def __init__(self, cin):
        super().__init__()
        self.branch1x1 = _TorchConv(cin, 320, kernel_size=1)
        self.branch3x3_1 = _TorchConv(cin, 384, kernel_size=1)
        self.branch3x3_2a = _TorchConv(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _TorchConv(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _TorchConv(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = _TorchConv(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _TorchConv(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _TorchConv(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _TorchConv(cin, 192, kernel_size=1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        d3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = self.branch_pool(torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                          self.branch3x3dbl_3a(d3), self.branch3x3dbl_3b(d3), pool], 1)


def test_inception_e_block_matches_torch_modules():
    ours, ref = models.inception.InceptionE(16), _TorchInceptionE(16)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in ours.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 16, 5, 5)).astype(np.float32)
    want = ref(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(tracecomp.tensor(x)).detach().numpy(), want,
                               rtol=1e-4, atol=1e-5)


def test_inception_v3_forward_and_aux_head():
    model = models.inception_v3(num_classes=5, init_weights=False).eval()
    assert tuple(model(tracecomp.randn(1, 3, 75, 75)).shape) == (1, 5)   # its min_size
    aux = model.AuxLogits.train()           # Mixed_6e's 17x17 maps at 299x299 inputs
    assert tuple(aux(tracecomp.randn(2, 768, 17, 17)).shape) == (2, 5)
    with pytest.raises(models.WeightsUnavailableError):
        models.inception_v3(pretrained=True, aux_logits=False)
