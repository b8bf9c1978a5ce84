"""tracecomp.vision.transforms.functional against independent references: torch ops doing
the same arithmetic (interpolate, pad, grid_sample), numpy in float64, colorsys, and
Pillow's own results for PIL images. torchvision itself is not importable here."""
import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as tnf
from PIL import Image, ImageEnhance

import tracecomp as tc
import tracecomp.vision.transforms.functional as F
from tracecomp.vision.transforms import InterpolationMode as IM

from helpers import assert_close

RNG = np.random.default_rng(0)
A = RNG.random((2, 3, 13, 17)).astype(np.float32)  # a float batch
U = (RNG.random((3, 13, 17)) * 255).astype(np.uint8)  # a uint8 image
HWC = np.ascontiguousarray(U.transpose(1, 2, 0))
PIL_RGB = Image.fromarray(HWC)


def tct(a):
    return tc.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------- conversions
def test_to_tensor_uint8_numpy_and_pil():
    want = HWC.transpose(2, 0, 1).astype(np.float64) / 255
    for src in (HWC, PIL_RGB):
        got = F.to_tensor(src)
        assert got.dtype == tc.float32 and tuple(got.shape) == (3, 13, 17)
        assert_close(got, want.astype(np.float32))
    gray = F.to_tensor(HWC[:, :, 0])  # 2-D numpy gets a channel axis
    assert tuple(gray.shape) == (1, 13, 17)


def test_to_tensor_keeps_non_uint8_and_pil_modes():
    f64 = RNG.random((4, 5, 2))
    got = F.to_tensor(f64)
    assert got.dtype == tc.float64  # not scaled, not cast (torchvision's rule)
    assert np.array_equal(got.numpy(), f64.transpose(2, 0, 1))
    as_i = PIL_RGB.convert("I")
    got = F.to_tensor(as_i)
    assert got.dtype == tc.int32 and np.array_equal(got.numpy()[0], np.asarray(as_i))
    as_f = PIL_RGB.convert("F")
    assert F.to_tensor(as_f).dtype == tc.float32
    bilevel = PIL_RGB.convert("1")  # 0/1 pixels become 0/255, then /255
    got = F.to_tensor(bilevel).numpy()[0]
    assert set(np.unique(got)) <= {0.0, 1.0}
    assert np.array_equal(got, np.asarray(bilevel).astype(np.float32))
    rgba = F.to_tensor(PIL_RGB.convert("RGBA"))
    assert tuple(rgba.shape) == (4, 13, 17)


def test_pil_to_tensor_and_back():
    t = F.pil_to_tensor(PIL_RGB)
    assert t.dtype == tc.uint8 and np.array_equal(t.numpy(), U)
    back = F.to_pil_image(t)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), HWC)
    assert F.to_pil_image(t[:1]).mode == "L"
    assert F.to_pil_image(tct(np.concatenate([U, U[:1]]))).mode == "RGBA"
    assert F.to_pil_image(t[:2]).mode == "LA"
    # float data is multiplied by 255 and truncated (no rounding), as torchvision
    f = tct(A[0])
    got = np.asarray(F.to_pil_image(f))
    assert np.array_equal(got, (A[0].transpose(1, 2, 0) * 255).astype(np.uint8))
    assert F.to_pil_image(f[:1], mode="F").mode == "F"
    assert F.to_pil_image(HWC, mode="YCbCr").mode == "YCbCr"  # reinterprets the bytes
    assert np.array_equal(np.asarray(F.to_pil_image(HWC, mode="YCbCr")), HWC)
    assert F.to_pil_image(U[0].astype(np.int32)).mode == "I"


def test_to_pil_image_errors():
    with pytest.raises(ValueError, match="mode='RGB' does not fit 1-channel"):
        F.to_pil_image(tct(U[:1]), mode="RGB")
    with pytest.raises(ValueError, match="at most 4"):
        F.to_pil_image(tct(np.zeros((5, 4, 4), np.uint8)))
    with pytest.raises(TypeError, match="to_pil_image.*got list"):
        F.to_pil_image([[1, 2]])


