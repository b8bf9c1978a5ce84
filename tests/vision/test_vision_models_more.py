"""EfficientNet, the Vision Transformer, DenseNet and tracecomp.vision.ops against
torchvision, without importing torchvision (CI has none):

- state_dict keys / shapes / order of every builder: test_vision_models.py, from
  torchvision_keys.json;
- forward: small configurations of each family (tv_reference.CASES) loaded with the same
  deterministic weights as real torchvision 0.28 was, compared with its recorded outputs in
  torchvision_outputs.json: eval in float32 (eager and tracecomp.compile), train mode in
  float64 (batch statistics, and every parameter's gradient sum and sum of squares);
- initialization, the weights interface, stochastic depth, old checkpoint key spellings.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn as tnn
import tv_reference as R

import tracecomp
from tracecomp import nn
from tracecomp.vision import models, ops

REF = json.load(open(R.OUTPUTS))


@pytest.fixture(autouse=True)
def _seeded():
    tracecomp.manual_seed(0)
    torch.manual_seed(0)


def close(a, b, rtol=1e-5):
    """Max difference relative to the reference's largest value (see test_vision_models)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    err, scale = np.abs(a - b).max(), max(np.abs(b).max(), 1e-12)
    assert err <= rtol * scale, f"tracecomp={a.ravel()[:4]} | torchvision={b.ravel()[:4]} " \
                                f"(max diff {err:.3g}, scale {scale:.3g})"


def build(name, double=False, train=False):
    """CASES[name] with tv_reference's weights, as torchvision was when recording."""
    make, size, deterministic = R.CASES[name]
    m = make(models, nn, **(deterministic if train else {}))
    shapes = [(k, list(v.shape), str(v.dtype).replace("tracecomp.", ""))
              for k, v in m.state_dict().items()]
    m.load_state_dict({k: tracecomp.tensor(v) for k, v in R.weights(shapes).items()},
                      strict=False)
    if double:
        m.double()
    m.train(train)
    x = R.image(size)
    return m, tracecomp.tensor(x.astype(np.float64) if double else x)


@pytest.mark.parametrize("name", list(R.CASES))
def test_eval_matches_torchvision(name):
    m, x = build(name)
    with tracecomp.no_grad():
        close(m(x).numpy(), REF[name]["eval"])


@pytest.mark.parametrize("name", ["efficientnet_small", "vit_small", "densenet_small"])
def test_compiled_eval_matches_torchvision(name):
    m, x = build(name)
    with tracecomp.no_grad():
        close(tracecomp.compile(m)(x).numpy(), REF[name]["eval"])


@pytest.mark.parametrize("name", list(R.CASES))
def test_train_mode_and_gradients_match_torchvision(name):
    # float64: a BatchNorm bias feeding another BatchNorm has a gradient that is exactly 0
    # in exact arithmetic, rounding noise in both libraries; it is checked against the
    # largest gradient, not against itself
    m, x = build(name, double=True, train=True)
    y = m(x)
    close(y.detach().numpy(), REF[name]["train"], 1e-9)
    y.square().sum().backward()
    grads = REF[name]["grads"]
    scale = max(np.sqrt(sq) for _, sq in grads.values())
    assert sorted(grads) == sorted(n for n, _ in m.named_parameters())
    for n, p in m.named_parameters():
        g = p.grad.numpy()
        total, sq = grads[n]
        assert abs(np.sqrt((g * g).sum()) - np.sqrt(sq)) <= 1e-7 * scale, n
        assert abs(g.sum() - total) <= 1e-7 * scale * np.sqrt(g.size), n


# --- stochastic depth ----------------------------------------------------------------------

