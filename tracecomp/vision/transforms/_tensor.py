"""The tracecomp-tensor backend of transforms.functional (images shaped (..., C, H, W)):
dtype conversion, normalize, crop, pad, flips, grayscale and the colour adjustments.

Each function follows the arithmetic of torchvision's tensor backend (same blend formula,
same grayscale weights, same HSV round trip, same casts), written with tracecomp ops so the
results match torchvision's up to float rounding, and stay differentiable where torch's are.
Argument checks live in functional.py; these assume a tensor image.
"""
import tracecomp as tc
import tracecomp.nn.functional as nnf

from ._common import get_dimensions, is_float_dtype, max_value


def convert_image_dtype(image, dtype):
    """Casts and rescales: floats are in [0, 1], integers in [0, max of the dtype]."""
    if image.dtype == dtype:
        return image
    src_float, dst_float = is_float_dtype(image.dtype), is_float_dtype(dtype)
    if src_float:
        if dst_float:
            return image.to(dtype)
        if (image.dtype == tc.float32 and dtype in (tc.int32, tc.int64)) or (
                image.dtype == tc.float64 and dtype == tc.int64):
            # the float cannot hold every integer of the target range (torchvision refuses too)
            raise RuntimeError(f"convert_image_dtype: the cast from {image.dtype} to {dtype} "
                               f"cannot be performed safely")
        # max + 1 - eps spreads [0, 1] evenly over the integer bins, 1.0 alone maps to max
        return image.mul(float(max_value(dtype)) + 1.0 - 1e-3).to(dtype)
    in_max = float(max_value(image.dtype))
    if dst_float:
        return image.to(dtype) / in_max
    out_max = float(max_value(dtype))
    if in_max > out_max:  # narrowing: integer division by the ratio of ranges
        factor = int((in_max + 1) // (out_max + 1))
        return tc.div(image, factor, rounding_mode="floor").to(dtype)
    factor = int((out_max + 1) // (in_max + 1))
    return image.to(dtype) * factor


def normalize(tensor, mean, std, inplace=False):
    if not inplace:
        tensor = tensor.clone()
    dtype = tensor.dtype
    mean = tc.as_tensor(mean, dtype=dtype)
    std = tc.as_tensor(std, dtype=dtype)
    if bool((std == 0).any()):
        raise ValueError(f"normalize: std={std.tolist()} has a zero after conversion to "
                         f"{dtype}, which would divide by zero")
    if mean.dim() == 1:
        mean = mean.view(-1, 1, 1)
    if std.dim() == 1:
        std = std.view(-1, 1, 1)
    return tensor.sub_(mean).div_(std)


def hflip(img):
    return img.flip(-1)


def vflip(img):
    return img.flip(-2)


def crop(img, top, left, height, width):
    """A window of the image; parts outside it are zero-padded (as torchvision)."""
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                max(right - max(w, left), 0), max(bottom - max(h, top), 0)]
        inside = img[..., max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)]
        return pad(inside, ltrb, fill=0)
    return img[..., top:bottom, left:right]


def parse_padding(padding):
    """[left, right, top, bottom] from torchvision's int / (lr, tb) / (l, t, r, b) forms."""
    if isinstance(padding, int):
        return [padding] * 4
    padding = [int(p) for p in padding]
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return [padding[0], padding[0], padding[1], padding[1]]
    return [padding[0], padding[2], padding[1], padding[3]]


def _pad_symmetric(img, lrtb):
    # negative padding crops first, as torchvision does
    if min(lrtb) < 0:
        cl, cr, ct, cb = (-min(p, 0) for p in lrtb)
        img = img[..., ct:img.shape[-2] - cb, cl:img.shape[-1] - cr]
        lrtb = [max(p, 0) for p in lrtb]
    left, right, top, bottom = lrtb
    h, w = int(img.shape[-2]), int(img.shape[-1])
    # mirror including the edge pixel: index -1 -> 0, -2 -> 1, w -> w-1, ...
    cols = list(range(left - 1, -1, -1)) + list(range(w)) + [w - 1 - i for i in range(right)]
    rows = list(range(top - 1, -1, -1)) + list(range(h)) + [h - 1 - i for i in range(bottom)]
    img = tc.index_select(img, -1, tc.tensor(cols, dtype=tc.int64))
    return tc.index_select(img, -2, tc.tensor(rows, dtype=tc.int64))