@pytest.mark.parametrize("src,dst", [(tc.uint8, tc.float32), (tc.float32, tc.uint8),
                                     (tc.uint8, tc.int16), (tc.int16, tc.uint8),
                                     (tc.float32, tc.float64), (tc.int32, tc.float64)])
def test_convert_image_dtype(src, dst):
    tsrc, tdst = (getattr(torch, str(d).split(".")[-1]) for d in (src, dst))
    base = torch.from_numpy(U.astype(np.int64))
    x = base.to(tsrc) if not tsrc.is_floating_point else base.to(tsrc) / 255
    # torch reference written out from the definition (max + 1 - eps scaling etc.)
    maxv = {torch.uint8: 255, torch.int16: 32767, torch.int32: 2147483647}
    if tsrc.is_floating_point and tdst.is_floating_point:
        want = x.to(tdst)
    elif tsrc.is_floating_point:
        want = (x * (maxv[tdst] + 1.0 - 1e-3)).to(tdst)
    elif tdst.is_floating_point:
        want = x.to(tdst) / maxv[tsrc]
    elif maxv[tsrc] > maxv[tdst]:
        want = torch.div(x, (maxv[tsrc] + 1) // (maxv[tdst] + 1), rounding_mode="floor").to(tdst)
    else:
        want = x.to(tdst) * ((maxv[tdst] + 1) // (maxv[tsrc] + 1))
    got = F.convert_image_dtype(tct(x.numpy()), dst)
    assert_close(got, want)


def test_convert_image_dtype_unsafe_cast_refused():
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        F.convert_image_dtype(tct(A), tc.int32)


def test_normalize_matches_torch_and_inplace_flag():
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.6, 0.7]
    x = tct(A.copy())
    got = F.normalize(x, mean, std)
    want = (torch.from_numpy(A) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(
        -1, 1, 1)
    assert_close(got, want)
    assert np.array_equal(x.numpy(), A)  # out of place by default
    out = F.normalize(x, mean, std, inplace=True)
    assert out is x
    assert_close(x, want)
    with pytest.raises(ValueError, match="divide by zero"):
        F.normalize(tct(A), mean, [1.0, 0.0, 1.0])


# ---------------------------------------------------------------- resize
@pytest.mark.parametrize("size", [(5, 7), (20, 31), (13, 9)])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_tensor_matches_torch_interpolate(size, mode, antialias):
    aa = antialias and mode in ("bilinear", "bicubic")
    corners = False if mode in ("bilinear", "bicubic") else None
    want = tnf.interpolate(torch.from_numpy(A), size=size, mode=mode, align_corners=corners,
                           antialias=aa)
    got = F.resize(tct(A), size, IM(mode), antialias=antialias)
    assert_close(got, want, rtol=1e-5, atol=2e-6)


def test_resize_uint8_tensor_rounds_like_torchvision():
    for mode in ("bilinear", "bicubic"):
        ref = tnf.interpolate(torch.from_numpy(U[None]).float(), size=(6, 8), mode=mode,
                              align_corners=False, antialias=True)
        want = ref.clamp(0, 255).round().to(torch.uint8)[0].numpy().astype(int)
        got = F.resize(tct(U), (6, 8), IM(mode)).numpy()
        assert got.dtype == np.uint8
        # float32 rounding can move an exact .5 tie by one grey level
        diff = np.abs(got.astype(int) - want)
        assert diff.max() <= 1 and (diff == 0).mean() > 0.95


def test_resize_int_size_keeps_aspect_ratio_and_max_size():
    img = tct(A)  # H=13, W=17: the short edge (H) becomes size
    assert tuple(F.resize(img, 6).shape) == (2, 3, 6, int(6 * 17 / 13))
    assert tuple(F.resize(tct(A.transpose(0, 1, 3, 2)), 6).shape) == (2, 3, int(6 * 17 / 13), 6)
    assert tuple(F.resize(img, [6]).shape) == (2, 3, 6, 7)
    assert tuple(F.resize(img, 10, max_size=12).shape) == (2, 3, int(12 * 10 / 13), 12)
    assert F.resize(img, (13, 17)) is img  # same size: returned as is
    assert tuple(F.resize(PIL_RGB, 6).size) == (7, 6)
    with pytest.raises(ValueError, match="max_size"):
        F.resize(img, (4, 4), max_size=10)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic", "box", "lanczos"])
def test_resize_pil_is_pillows_resize(mode):
    got = F.resize(PIL_RGB, (6, 9), IM(mode))
    pil_filter = {"nearest": 0, "bilinear": 2, "bicubic": 3, "box": 4, "lanczos": 1}[mode]
    want = PIL_RGB.resize((9, 6), pil_filter)
    assert np.array_equal(np.asarray(got), np.asarray(want))
    # Pillow's integer constants are accepted as torchvision accepts them
    assert np.array_equal(np.asarray(F.resize(PIL_RGB, (6, 9), pil_filter)), np.asarray(want))


def test_resize_batched_5d_equals_per_image():
    x = RNG.random((2, 2, 3, 9, 11)).astype(np.float32)
    got = F.resize(tct(x), (5, 6)).numpy()
    for i in range(2):
        assert_close(got[i], F.resize(tct(x[i]), (5, 6)))


def test_resize_gradient_flows():
    x = tct(A[0]).requires_grad_(True)
    F.resize(x, (5, 6)).sum().backward()
    t = torch.from_numpy(A[0][None]).requires_grad_(True)
    tnf.interpolate(t, size=(5, 6), mode="bilinear", antialias=True).sum().backward()
    assert_close(x.grad, t.grad[0], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- pad / crop / flip
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 4), (0, -1, 2, 1)])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_tensor_matches_torch_pad(padding, mode):
    p = [padding] * 4 if isinstance(padding, int) else (
        [padding[0], padding[0], padding[1], padding[1]] if len(padding) == 2 else
        [padding[0], padding[2], padding[1], padding[3]])
    tmode = {"edge": "replicate"}.get(mode, mode)
    kw = {"value": 3.0} if mode == "constant" else {}
    want = tnf.pad(torch.from_numpy(A), p, mode=tmode, **kw)
    assert_close(F.pad(tct(A), padding, 3, mode), want)
    # integer images are padded through float32 and cast back, keeping their dtype
    got = F.pad(tct(U), padding, 3, mode)
    wantu = tnf.pad(torch.from_numpy(U[None]).float(), p, mode=tmode, **kw)[0].to(torch.uint8)
    assert_close(got, wantu)


