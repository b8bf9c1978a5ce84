"""tracecomp.vision.transforms classes: each random transform draws from tracecomp's
generator in torchvision's order (checked by replaying the same draws by hand after the
same tracecomp.manual_seed), pipelines are reproducible, and wrong arguments fail with a
message that names the transform. Pixel results are checked in test_vision_transforms.py."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

import tracecomp as tc
import tracecomp.vision.transforms as T
import tracecomp.vision.transforms.functional as F

from helpers import assert_close

RNG = np.random.default_rng(1)
A = RNG.random((3, 20, 24)).astype(np.float32)
HWC = (RNG.random((20, 24, 3)) * 255).astype(np.uint8)
PIL_RGB = Image.fromarray(HWC)


def tct(a):
    return tc.from_numpy(np.ascontiguousarray(a))


def test_compose_totensor_normalize_pipeline():
    pipe = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))])
    got = pipe(PIL_RGB)
    x = torch.from_numpy(HWC).permute(2, 0, 1).float() / 255
    want = (x - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / torch.tensor(
        [0.2, 0.25, 0.3]).view(3, 1, 1)
    assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert "ToTensor()" in repr(pipe) and "Normalize(mean=(0.5, 0.4, 0.3)" in repr(pipe)


def test_conversion_classes():
    t = T.PILToTensor()(PIL_RGB)
    assert t.dtype == tc.uint8 and np.array_equal(t.numpy(), HWC.transpose(2, 0, 1))
    f = T.ConvertImageDtype(tc.float32)(t)
    assert_close(f, HWC.transpose(2, 0, 1).astype(np.float32) / 255)
    back = T.ToPILImage()(t)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), HWC)
    assert T.Lambda(lambda x: x * 2)(3) == 6
    with pytest.raises(TypeError, match="Lambda: argument lambd should be callable"):
        T.Lambda(3)


def test_transforms_are_modules_usable_in_sequential():
    seq = tc.nn.Sequential(T.CenterCrop(10), T.Normalize([0.5] * 3, [0.5] * 3))
    got = seq(tct(A))
    assert_close(got, (A[:, 5:15, 7:17] - 0.5) / 0.5)


def test_deterministic_geometry_classes():
    x = tct(A)
    assert tuple(T.Resize(10)(x).shape) == (3, 10, 12)
    assert tuple(T.Resize((7, 9), interpolation=T.InterpolationMode.NEAREST)(x).shape) == (
        3, 7, 9)
    assert T.Resize((7, 9)).interpolation is T.InterpolationMode.BILINEAR
    assert T.Resize(5, interpolation=2).interpolation is T.InterpolationMode.BILINEAR
    assert np.array_equal(T.CenterCrop(4)(x).numpy(), F.center_crop(x, 4).numpy())
    assert np.array_equal(T.Pad((1, 2), fill=0.5)(x).numpy(),
                          np.pad(A, ((0, 0), (2, 2), (1, 1)), constant_values=0.5))
    assert T.Pad(3)(PIL_RGB).size == (30, 26)
    assert len(T.FiveCrop(5)(x)) == 5 and len(T.TenCrop((5, 6))(PIL_RGB)) == 10
    assert T.Grayscale(3)(PIL_RGB).mode == "RGB"
    assert tuple(T.Grayscale()(x).shape) == (1, 20, 24)


def test_random_crop_draws_like_torchvision():
    tc.manual_seed(7)
    got = T.RandomCrop((8, 10))(tct(A))
    tc.manual_seed(7)  # replay: i then j, each randint(0, room + 1)
    i = int(tc.randint(0, 20 - 8 + 1, size=(1,)).item())
    j = int(tc.randint(0, 24 - 10 + 1, size=(1,)).item())
    assert np.array_equal(got.numpy(), A[:, i:i + 8, j:j + 10])


def test_random_crop_padding_and_pad_if_needed():
    tc.manual_seed(3)
    got = T.RandomCrop(24, padding=2, padding_mode="reflect")(tct(A))
    tc.manual_seed(3)
    padded = np.pad(A, ((0, 0), (2, 2), (2, 2)), mode="reflect")  # 24 x 28
    i = int(tc.randint(0, 24 - 24 + 1, size=(1,)).item())
    j = int(tc.randint(0, 28 - 24 + 1, size=(1,)).item())
    assert np.array_equal(got.numpy(), padded[:, i:i + 24, j:j + 24])
    # pad_if_needed pads both sides by the shortfall, so the crop always fits
    out = T.RandomCrop((30, 26), pad_if_needed=True, fill=1)(tct(A))
    assert tuple(out.shape) == (3, 30, 26)
    assert T.RandomCrop((30, 26), pad_if_needed=True)(PIL_RGB).size == (26, 30)
    with pytest.raises(ValueError, match="larger than the input image size"):
        T.RandomCrop(30)(tct(A))


def test_random_flips_follow_rand_draw():
    for seed in range(6):
        tc.manual_seed(seed)
        flip = float(tc.rand(1).item()) < 0.5
        tc.manual_seed(seed)
        got = T.RandomHorizontalFlip()(tct(A)).numpy()
        assert np.array_equal(got, A[..., ::-1] if flip else A)
        tc.manual_seed(seed)
        got = T.RandomVerticalFlip()(tct(A)).numpy()
        assert np.array_equal(got, A[..., ::-1, :] if flip else A)
    assert np.array_equal(np.asarray(T.RandomHorizontalFlip(p=1.0)(PIL_RGB)), HWC[:, ::-1])
    assert T.RandomHorizontalFlip(p=0.0)(PIL_RGB) is PIL_RGB


def test_random_resized_crop_params_respect_scale_and_ratio():
    img = tct(A)
    scale, ratio = (0.3, 0.9), (0.5, 2.0)
    for seed in range(20):
        tc.manual_seed(seed)
        i, j, h, w = T.RandomResizedCrop.get_params(img, scale, ratio)
        assert 0 <= i <= 20 - h and 0 <= j <= 24 - w
        # sizes are rounded from the drawn area and ratio: allow a pixel of rounding
        assert scale[0] * 480 * 0.8 <= h * w <= scale[1] * 480 * 1.2
        assert ratio[0] * 0.8 <= w / h <= ratio[1] * 1.25
    # impossible ranges fall back to the centre crop, as torchvision
    i, j, h, w = T.RandomResizedCrop.get_params(img, (5.0, 6.0), (3.0, 4.0))
    assert (h, w) == (8, 24) and (i, j) == (6, 0)


def test_random_resized_crop_output_equals_resized_crop_of_params():
    t = T.RandomResizedCrop((9, 11))
    tc.manual_seed(11)
    got = t(tct(A))
    tc.manual_seed(11)
    i, j, h, w = T.RandomResizedCrop.get_params(tct(A), t.scale, t.ratio)
    assert np.array_equal(got.numpy(), F.resized_crop(tct(A), i, j, h, w, [9, 11]).numpy())
    assert t(PIL_RGB).size == (11, 9)


def test_color_jitter_order_and_factors():
    cj = T.ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0.3, hue=0.1)
    assert cj.brightness == (0.6, 1.4) and cj.hue == (-0.1, 0.1)
    assert T.ColorJitter(brightness=0).brightness is None  # identity: switched off
    tc.manual_seed(5)
    got = cj(tct(A))
    tc.manual_seed(5)
    order, b, c, s, h = T.ColorJitter.get_params(cj.brightness, cj.contrast, cj.saturation,
                                                 cj.hue)
    assert sorted(order.tolist()) == [0, 1, 2, 3] and 0.6 <= b <= 1.4 and -0.1 <= h <= 0.1
    want = tct(A)
    fns = [(F.adjust_brightness, b), (F.adjust_contrast, c), (F.adjust_saturation, s),
           (F.adjust_hue, h)]
    for k in order.tolist():
        want = fns[k][0](want, fns[k][1])
    assert np.array_equal(got.numpy(), want.numpy())
    assert cj(PIL_RGB).size == PIL_RGB.size


def test_random_grayscale_and_random_apply():
    x = tct(A)
    for seed in range(5):
        tc.manual_seed(seed)
        hit = float(tc.rand(1).item()) < 0.5
        tc.manual_seed(seed)
        got = T.RandomGrayscale(p=0.5)(x).numpy()
        assert got.shape == A.shape  # keeps 3 channels
        assert np.array_equal(got[0], got[2]) == hit
        tc.manual_seed(seed)
        applied = not 0.5 < float(tc.rand(1).item())
        tc.manual_seed(seed)
        got = T.RandomApply([T.Pad(1), T.CenterCrop(4)], p=0.5)(x)
        assert tuple(got.shape) == ((3, 4, 4) if applied else (3, 20, 24))


def test_random_choice_and_order_are_seeded():
    choose = T.RandomChoice([T.Resize(5), T.Resize(10)], p=[0.0, 1.0])
    assert tuple(choose(tct(A)).shape) == (3, 10, 12)
    uniform = T.RandomChoice([T.Resize(5), T.Resize(10)])
    sizes = set()
    for seed in range(10):
        tc.manual_seed(seed)
        first = tuple(uniform(tct(A)).shape)
        tc.manual_seed(seed)
        assert tuple(uniform(tct(A)).shape) == first
        sizes.add(first)
    assert len(sizes) == 2
    order = T.RandomOrder([T.Lambda(lambda s: s + "a"), T.Lambda(lambda s: s + "b")])
    outs = set()
    for seed in range(10):
        tc.manual_seed(seed)
        perm = tc.randperm(2).tolist()
        tc.manual_seed(seed)
        out = order("")
        assert out == "".join("ab"[k] for k in perm)
        outs.add(out)
    assert outs == {"ab", "ba"}


def test_random_rotation():
    rot = T.RandomRotation((90, 90))  # a fixed angle: a quarter turn of the square part
    sq = tct(A[:, :20, :20])
    assert np.array_equal(rot(sq).numpy(), np.rot90(A[:, :20, :20], 1, (-2, -1)))
    r = T.RandomRotation(20, fill=1.0)
    assert r.degrees == [-20.0, 20.0]
    tc.manual_seed(4)
    got = r(tct(A))
    tc.manual_seed(4)
    angle = float(tc.empty(1).uniform_(-20.0, 20.0).item())
    assert math.fabs(angle) <= 20
    assert np.array_equal(got.numpy(), F.rotate(tct(A), angle, fill=[1.0] * 3).numpy())
    assert T.RandomRotation(10, expand=True)(PIL_RGB).size[0] > 24


def test_full_pipelines_are_reproducible():
    pipe = T.Compose([T.RandomResizedCrop(16), T.RandomHorizontalFlip(),
                      T.ColorJitter(0.4, 0.4, 0.4, 0.1), T.RandomGrayscale(0.2),
                      T.RandomRotation(10), T.ToTensor(), T.Normalize([0.5] * 3, [0.2] * 3)])
    tc.manual_seed(0)
    a = pipe(PIL_RGB)
    tc.manual_seed(0)
    b = pipe(PIL_RGB)
    assert tuple(a.shape) == (3, 16, 16) and a.dtype == tc.float32
    assert np.array_equal(a.numpy(), b.numpy())
    batch = T.Compose([T.RandomCrop(16, padding=2), T.RandomHorizontalFlip(),
                       T.ColorJitter(0.2, 0.2, 0.2, 0.05)])(tc.rand(4, 3, 20, 24))
    assert tuple(batch.shape) == (4, 3, 16, 16)


def test_constructor_errors_name_the_transform():
    cases = [
        (lambda: T.Resize("big"), TypeError, "Resize: size='big'"),
        (lambda: T.Resize((1, 2, 3)), ValueError, "Resize: size="),
        (lambda: T.Resize(4, interpolation="bilinear"), TypeError, "Resize: interpolation"),
        (lambda: T.CenterCrop((1, 2, 3)), ValueError, "CenterCrop: size"),
        (lambda: T.Pad(1, padding_mode="wrap"), ValueError, "Pad: padding_mode='wrap'"),
        (lambda: T.Pad((1, 2, 3)), ValueError, "Pad: padding must be"),
        (lambda: T.Pad(1, fill="red"), TypeError, "Pad: fill='red'"),
        (lambda: T.RandomCrop(4, padding_mode="wrap"), ValueError, "RandomCrop: padding_mode"),
        (lambda: T.RandomResizedCrop(4, scale=0.5), TypeError, "RandomResizedCrop: scale"),
        (lambda: T.ColorJitter(brightness=-1), ValueError, "ColorJitter: if brightness"),
        (lambda: T.ColorJitter(hue=0.7), ValueError, "ColorJitter: hue values"),
        (lambda: T.ColorJitter(contrast=(1, 2, 3)), TypeError, "ColorJitter: contrast"),
        (lambda: T.RandomRotation(-5), ValueError, "RandomRotation: if degrees"),
        (lambda: T.Grayscale(2), ValueError, "Grayscale: num_output_channels=2"),
        (lambda: T.RandomHorizontalFlip(p="x"), TypeError, "RandomHorizontalFlip: p='x'"),
        (lambda: T.RandomChoice([T.Resize(4)], p=[1, 2]), TypeError, "RandomChoice: p="),
        (lambda: T.Compose(T.Resize(4)), TypeError, "Compose: transforms="),
        (lambda: T.ElasticTransform, AttributeError, "ElasticTransform is not provided"),
    ]
    for make, exc, msg in cases:
        with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
            make()


def test_call_errors_name_the_transform_and_the_input():
    with pytest.raises(TypeError, match=r"to_tensor \(ToTensor\): got tracecomp.Tensor"):
        T.ToTensor()(tct(A))
    with pytest.raises(TypeError, match=r"resize \(Resize\): got list"):
        T.Resize(4)([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match=r"normalize \(Normalize\)"):
        T.Normalize([0.5], [0.5])(PIL_RGB)
    with pytest.raises(TypeError, match=r"pil_to_tensor \(PILToTensor\)"):
        T.PILToTensor()(HWC)
    with pytest.raises(ValueError, match="LANCZOS is only supported for PIL"):
        T.Resize(4, interpolation=T.InterpolationMode.LANCZOS)(tct(A))
    with pytest.raises(TypeError, match="4 channels"):
        T.ColorJitter(brightness=0.5)(tc.rand(4, 5, 5))
