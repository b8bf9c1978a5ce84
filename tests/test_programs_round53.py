"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 53), each reproduced here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
outputs and parameters, buffers included, after every step):
- facebookresearch/segment-anything segment_anything/modeling (a small Sam: ImageEncoderViT
  with windowed attention, window padding and unpartition, decomposed relative positions
  through einsum, one global block, LayerNorm2d neck; PromptEncoder with the random Fourier
  PositionEmbeddingRandom, points, labels and a mask prompt; MaskDecoder with the
  TwoWayTransformer, ConvTranspose2d upscaling, hypernetwork MLPs and the IoU head),
  trained with BCE-with-logits on the low-res masks + IoU MSE and Adam; Sam.forward
  (no_grad, preprocess, postprocess_masks' interpolate and crop, mask threshold): agree
  (k_proj biases, whose true gradient is zero, move by Adam on float32 noise in every
  mode). PromptEncoder's `point_embedding[labels == -1] += ...` is a graph break, as
  under torch.compile.
- xinntao/ESRGAN RRDBNet_arch.py (RRDBNet with dense blocks, inplace LeakyReLU, nearest
  2x upsampling), with a VGG-style BatchNorm discriminator of our own and ESRGAN's
  relativistic GAN losses + L1, Adam: agree.
- VainF/DeepLabV3Plus-Pytorch network/ (deeplabv3plus_mobilenet, output_stride 8:
  MobileNetV2 with fixed_padding and dilated depthwise convs, IntermediateLayerGetter,
  ASPP with atrous separable convs from convert_to_separable_conv and the pooling branch,
  bilinear upsampling), cross_entropy with ignore_index=255, SGD: agree in float64 with
  dropout at p=0 (each library draws its own masks). At torch's init (BatchNorm bias 0)
  dead channels put ReLU6 inputs at rounding noise around 0, so float32 gradients differ
  from torch's as torch's own differ from finite differences; with random BatchNorm
  affine parameters the three modes agree.
- junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py (UnetGenerator with
  UnetSkipConnectionBlock, ResnetGenerator with deconvolution (output_padding) and with
  Upsample + ReflectionPad2d, ResnetBlock with reflection/replication padding,
  NLayerDiscriminator/PatchGAN, InstanceNorm2d with track_running_stats and BatchNorm,
  GANLoss's registered label buffers expanded with expand_as, LSGAN and BCE with sigmoid),
  pix2pix's G and D losses + 100 L1, Adam: agree (float64 to 1e-12; in float32 the conv
  biases before InstanceNorm, whose true gradient is zero, move by Adam on noise).
- facebookresearch/dinov2 dinov2/layers and models/vision_transformer.py (a small
  DinoVisionTransformer, XFORMERS_DISABLED: register tokens, LayerScale, SwiGLUFFNFused
  and Mlp FFNs, Attention, mask_token through torch.where on boolean masks,
  interpolate_pos_encoding to a 40x48 input with the offset scale_factor, bicubic, with and
  without interpolate_antialias; DINOHead with the old weight_norm), cross_entropy on the
  class token + patch and register token terms, Adam: agree after interpolate learnt
  antialias (below); before, interpolate_antialias=True raised NotImplementedError.
- yunjey/stargan model.py with solver.py's step (Generator with the label map through
  view + repeat + cat, InstanceNorm2d affine with track_running_stats, ConvTranspose2d;
  PatchGAN Discriminator with the classification conv; WGAN-GP's gradient_penalty through
  autograd.grad(create_graph=True) on `(alpha * x_real.data + (1 - alpha) *
  x_fake.data).requires_grad_(True)`, the size_average=False classification loss, the
  cycle L1), D and G losses summed, Adam: agree (float64 to 1e-12 in all three modes; in
  float32 Adam turns noise-sized gradients into lr-sized steps in both libraries).
- milesial/Pytorch-UNet unet/ and utils/dice_score.py (UNet narrowed 16x, bilinear and
  ConvTranspose2d Up with F.pad to odd 20x22 inputs), train.py's step (CrossEntropyLoss +
  multiclass dice through softmax and one_hot().permute().float(), and BCEWithLogits +
  binary dice; autocast(enabled=False), GradScaler(enabled=False) scale/unscale_/step/
  update, clip_grad_norm_, RMSprop with momentum 0.999 and foreach=True): agree (float64;
  in float32 RMSprop's first steps, about 10 lr times the gradient's sign, make
  noise-sized gradients drift in both libraries).