def test_pad_symmetric_matches_numpy():
    got = F.pad(tct(A), (1, 2, 3, 4), padding_mode="symmetric").numpy()
    want = np.pad(A, ((0, 0), (0, 0), (2, 4), (1, 3)), mode="symmetric")
    assert np.array_equal(got, want)
    # (l, t, r, b) = (-1, 2, 0, -3): negative sides crop (left 1 column, bottom 3 rows)
    got = F.pad(tct(A), (-1, 2, 0, -3), padding_mode="symmetric").numpy()
    want = np.pad(A[..., :-3, 1:], ((0, 0), (0, 0), (2, 0), (0, 0)), mode="symmetric")
    assert np.array_equal(got, want)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_pil_matches_numpy(mode):
    got = np.asarray(F.pad(PIL_RGB, (1, 2, 3, 4), fill=(9, 8, 7), padding_mode=mode))
    widths = ((2, 4), (1, 3), (0, 0))
    if mode == "constant":
        want = np.stack([np.pad(HWC[..., c], widths[:2], constant_values=v)
                         for c, v in enumerate((9, 8, 7))], -1)
    else:
        want = np.pad(HWC, widths, mode=mode)
    assert np.array_equal(got, want)


def test_crop_and_center_crop():
    x = tct(A)
    assert np.array_equal(F.crop(x, 1, 2, 5, 6).numpy(), A[..., 1:6, 2:8])
    # windows reaching outside are zero-filled
    want = np.zeros((2, 3, 8, 9), np.float32)
    want[..., 2:, 3:] = A[..., :6, :6]
    assert np.array_equal(F.crop(x, -2, -3, 8, 9).numpy(), want)
    assert np.array_equal(F.crop(PIL_RGB, -2, -3, 8, 9), want_pil(-2, -3, 8, 9))
    # centre: top = round((13 - 4) / 2) = 4 (half to even), left = round((17 - 7) / 2) = 5
    assert np.array_equal(F.center_crop(x, (4, 7)).numpy(), A[..., 4:8, 5:12])
    assert np.array_equal(F.center_crop(x, 5).numpy(), A[..., 4:9, 6:11])
    big = F.center_crop(x, (16, 20)).numpy()  # larger than the image: zero border
    assert big.shape == (2, 3, 16, 20) and np.array_equal(big[..., 1:14, 1:18], A)
    assert big[..., 0, :].sum() == 0 and big[..., :, -2:].sum() == 0
    assert np.array_equal(np.asarray(F.center_crop(PIL_RGB, (4, 7))),
                          HWC[4:8, 5:12])