def test_stochastic_depth_rows():
    x = tracecomp.ones(400, 3, 2, 2)
    assert ops.stochastic_depth(x, 0.3, "row", training=False) is x
    assert ops.stochastic_depth(x, 0.0, "row") is x
    y = ops.stochastic_depth(x, 0.25, "row").numpy()
    per_row = y.reshape(400, -1)
    # each row is dropped or kept whole, survivors scaled by 1 / (1 - p)
    assert set(np.unique(per_row)) <= {0.0, np.float32(1 / 0.75)}
    assert (per_row.min(1) == per_row.max(1)).all()
    assert 0.15 < (per_row[:, 0] == 0).mean() < 0.35
    tracecomp.manual_seed(5)
    a = ops.stochastic_depth(x, 0.5, "row").numpy()
    tracecomp.manual_seed(5)
    assert (ops.stochastic_depth(x, 0.5, "row").numpy() == a).all()  # tracecomp's RNG
    b = ops.stochastic_depth(x, 0.5, "batch").numpy()
    assert len(np.unique(b)) == 1
    assert (ops.stochastic_depth(x, 1.0, "row").numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        ops.stochastic_depth(x, 1.5, "row")
    with pytest.raises(ValueError, match="mode"):
        ops.StochasticDepth(0.1, "column")(x)
    assert repr(ops.StochasticDepth(0.1, "row")) == "StochasticDepth(p=0.1, mode=row)"


def test_efficientnet_stochastic_depth_schedule_and_training():
    m = models.efficientnet_b0(num_classes=10, stochastic_depth_prob=0.8, dropout=0.0)
    probs = [b.stochastic_depth.p for stage in m.features[1:-1] for b in stage]
    assert probs == [0.8 * i / 16 for i in range(16)]  # torchvision's linear schedule
    m.train()
    x = tracecomp.tensor(R.image(32))
    tracecomp.manual_seed(1)
    a = m(x).detach().numpy()
    tracecomp.manual_seed(2)
    b = m(x).detach().numpy()
    assert not np.allclose(a, b)  # some residual branches dropped in one run only
    m.eval()
    with tracecomp.no_grad():
        assert np.allclose(m(x).numpy(), m(x).numpy())


# --- ops -----------------------------------------------------------------------------------

def test_squeeze_excitation_and_mlp_vs_torch():
    se = ops.SqueezeExcitation(8, 2, activation=nn.SiLU)
    ref = tnn.Module()
    ref.fc1, ref.fc2 = tnn.Conv2d(8, 2, 1), tnn.Conv2d(2, 8, 1)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in se.state_dict().items()})
    x = np.random.RandomState(0).randn(2, 8, 5, 5).astype(np.float32)
    s = ref.fc2(tnn.functional.silu(ref.fc1(torch.from_numpy(x).mean((2, 3), keepdim=True))))
    close(se(tracecomp.tensor(x)).detach().numpy(),
          (torch.sigmoid(s) * torch.from_numpy(x)).detach().numpy())
    mlp = ops.MLP(6, [16, 4], norm_layer=nn.LayerNorm, dropout=0.1)
    assert [k for k in mlp.state_dict()] == ["0.weight", "0.bias", "1.weight", "1.bias",
                                             "4.weight", "4.bias"]
    cna = ops.Conv2dNormActivation(3, 8, kernel_size=(3, 5), dilation=2, norm_layer=None)
    assert cna[0].padding == (2, 4) and cna[0].bias is not None and len(cna) == 2
    assert tuple(ops.Permute([0, 2, 1])(tracecomp.zeros(2, 3, 4)).shape) == (2, 4, 3)
    assert models.Conv2dNormActivation is ops.Conv2dNormActivation  # still exported


# --- initialization ------------------------------------------------------------------------

def npy(t):
    return t.detach().numpy()