def pad(img, padding, fill=0, padding_mode="constant"):
    lrtb = parse_padding(padding)
    if padding_mode == "symmetric":
        return _pad_symmetric(img, lrtb)
    shape = tuple(img.shape)
    # nn.functional.pad wants (N, C, H, W) for reflect/replicate: fold leading dims into N
    # (torchvision pads the last 3 dims of a 5-D tensor in edge mode; we always pad H, W)
    x = img.reshape((-1,) + ((1,) if len(shape) == 2 else shape[-3:-2]) + shape[-2:])
    out_dtype = x.dtype
    cast = padding_mode != "constant" and out_dtype not in (tc.float32, tc.float64)
    if cast:  # reflect/replicate kernels are float-only in torch; keep the same path
        x = x.to(tc.float32)
    if padding_mode == "constant":
        x = nnf.pad(x, lrtb, mode="constant", value=float(fill))
    else:
        x = nnf.pad(x, lrtb, mode="replicate" if padding_mode == "edge" else "reflect")
    if cast:
        x = x.to(out_dtype)
    return x.reshape(shape[:-2] + tuple(x.shape[-2:]))


def rgb_to_grayscale(img, num_output_channels=1):
    if img.shape[-3] == 3:
        r, g, b = _float32_math(img).unbind(dim=-3)
        # ITU-R 601-2 luma weights, as torchvision (and TF); the cast truncates like it does
        gray = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)
    else:
        gray = img.clone()
    if num_output_channels == 3:
        return gray.expand(tuple(gray.shape[:-3]) + (3,) + tuple(gray.shape[-2:]))
    return gray


def _float32_math(img):
    """Integer images as float32 before `python float * image`: torch does that product in
    float32, tracecomp (for integer tensors) in float64, and the truncating cast back to
    uint8 then differs by one where the float32 product falls just below an integer."""
    return img if is_float_dtype(img.dtype) else img.to(tc.float32)


def _blend(img1, img2, ratio):
    ratio = float(ratio)
    bound = max_value(img1.dtype)
    mixed = ratio * _float32_math(img1) + (1.0 - ratio) * _float32_math(img2)
    return mixed.clamp(0, bound).to(img1.dtype)


def adjust_brightness(img, factor):
    return _blend(img, tc.zeros_like(img), factor)


def adjust_contrast(img, factor):
    dtype = img.dtype if is_float_dtype(img.dtype) else tc.float32
    src = rgb_to_grayscale(img) if get_dimensions(img)[0] == 3 else img
    # one mean gray level per image (over C, H, W), as torchvision
    mean = src.to(dtype).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(img, mean, factor)


def adjust_saturation(img, factor):
    if get_dimensions(img)[0] == 1:  # gray images are unchanged, as in PIL
        return img
    return _blend(img, rgb_to_grayscale(img), factor)


def _rgb2hsv(img):
    r, g, b = img.unbind(dim=-3)
    maxc = img.max(dim=-3).values
    minc = img.min(dim=-3).values
    eqc = maxc == minc  # gray pixels: avoid 0/0 by dividing by 1 instead (h, s end up 0)
    cr = maxc - minc
    ones = tc.ones_like(maxc)
    s = cr / tc.where(eqc, ones, maxc)
    cr_div = tc.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_div, (maxc - g) / cr_div, (maxc - b) / cr_div
    is_r = maxc == r
    is_g = (maxc == g) & ~is_r
    is_b = ~(maxc == g) & ~is_r
    h = is_r.to(img.dtype) * (bc - gc) + is_g.to(img.dtype) * (2.0 + rc - bc) \
        + is_b.to(img.dtype) * (4.0 + gc - rc)
    h = tc.fmod(h / 6.0 + 1.0, 1.0)
    return tc.stack((h, s, maxc), dim=-3)


def _hsv2rgb(img):
    h, s, v = img.unbind(dim=-3)
    i = tc.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(tc.int32) % 6
    p = (v * (1.0 - s)).clamp(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0)
    # the sector i picks which of (v, q, p, t) goes to r, g, b: a one-hot sum over sectors
    mask = (i.unsqueeze(-3) == tc.arange(6).view(-1, 1, 1)).to(img.dtype)
    rgb = (tc.stack((v, q, p, p, t, v), dim=-3), tc.stack((t, v, v, q, p, p), dim=-3),
           tc.stack((p, p, t, v, v, q), dim=-3))
    return tc.stack([(mask * c).sum(dim=-3) for c in rgb], dim=-3)


def adjust_hue(img, factor):
    if get_dimensions(img)[0] == 1:  # gray images have no hue, as in PIL
        return img
    orig = img.dtype
    hsv = _rgb2hsv(convert_image_dtype(img, tc.float32))
    h, s, v = hsv.unbind(dim=-3)
    h = (h + factor) % 1.0
    return convert_image_dtype(_hsv2rgb(tc.stack((h, s, v), dim=-3)), orig)


def adjust_gamma(img, gamma, gain=1.0):
    dtype = img.dtype
    out = img if is_float_dtype(dtype) else convert_image_dtype(img, tc.float32)
    out = (gain * out.pow(gamma)).clamp(0, 1)
    return convert_image_dtype(out, dtype)