def want_pil(top, left, h, w):
    out = np.zeros((h, w, 3), np.uint8)
    src = HWC[max(top, 0):top + h, max(left, 0):left + w]
    out[max(-top, 0):max(-top, 0) + src.shape[0], max(-left, 0):max(-left, 0) + src.shape[1]] \
        = src
    return out


def test_flips_and_five_ten_crop():
    x = tct(A)
    assert np.array_equal(F.hflip(x).numpy(), A[..., ::-1])
    assert np.array_equal(F.vflip(x).numpy(), A[..., ::-1, :])
    assert np.array_equal(np.asarray(F.hflip(PIL_RGB)), HWC[:, ::-1])
    assert np.array_equal(np.asarray(F.vflip(PIL_RGB)), HWC[::-1])
    tl, tr, bl, br, c = (v.numpy() for v in F.five_crop(x, (4, 5)))
    assert np.array_equal(tl, A[..., :4, :5]) and np.array_equal(tr, A[..., :4, -5:])
    assert np.array_equal(bl, A[..., -4:, :5]) and np.array_equal(br, A[..., -4:, -5:])
    assert np.array_equal(c, F.center_crop(x, (4, 5)).numpy())
    ten = F.ten_crop(x, 4)
    assert len(ten) == 10 and np.array_equal(ten[5].numpy(), A[..., ::-1][..., :4, :4])


# ---------------------------------------------------------------- colour
def _gray_ref(a):
    return 0.2989 * a[..., 0, :, :] + 0.587 * a[..., 1, :, :] + 0.114 * a[..., 2, :, :]


def test_rgb_to_grayscale():
    got = F.rgb_to_grayscale(tct(A))
    assert tuple(got.shape) == (2, 1, 13, 17)
    assert_close(got.numpy()[:, 0], _gray_ref(A.astype(np.float64)), rtol=1e-6, atol=1e-6)
    three = F.rgb_to_grayscale(tct(A), 3).numpy()
    assert three.shape == A.shape and np.array_equal(three[:, 0], three[:, 2])
    # uint8: torch computes in float32 and truncates
    t = torch.from_numpy(U).float()
    want = (0.2989 * t[0] + 0.587 * t[1] + 0.114 * t[2]).to(torch.uint8)
    assert_close(F.rgb_to_grayscale(tct(U))[0], want)
    pil_gray = F.rgb_to_grayscale(PIL_RGB)
    assert pil_gray.mode == "L"
    assert np.array_equal(np.asarray(pil_gray), np.asarray(PIL_RGB.convert("L")))
    assert F.rgb_to_grayscale(PIL_RGB, 3).mode == "RGB"