def test_inits():
    e = models.efficientnet_b0()
    w = npy(e.classifier[1].weight)  # U(+-1/sqrt(out_features))
    assert 0.95 / 1000 ** .5 < np.abs(w).max() <= 1 / 1000 ** .5
    assert not npy(e.features[5][0].block[2].fc1.bias).any()
    b7_norm = models.efficientnet_b7().features[0][1]      # one build: 66M weights to fill
    assert b7_norm.eps == 1e-3 and b7_norm.momentum == 0.01
    v = models.vit_b_32(image_size=64)
    assert (npy(v.heads.head.weight) == 0).all() and (npy(v.class_token) == 0).all()
    assert abs(npy(v.encoder.pos_embedding).std() - 0.02) < 0.003
    # trunc_normal_ at std sqrt(1 / fan_in), cut at +-2 (absolute, as torch's defaults)
    cw = npy(v.conv_proj.weight)
    assert abs(cw.std() - (1 / (3 * 32 * 32)) ** .5) < 0.05 * cw.std()
    fc = v.encoder.layers.encoder_layer_0.mlp[0]  # xavier uniform, N(0, 1e-6) bias
    assert np.abs(npy(fc.weight)).max() <= (6 / (768 + 3072)) ** .5
    assert np.abs(npy(fc.bias)).max() < 1e-5
    d = models.densenet121(num_classes=10)
    assert (npy(d.classifier.bias) == 0).all()
    conv = npy(d.features.denseblock1.denselayer1.conv2.weight)  # kaiming fan_in
    assert abs(conv.std() - (2 / (128 * 9)) ** .5) < 0.1 * conv.std()


# --- the weights interface and checkpoints -------------------------------------------------

@pytest.mark.parametrize("name,file", [("efficientnet_b0", "efficientnet_b0_rwightman-7f5810bc"),
                                       ("efficientnet_b1", "efficientnet_b1-c27df63c"),
                                       ("vit_b_16", "vit_b_16-c867db91"),
                                       ("vit_h_14", "vit_h_14_swag-80465313"),
                                       ("densenet121", "densenet121-a639ec97")])
def test_weights_refused(name, file):
    with pytest.raises(models.WeightsUnavailableError, match=file):
        models.get_model(name, weights="DEFAULT")
    assert models.get_model_weights(name).DEFAULT.url.endswith(file + ".pth")


def test_old_checkpoint_keys_load():
    # torchvision's published densenet files spell norm1 as norm.1 (and ViT checkpoints
    # before 0.13 spell mlp.0 as mlp.linear_1): both load as in torchvision
    d = models.densenet.DenseNet(8, (1, 1, 1, 1), 8, bn_size=2, num_classes=3,
                                 memory_efficient=True)
    sd = {k if k.endswith("tracked") else k.replace("denselayer1.norm1.", "denselayer1.norm.1."):
          v + 1 for k, v in d.state_dict().items()}
    assert "features.denseblock2.denselayer1.norm.1.running_var" in sd
    d.load_state_dict(sd)
    assert (npy(d.features.denseblock2.denselayer1.norm1.running_var) == 2).all()
    v = models.vision_transformer.VisionTransformer(8, 4, 1, 2, 8, 16)
    sd = {k.replace("mlp.3.", "mlp.linear_2."): t + 1 for k, t in v.state_dict().items()}
    want = npy(sd["encoder.layers.encoder_layer_0.mlp.linear_2.weight"])
    v.load_state_dict(sd)
    assert (npy(v.encoder.layers.encoder_layer_0.mlp[3].weight) == want).all()


def test_vit_checks_image_size():
    v = models.vision_transformer.VisionTransformer(16, 8, 1, 2, 8, 16)
    # torchvision's torch._assert messages
    with pytest.raises(AssertionError, match="Wrong image height! Expected 16 but got 24!"):
        v(tracecomp.zeros(1, 3, 24, 16))
    with pytest.raises(AssertionError, match="Wrong image width! Expected 16 but got 24!"):
        v(tracecomp.zeros(1, 3, 16, 24))
    with pytest.raises(ValueError, match="divisible"):
        models.vision_transformer.VisionTransformer(20, 8, 1, 2, 8, 16)
