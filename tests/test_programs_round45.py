"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 45), each reproduced here against torch.

Programs run (weights drawn by torch and copied, tiny synthetic data, a few steps, random
draws (randn_like, rand) fixed per shape in both libraries; "agrees" means eager,
compile(model) and a compiled whole training step give torch's losses and parameters, up
to parameters whose exact gradient is 0 (conv biases before BatchNorm, attention key
biases), which Adam turns from float32 rounding noise into lr * sign in torch's own runs too):
- AntixK/PyTorch-VAE (64x64 images, small hidden_dims, Adam): VanillaVAE, BetaVAE (B),
  VQVAE (argmin codebook, scatter_ one-hot, straight-through), CategoricalVAE (gumbel
  softmax), InfoVAE and WAE_MMD (MMD kernels), IWAE and MIWAE (importance weights,
  logsumexp), DIPVAE, SWAE (random projections, sort), MSSIMVAE (grouped gaussian-window
  convs), BetaTCVAE (log-density matrix, strided importance-weight writes), JointVAE:
  agree. LogCoshVAE gives inf/nan at its default alpha=100 in torch too (exp overflow).
- lucidrains/perceiver-pytorch (einops not installed: a stand-in rearrange/repeat/Reduce):
  Perceiver (fourier features, weight tying, self_per_cross_attn=2), with a pixel mask and
  inverted (slot) cross attention, PerceiverIO with queries and decoder_ff, PerceiverLM
  with a padding mask, the gated (GRU residual) and mixed-latents (token-mixing Conv1d)
  variants: agree.
- facebookresearch/mae models_mae.py (timm's PatchEmbed/Block stood in for; np.float and
  torch._six fixed for today's numpy/torch in both) with util/misc's
  NativeScalerWithGradNormCount (CPU GradScaler, clip_grad_norm_ / get_grad_norm_),
  util/lr_sched's per-iteration cosine schedule, AdamW betas (0.9, 0.95), norm_pix_loss on
  and off: agree (reshape(shape=...), einsum transposes, argsort masking, gather).
- facebookresearch/detr (no torchvision in either environment): a tiny backbone of
  FrozenBatchNorm2d stages through BackboneBase/IntermediateLayerGetter, Joiner with
  PositionEmbeddingSine over the NestedTensor mask of two differently sized images,
  Transformer (post- and pre-norm, intermediate decoder outputs, aux loss), the
  HungarianMatcher (scipy's linear_sum_assignment: a graph break), SetCriterion's
  labels/boxes/cardinality losses with GIoU, clip_grad_norm_, AdamW with a backbone group,
  PostProcess: agree with a stand-in torchvision on both sides. With tracecomp.vision as
  torchvision it stopped at once: tracecomp.vision.models._utils (IntermediateLayerGetter),
  tracecomp.vision.ops.boxes (box_area; generalized_box_iou, box_iou, box_convert go
  with it), tracecomp.vision._is_tracing and ops.misc's FrozenBatchNorm2d / interpolate
  were missing; they are added and DETR agrees through them.
- lucidrains/denoising-diffusion-pytorch (einops stand-in with pack/unpack; tqdm, ema_pytorch,
  accelerate stubbed; torch.randint/randn_like fixed per shape): GaussianDiffusion over Unet
  with pred_v, pred_noise (self-conditioning, offset noise) and pred_x0 (full attention),
  GaussianDiffusion1D over Unet1D, ElucidatedDiffusion over a learned-sinusoidal Unet, and
  KarrasUnet with class labels (magnitude-preserving weights renormalized in place under
  no_grad in forward, dropout=0): agree; DDIM and DDPM sampling loops, eager and with the
  Unet compiled, give torch's samples to 1e-6.
- eriklindernoren/PyTorch-GAN, the scripts run as written (argparse, Variable, legacy
  FloatTensor(n, 1).fill_, numpy-drawn z; MNIST, save_image and torchvision stubbed, the
  DataLoader unshuffled, dropout p=0, initial weights copied from torch's run): gan, wgan
  (weight clipping), wgan_gp and wgan_div (autograd.grad create_graph penalties), ebgan
  (pull-away term), aae, lsgan, relativistic_gan, infogan (itertools.chain optimizer), cgan,
  dcgan, acgan, sgan: agree eager and with their models compiled, except that compiled
  wgan_gp/wgan_div stop with tracecomp's clear error on double backward through a compiled
  call (torch.compile has no double backward either). began and softmax_gan fail under
  today's torch itself (0-dim indexing, an in-place edit of a saved tensor); dragan and
  bgan reference an undefined mnist_loader; cluster_gan names torch.cuda.FloatTensor.
- lucidrains/byol-pytorch (tracecomp.vision.transforms for its default augmentation, which
  it builds even when augment_fn is given; deterministic augment functions): BYOL with the
  momentum target encoder (deepcopy, EMA update, forward hook on the hidden layer, lazily
  built projector, simplicial embeddings) and SimSiam mode: agree (float64 runs to 1e-13;
  float32 runs drift at 1e-5 by step 3 in torch's own float32 as well).
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.vision import ops as tv_ops
from tracecomp.vision.models._utils import IntermediateLayerGetter


# --- torchvision.ops box utilities: our own torch formulas as the reference ----------------
def _ref_area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _ref_giou(b1, b2):
    a1, a2 = _ref_area(b1), _ref_area(b2)
    lt = torch.max(b1[:, None, :2], b2[:, :2])
    rb = torch.min(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = a1[:, None] + a2 - inter
    lt2 = torch.min(b1[:, None, :2], b2[:, :2])
    rb2 = torch.max(b1[:, None, 2:], b2[:, 2:])
    wh2 = (rb2 - lt2).clamp(min=0)
    hull = wh2[..., 0] * wh2[..., 1]
    return inter / union, inter / union - (hull - union) / hull


def _boxes(rng, n):
    xy = rng.random((n, 2))
    return np.concatenate([xy, xy + 0.1 + rng.random((n, 2))], axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_iou_and_generalized_iou_with_gradients_as_torch(dtype):
    rng = np.random.default_rng(0)
    b1, b2 = _boxes(rng, 4).astype(dtype), _boxes(rng, 3).astype(dtype)
    b2[0] = b1[1]                       # a perfect match: iou 1, giou 1
    b2[1] = [5, 5, 6, 7]                # disjoint from all: iou 0, giou < 0
    t1, t2 = (torch.tensor(b, requires_grad=True) for b in (b1, b2))
    c1, c2 = (tc.tensor(b, requires_grad=True) for b in (b1, b2))
    ref_iou, ref_giou = _ref_giou(t1, t2)
    iou, giou = tv_ops.box_iou(c1, c2), tv_ops.generalized_box_iou(c1, c2)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(iou.detach().numpy(), ref_iou.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(giou.detach().numpy(), ref_giou.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(tv_ops.box_area(c1).detach().numpy(), _ref_area(t1).detach().numpy(),
                               rtol=tol)
    w = rng.standard_normal(giou.shape).astype(dtype)
    (ref_giou * torch.tensor(w)).sum().backward()
    (giou * tc.tensor(w)).sum().backward()
    np.testing.assert_allclose(c1.grad.numpy(), t1.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c2.grad.numpy(), t2.grad.numpy(), rtol=1e-5, atol=1e-6)


_FORMATS = {  # box (x1, y1, x2, y2) = (1, 2, 4, 8) in each format
    "xyxy": [1., 2., 4., 8.], "xywh": [1., 2., 3., 6.], "cxcywh": [2.5, 5., 3., 6.]}


@pytest.mark.parametrize("src", sorted(_FORMATS))
@pytest.mark.parametrize("dst", sorted(_FORMATS))
def test_box_convert_between_formats(src, dst):
    got = tv_ops.box_convert(tc.tensor([_FORMATS[src]] * 2), src, dst)
    np.testing.assert_allclose(got.numpy(), [_FORMATS[dst]] * 2)


def test_box_utilities_reject_what_is_not_a_box():
    with pytest.raises(ValueError, match=r"box_convert: unsupported box format 'xyz'.*'cxcywh'"):
        tv_ops.box_convert(tc.zeros(2, 4), "xyz", "xyxy")
    with pytest.raises(ValueError, match=r"box_iou: boxes must have shape \(\.\.\., 4\), got "
                                         r"\(2, 3\)"):
        tv_ops.box_iou(tc.zeros(2, 3), tc.zeros(1, 4))


def _giou_step(lib, giou, compiled):
    """DETR's box loss: L1 + (1 - diag(GIoU)) of predicted (cx, cy, w, h) boxes, SGD."""
    rng = np.random.default_rng(1)
    x = lib.tensor(rng.standard_normal((3, 5)).astype(np.float32))
    w = lib.tensor(rng.standard_normal((5, 4)).astype(np.float32) * 0.3, requires_grad=True)
    target = lib.tensor(np.array([[.3, .4, .2, .3], [.6, .5, .3, .2], [.5, .5, .4, .4]],
                                 np.float32))
    opt = lib.optim.SGD([w], lr=0.1)

    def xyxy(b):
        cx, cy, bw, bh = b.unbind(-1)
        return lib.stack([cx - 0.5 * bw, cy - 0.5 * bh, cx + 0.5 * bw, cy + 0.5 * bh], dim=-1)

    def step():
        opt.zero_grad()
        pred = (x @ w).sigmoid()
        loss = (pred - target).abs().sum() + (1 - lib.diag(giou(xyxy(pred), xyxy(target)))).sum()
        loss.backward()
        opt.step()
        return loss.detach()
    if compiled:
        step = tc.compile(step)
    return [float(step()) for _ in range(3)], w.detach().numpy()


@pytest.mark.parametrize("compiled", [False, True])
def test_generalized_box_iou_loss_trains_as_torch(compiled):
    ours = _giou_step(tc, tv_ops.generalized_box_iou, compiled)
    ref = _giou_step(torch, lambda a, b: _ref_giou(a, b)[1], False)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-5, atol=1e-6)


# --- FrozenBatchNorm2d, IntermediateLayerGetter, _is_tracing --------------------------------
def test_frozen_batchnorm_is_batchnorm_in_eval_and_loads_its_state_dict():
    rng = np.random.default_rng(2)
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean"):
            getattr(bn, name).copy_(torch.tensor(rng.standard_normal(3).astype(np.float32)))
        bn.running_var.copy_(torch.tensor(rng.random(3).astype(np.float32) + 0.5))
    bn.eval()
    frozen = tv_ops.FrozenBatchNorm2d(3)
    # BatchNorm2d's num_batches_tracked has no place here: it is dropped, not unexpected
    frozen.load_state_dict({k: tc.tensor(v.numpy()) for k, v in bn.state_dict().items()})
    assert [n for n, _ in frozen.named_parameters()] == []
    assert sorted(frozen.state_dict()) == ["bias", "running_mean", "running_var", "weight"]
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(frozen(tc.tensor(x)).numpy(), bn(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tc.compile(frozen)(tc.tensor(x)).numpy(),
                               bn(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert repr(frozen) == "FrozenBatchNorm2d(3, eps=1e-05)"


def _backbone(lib):
    nn = lib.nn
    m = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(3, 4, 3, padding=1)), ("relu", nn.ReLU()),
                                   ("layer1", nn.Conv2d(4, 5, 3, stride=2)), ("layer2", nn.Tanh()),
                                   ("fc", nn.Linear(5, 2))]))
    return m


def test_intermediate_layer_getter_returns_the_named_childrens_outputs():
    torch.manual_seed(0)
    ref = _backbone(torch)
    ours = _backbone(tc)
    ours.load_state_dict({k: tc.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    getter = IntermediateLayerGetter(ours, {"layer2": "out", "relu": "aux"})
    assert list(getter.keys()) == ["conv1", "relu", "layer1", "layer2"]   # fc is dropped
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 9)).astype(np.float32)
    for run in (getter, tc.compile(getter)):
        out = run(tc.tensor(x))
        assert list(out) == ["aux", "out"]
        aux = ref.relu(ref.conv1(torch.tensor(x)))
        want = {"aux": aux, "out": ref.layer2(ref.layer1(aux))}
        for key, value in want.items():
            np.testing.assert_allclose(out[key].detach().numpy(), value.detach().numpy(),
                                       rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"return_layers are not present in model: \['layer4'\]"):
        IntermediateLayerGetter(ours, {"layer4": "0"})


def test_torchvision_names_detection_code_imports():
    import tracecomp.vision as tv
    assert tv._is_tracing() is False
    assert tv.ops.misc.interpolate is tc.nn.functional.interpolate
    assert tv.ops.boxes.box_area is tv_ops.box_area