def _blend_ref(img, other, r):
    bound = 255 if img.dtype == torch.uint8 else 1.0
    return (r * img.float() + (1 - r) * other).clamp(0, bound).to(img.dtype)


@pytest.mark.parametrize("factor", [0.0, 0.5, 1.3])
def test_brightness_contrast_saturation_match_torch_formula(factor):
    for arr in (A, U):
        t = torch.from_numpy(arr)
        tf = t.float()
        gray = (0.2989 * tf[..., 0, :, :] + 0.587 * tf[..., 1, :, :]
                + 0.114 * tf[..., 2, :, :]).to(t.dtype).unsqueeze(-3)
        mean = gray.float().mean(dim=(-3, -2, -1), keepdim=True)
        want = {"adjust_brightness": _blend_ref(t, torch.zeros_like(tf), factor),
                "adjust_contrast": _blend_ref(t, mean, factor),
                "adjust_saturation": _blend_ref(t, gray.float(), factor)}
        for name, w in want.items():
            assert_close(getattr(F, name)(tct(arr), factor), w, rtol=1e-5, atol=1e-6,
                         what=name)


@pytest.mark.parametrize("name,enhancer", [("adjust_brightness", ImageEnhance.Brightness),
                                           ("adjust_contrast", ImageEnhance.Contrast),
                                           ("adjust_saturation", ImageEnhance.Color)])
def test_color_adjust_pil_is_image_enhance(name, enhancer):
    got = getattr(F, name)(PIL_RGB, 1.7)
    assert np.array_equal(np.asarray(got), np.asarray(enhancer(PIL_RGB).enhance(1.7)))


@pytest.mark.parametrize("hue", [-0.5, -0.2, 0.13, 0.5])
def test_adjust_hue_matches_colorsys(hue):
    a = A[0].astype(np.float64)
    want = np.empty_like(a)
    for i in range(a.shape[1]):
        for j in range(a.shape[2]):
            h, s, v = colorsys.rgb_to_hsv(*a[:, i, j])
            want[:, i, j] = colorsys.hsv_to_rgb((h + hue) % 1.0, s, v)
    assert_close(F.adjust_hue(tct(A[0]), hue), want.astype(np.float32), rtol=1e-5, atol=1e-5)
    gray = tct(A[:, :1])
    assert F.adjust_hue(gray, hue) is gray  # no hue to change


def test_adjust_hue_pil_shifts_hsv_channel():
    got = np.asarray(F.adjust_hue(PIL_RGB, 0.25).convert("HSV"))
    src = np.asarray(PIL_RGB.convert("HSV"))
    # the H byte moves by int(0.25 * 255) modulo 256 (Pillow's round trip may move it by 1)
    dh = (got[..., 0].astype(int) - src[..., 0] - 63) % 256
    assert np.isin(dh, [0, 1, 255]).mean() > 0.9


def test_adjust_gamma():
    got = F.adjust_gamma(tct(A), 0.5, gain=1.2)
    assert_close(got, np.clip(1.2 * A.astype(np.float64) ** 0.5, 0, 1).astype(np.float32))


# ---------------------------------------------------------------- rotate
def test_rotate_quarter_turns_are_exact():
    sq = tct(A[..., :13, :13])
    assert np.array_equal(F.rotate(sq, 90).numpy(), np.rot90(A[..., :13, :13], 1, (-2, -1)))
    got = F.rotate(tct(A), -90, expand=True).numpy()
    assert np.array_equal(got, np.rot90(A, -1, (-2, -1)))
    assert np.array_equal(F.rotate(tct(U), 180).numpy(), U[:, ::-1, ::-1])