The gap: interpolate(..., antialias=True) (torchvision's default resize for tensors; SAM's
utils/transforms.py ResizeLongestSide.apply_image_torch and DINOv2's interpolate_antialias
call it) raised NotImplementedError; it now builds torch's antialias filters as matrices,
for bilinear and bicubic, size or scale_factor, align_corners, eager and compiled, with
gradients.
Probed and agreeing: adaptive pools over non-divisible sizes (PSPNet's bins), linear 1-D
interpolation (SAM's get_rel_pos resize), bicubic, area, nearest-exact, pixel_(un)shuffle,
negative F.pad (Pytorch-UNet's Up), reflection/replication/circular pads, grid_sample and
affine_grid, conv_transpose2d with output_padding, dilation and groups, padding='same'.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, to_tc

_RNG = np.random.default_rng(53)
_X = _RNG.standard_normal((2, 3, 10, 9))

_AA_CASES = [dict(size=(5, 4)), dict(size=(23, 7)), dict(scale_factor=0.37),
             dict(scale_factor=(0.5, 2.3)), dict(size=(4, 3), align_corners=True),
             dict(scale_factor=0.4, recompute_scale_factor=True)]


def _aa(lib, x, mode, kw):
    return lib.nn.functional.interpolate(x, mode=mode, antialias=True, **kw)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("kw", _AA_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in
                                                               kw.items()))
def test_interpolate_antialias_matches_torch(kw, mode, compiled):
    x_t = torch.tensor(_X, requires_grad=True)
    y_t = _aa(torch, x_t, mode, kw)
    g = torch.tensor(_RNG.standard_normal(tuple(y_t.shape)))
    (y_t * g).sum().backward()
    x_c = to_tc(x_t.detach()).requires_grad_(True)
    def fn(x):
        return _aa(tc, x, mode, kw)
    y_c = (tc.compile(fn) if compiled else fn)(x_c)
    (y_c * to_tc(g)).sum().backward()
    assert_close(y_c, y_t, rtol=1e-12, atol=1e-12)
    assert_close(x_c.grad, x_t.grad, rtol=1e-12, atol=1e-12, what="grad")


def test_interpolate_antialias_float32_keeps_dtype():
    x = _X.astype(np.float32)
    want = _aa(torch, torch.from_numpy(x), "bilinear", dict(size=(6, 5)))
    assert_close(_aa(tc, tc.from_numpy(x), "bilinear", dict(size=(6, 5))), want)


@pytest.mark.parametrize("mode,shape", [("nearest", (2, 3, 10, 9)), ("bilinear", (2, 3, 10)),
                                        ("trilinear", (1, 1, 4, 4, 4))])
def test_interpolate_antialias_refuses_other_modes_as_torch(mode, shape):
    x = np.ones(shape)
    kw = dict(scale_factor=0.5, mode=mode, antialias=True)
    with pytest.raises(Exception, match="Anti-alias option is restricted"):
        torch.nn.functional.interpolate(torch.tensor(x), **kw)
    with pytest.raises(NotImplementedError, match="Anti-alias option is restricted"):
        tc.nn.functional.interpolate(tc.tensor(x), **kw)


def test_dinov2_pos_embed_interpolation_antialias_in_a_compiled_step():
    """DINOv2's interpolate_pos_encoding: a learnt (1, dim, M, M) grid resized bicubic with
    antialias by the offset scale factors (w0 + 0.1) / M, trained through a compiled step."""
    m, w0, h0 = 4, 5, 7
    grid = _RNG.standard_normal((1, 6, m, m)).astype(np.float32)
    target = _RNG.standard_normal((1, 6, w0, h0)).astype(np.float32)
    kw = dict(scale_factor=((w0 + 0.1) / m, (h0 + 0.1) / m))

    def losses(lib, step_of):
        p = lib.nn.Parameter(lib.tensor(grid))
        opt = lib.optim.Adam([p], lr=0.1)
        tgt = lib.tensor(target)

        def step():
            opt.zero_grad()
            out = _aa(lib, p, "bicubic", kw)
            loss = ((out - tgt) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        run = step_of(step)
        return [float(run().detach()) for _ in range(3)], p

    want, p_t = losses(torch, lambda f: f)
    got, p_c = losses(tc, tc.compile)
    assert_close(np.array(got), np.array(want), rtol=1e-5)
    assert_close(p_c, p_t, rtol=1e-5, atol=1e-5)