def _rotation_grid(ang, h, w):
    """torch float32 sampling grid for a rotation by ang degrees about the image centre:
    pixel centres relative to the centre, through the inverse rotation, scaled to [-1, 1]."""
    r = np.radians(ang)
    inv = torch.tensor([[np.cos(r), -np.sin(r), 0.0], [np.sin(r), np.cos(r), 0.0]],
                       dtype=torch.float32)
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h)
    base = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w)], -1)
    grid = base.view(1, h * w, 3).bmm(inv.t()[None] / torch.tensor([0.5 * w, 0.5 * h]))
    return grid.view(1, h, w, 2)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_rotate_matches_torch_grid_sample(mode):
    ang = 30.0
    h, w = A.shape[-2:]
    grid = _rotation_grid(ang, h, w).expand(2, h, w, 2)
    want = tnf.grid_sample(torch.from_numpy(A), grid, mode=mode, align_corners=False)
    got = F.rotate(tct(A), ang, IM(mode))
    if mode == "bilinear":
        assert_close(got, want, rtol=1e-4, atol=1e-5)
    else:  # a grid point on a pixel boundary may round to either neighbour
        assert (np.abs(got.numpy() - want.numpy()) < 1e-6).mean() > 0.99
    # fill: what lies outside the source is the fill colour
    filled = F.rotate(tct(A), ang, IM.BILINEAR, fill=[5.0, 6.0, 7.0]).numpy()
    inside = tnf.grid_sample(torch.ones(2, 1, h, w), grid, mode="bilinear",
                             align_corners=False)[:, 0].numpy()
    sampled = tnf.grid_sample(torch.from_numpy(A), grid, mode="bilinear", align_corners=False)
    want_fill = sampled.numpy()[:, 1] * inside + (1 - inside) * 6.0
    assert (inside < 1).any()
    assert_close(filled[:, 1], want_fill, rtol=1e-4, atol=1e-5)


def test_rotate_pil_is_pillows_rotate():
    got = F.rotate(PIL_RGB, 33, IM.BILINEAR, expand=True, fill=(1, 2, 3))
    want = PIL_RGB.rotate(33, Image.BILINEAR, True, fillcolor=(1, 2, 3))
    assert np.array_equal(np.asarray(got), np.asarray(want))


# ---------------------------------------------------------------- errors
def test_wrong_input_kinds_are_named():
    with pytest.raises(TypeError, match=r"resize \(Resize\): got numpy.ndarray; it accepts"):
        F.resize(HWC, 4)
    with pytest.raises(TypeError, match="torch tensor.*tracecomp.from_numpy"):
        F.hflip(torch.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="normalize.*PIL"):
        F.normalize(PIL_RGB, [0.5], [0.5])
    with pytest.raises(TypeError, match="uint8; it accepts float"):
        F.normalize(tct(U), [0.5], [0.5])
    with pytest.raises(ValueError, match="LANCZOS is only supported for PIL"):
        F.resize(tct(A), 4, IM.LANCZOS)
    with pytest.raises(TypeError, match="interpolation='bilinear'"):
        F.resize(tct(A), 4, "bilinear")
    with pytest.raises(TypeError, match="fill=.*not supported for tensors"):
        F.pad(tct(A), 1, fill=(1, 2, 3))
    with pytest.raises(ValueError, match="padding_mode='wrap'"):
        F.pad(tct(A), 1, padding_mode="wrap")
    with pytest.raises(ValueError, match="hue_factor"):
        F.adjust_hue(tct(A), 0.6)
    with pytest.raises(ValueError, match="BICUBIC is not supported for tensors"):
        F.rotate(tct(A), 10, IM.BICUBIC)
    with pytest.raises(TypeError, match="4 channels; it accepts 1 or 3"):
        F.adjust_brightness(tct(np.zeros((4, 3, 3), np.float32)), 0.5)
    with pytest.raises(TypeError, match="uint16"):
        F.pil_to_tensor(Image.fromarray(np.zeros((3, 3), np.uint16)))
