"""tracecomp.vision.io: torchvision.io's image functions over tracecomp tensors.

    read_file / write_file       a file's bytes <-> a 1-D uint8 tensor
    decode_image / read_image    PNG, JPEG, GIF, WebP bytes (or a path) -> uint8 (C, H, W)
    decode_png / decode_jpeg     one format, with torchvision's checks and messages
    encode_png / write_png       uint8 (1 or 3, H, W) -> PNG bytes (compression_level 0..9)
    encode_jpeg / write_jpeg     uint8 (1 or 3, H, W) -> JPEG bytes (quality 1..100)
    ImageReadMode                UNCHANGED, GRAY, GRAY_ALPHA, RGB, RGB_ALPHA (alias RGBA);
                                 every `mode=` also takes its name as a string ("RGB")

torchvision decodes with libpng and libjpeg in C++; here Pillow does the work and this module
reproduces torchvision's channel rules (written from torchvision's decode_png.cpp /
decode_jpeg.cpp: its compiled image extension is not built where this was written, so the
rules were read, not run):
  - PNG is exact: UNCHANGED keeps the file's channels (a palette image gives its indices, one
    channel, as libpng does untransformed); GRAY of a colour PNG uses libpng's truncating
    fixed-point weights (9794, 19234, 3740) / 32768. A PNG carrying a gAMA chunk is converted
    to gray in linear light by libpng, which is not reproduced (a level or two apart).
  - JPEG pixels may differ slightly from torchvision's: both run libjpeg(-turbo), but
    possibly different builds with different IDCT / upsampling code. GRAY takes libjpeg's
    luma output directly (Pillow's draft mode), as torchvision does.
  - 16-bit PNGs decode to uint16 in torchvision; tracecomp has no uint16, so they raise.
Errors are ImageIOError (a RuntimeError, as torchvision's C++ checks raise) with
torchvision's messages; a missing file is also a FileNotFoundError.
"""
import io as _pyio
import os
from enum import Enum

import numpy as np

import tracecomp as tc

from ..errors import TracecompError

__all__ = ["ImageReadMode", "read_file", "write_file", "decode_image", "read_image",
           "decode_png", "decode_jpeg", "encode_png", "encode_jpeg", "write_png",
           "write_jpeg"]


class ImageIOError(TracecompError, RuntimeError):
    """An image could not be read, decoded or encoded (RuntimeError, as in torchvision)."""


class ImageFileNotFoundError(ImageIOError, FileNotFoundError):
    """read_file / read_image of a path that does not exist."""


class ImageReadMode(Enum):
    """The channels to decode to; mode= also takes the member's name ("RGB", "gray")."""
    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = RGB_ALPHA  # torchvision's alias


def _read_mode(mode):
    if isinstance(mode, str):
        try:
            return ImageReadMode[mode.upper()]
        except KeyError:
            raise KeyError(f"mode={mode!r}: expected one of "
                           f"{', '.join(ImageReadMode.__members__)}") from None
    if not isinstance(mode, ImageReadMode):
        raise TypeError(f"mode={mode!r}: expected an ImageReadMode or its name")
    return mode


def _check_tensor(where, data, what="input"):
    if not isinstance(data, tc.Tensor):
        raise TypeError(f"{where}: {what} must be a tracecomp.Tensor, got "
                        f"{type(data).__module__}.{type(data).__name__}")


def _encoded_bytes(where, data):
    """The bytes of a 1-D uint8 tensor of encoded data, checked as torchvision does."""
    _check_tensor(where, data)
    if data.dtype != tc.uint8:
        raise ImageIOError(f"{where}: Expected a torch.uint8 tensor (got {data.dtype})")
    if data.dim() != 1 or data.numel() == 0:
        raise ImageIOError(f"{where}: Expected a non empty 1-dimensional tensor (got shape "
                           f"{list(data.shape)})")
    return np.ascontiguousarray(data.numpy()).tobytes()


def _chw(arr):
    """A uint8 (C, H, W) tracecomp tensor of an [H, W] or [H, W, C] array."""
    arr = np.asarray(arr, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return tc.from_numpy(np.ascontiguousarray(arr))


def _open(where, raw):
    from PIL import Image  # imported lazily: tensor-only programs need no Pillow
    try:
        img = Image.open(_pyio.BytesIO(raw))
        img.load()
    except Exception as e:  # Pillow raises many kinds for corrupt data
        raise ImageIOError(f"{where}: cannot decode the image ({type(e).__name__}: "
                           f"{e})") from None
    return img


def _exif_transpose(img, apply_exif_orientation):
    if not apply_exif_orientation:
        return img
    from PIL import ImageOps
    return ImageOps.exif_transpose(img)


# -- files ------------------------------------------------------------------------------
def read_file(path):
    """The bytes of the file at `path` as a 1-D uint8 tensor."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageFileNotFoundError(f"[Errno 2] No such file or directory: '{path}'")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        raise ImageIOError(f"read_file: Expected a non empty file: '{path}'")
    return tc.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy())


def write_file(filename, data):
    """Write a 1-D uint8 tensor's bytes to `filename`."""
    where = "write_file"
    _check_tensor(where, data, "data")
    if data.dtype != tc.uint8:
        raise ImageIOError(f"{where}: Input tensor dtype should be uint8 (got {data.dtype})")
    if data.dim() != 1:
        raise ImageIOError(f"{where}: Input data should be a 1-dimensional tensor (got shape "
                           f"{list(data.shape)})")
    with open(os.fspath(filename), "wb") as f:
        f.write(np.ascontiguousarray(data.numpy()).tobytes())


# -- decoding ---------------------------------------------------------------------------
def _png_header(raw):
    """(bit depth, colour type) from the IHDR chunk, which a valid PNG has first."""
    return raw[24], raw[25]


def _libpng_gray(rgb):
    """libpng's png_set_rgb_to_gray(1, 0.2989, 0.587) without gamma: fixed point, truncated."""
    rgb = rgb.astype(np.uint32)
    return ((9794 * rgb[..., 0] + 19234 * rgb[..., 1] + 3740 * rgb[..., 2]) >> 15)


def _with_alpha(color, alpha):
    full = np.full(color.shape[:2], 255, np.uint8) if alpha is None else alpha
    return np.dstack([color, full])


def decode_png(input, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False):  # noqa: A002
    """PNG bytes (a 1-D uint8 tensor) -> uint8 (C, H, W), C as `mode` asks."""
    where = "decode_png"
    raw = _encoded_bytes(where, input)
    mode = _read_mode(mode)
    if len(raw) < 8:
        raise ImageIOError(f"{where}: Content is too small for png!")
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ImageIOError(f"{where}: Content is not png!")
    bit_depth, color_type = _png_header(raw)
    if bit_depth == 16:
        raise ImageIOError(f"{where}: a 16-bit PNG decodes to uint16 in torchvision, and "
                           f"tracecomp has no uint16 tensors; convert the file to 8 bits")
    img = _exif_transpose(_open(where, raw), apply_exif_orientation)
    if mode is ImageReadMode.UNCHANGED:  # libpng untransformed: palette indices stay
        return _chw(np.array(img.convert("L") if img.mode == "1" else img))
    # (gray, color, alpha): what the file holds, as libpng expands it
    gray = color = alpha = None
    if color_type in (0, 4):  # gray, gray + alpha
        arr = np.array(img.convert("LA"))
        gray, alpha = arr[..., 0], (arr[..., 1] if color_type == 4 else None)
    else:  # RGB, palette (expanded; alpha from tRNS), RGBA
        has_alpha = color_type == 6 or (color_type == 3 and "transparency" in img.info)
        arr = np.array(img.convert("RGBA"))
        color, alpha = arr[..., :3], (arr[..., 3] if has_alpha else None)
    if mode in (ImageReadMode.GRAY, ImageReadMode.GRAY_ALPHA):
        g = gray if gray is not None else _libpng_gray(color).astype(np.uint8)
        return _chw(g if mode is ImageReadMode.GRAY else _with_alpha(g[..., None], alpha))
    c = color if color is not None else np.repeat(gray[..., None], 3, axis=2)
    return _chw(c if mode is ImageReadMode.RGB else _with_alpha(c, alpha))


def _decode_one_jpeg(where, data, mode, apply_exif_orientation):
    raw = _encoded_bytes(where, data)
    if raw[:2] != b"\xff\xd8":
        head = " ".join(f"0x{b:02x}" for b in raw[:2])
        raise ImageIOError(f"{where}: Not a JPEG file: starts with {head}")
    if mode not in (ImageReadMode.UNCHANGED, ImageReadMode.GRAY, ImageReadMode.RGB):
        raise ImageIOError(f"{where}: The provided mode is not supported for JPEG files")
    from PIL import Image
    try:
        img = Image.open(_pyio.BytesIO(raw))
        if mode is ImageReadMode.GRAY and img.mode != "L":
            img.draft("L", img.size)  # libjpeg's own gray output, as torchvision asks for
        img.load()
    except Exception as e:
        raise ImageIOError(f"{where}: cannot decode the JPEG ({type(e).__name__}: "
                           f"{e})") from None
    img = _exif_transpose(img, apply_exif_orientation)
    want = {ImageReadMode.GRAY: "L", ImageReadMode.RGB: "RGB"}.get(mode)
    if want is None:  # UNCHANGED: gray stays 1 channel; colour (and CMYK) gives RGB
        want = "L" if img.mode == "L" else "RGB"
    return _chw(np.array(img.convert(want)))


def decode_jpeg(input, mode=ImageReadMode.UNCHANGED, device="cpu",  # noqa: A002
                apply_exif_orientation=False):
    """JPEG bytes (a 1-D uint8 tensor, or a list of them) -> uint8 (C, H, W) (or a list)."""
    where = "decode_jpeg"
    mode = _read_mode(mode)
    if str(device) != "cpu":
        raise ImageIOError(f"{where}: device={device!r}: tracecomp decodes on the CPU only")
    if isinstance(input, list):
        if not input:
            raise ValueError("Input list must contain at least one element")
        if not all(isinstance(t, tc.Tensor) for t in input):
            raise ValueError("All elements of the input list must be tensors.")
        return [_decode_one_jpeg(where, t, mode, apply_exif_orientation) for t in input]
    return _decode_one_jpeg(where, input, mode, apply_exif_orientation)


def _decode_gif(raw):
    """Every frame as RGB: (3, H, W) for one frame, (N, 3, H, W) for N (torchvision's)."""
    from PIL import ImageSequence
    img = _open("decode_gif", raw)
    frames = [np.array(f.convert("RGB")).transpose(2, 0, 1)
              for f in ImageSequence.Iterator(img)]
    out = frames[0] if len(frames) == 1 else np.stack(frames)
    return tc.from_numpy(np.ascontiguousarray(out))


def _decode_webp(raw, mode):
    img = _open("decode_webp", raw)
    if mode is ImageReadMode.UNCHANGED:
        mode = ImageReadMode.RGB_ALPHA if "A" in img.getbands() else ImageReadMode.RGB
    if mode not in (ImageReadMode.RGB, ImageReadMode.RGB_ALPHA):
        raise ImageIOError("decode_webp: Unsupported mode for webp files: only RGB and "
                           "RGB_ALPHA are")
    return _chw(np.array(img.convert("RGB" if mode is ImageReadMode.RGB else "RGBA")))


_UNSUPPORTED = "Unsupported image file. Only jpeg, png and gif are currently supported."


def decode_image(input, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False):  # noqa: A002
    """Encoded bytes (a 1-D uint8 tensor) or a path -> uint8 (C, H, W), the format told by
    its signature (JPEG, PNG, GIF, WebP), as torchvision.io.decode_image."""
    if isinstance(input, (str, os.PathLike)):
        input = read_file(input)  # noqa: A001
    _check_tensor("decode_image", input, "input (encoded bytes, or a path)")
    raw = _encoded_bytes("decode_image", input)
    mode = _read_mode(mode)
    if raw[:3] == b"\xff\xd8\xff":
        return decode_jpeg(input, mode, apply_exif_orientation=apply_exif_orientation)
    if raw[:4] == b"\x89PNG":
        return decode_png(input, mode, apply_exif_orientation)
    if raw[:6] in (b"GIF89a", b"GIF87a"):
        return _decode_gif(raw)
    if raw[:4] == b"RIFF" and raw[8:15] == b"WEBPVP8":
        return _decode_webp(raw, mode)
    raise ImageIOError(f"decode_image: {_UNSUPPORTED}")


def read_image(path, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False):
    """decode_image(read_file(path), mode): torchvision's older spelling."""
    return decode_image(read_file(path), mode, apply_exif_orientation=apply_exif_orientation)


# -- encoding ---------------------------------------------------------------------------
def _image_array(where, image):
    """A uint8 (1 or 3, H, W) tensor as an [H, W] or [H, W, 3] array, checked as
    torchvision's encoders check."""
    _check_tensor(where, image)
    if image.dtype != tc.uint8:
        raise ImageIOError(f"{where}: Input tensor dtype should be uint8 (got {image.dtype})")
    if image.dim() != 3:
        raise ImageIOError(f"{where}: Input data should be a 3-dimensional tensor (got shape "
                           f"{list(image.shape)})")
    channels = image.shape[0]
    if channels not in (1, 3):
        raise ImageIOError(f"{where}: The number of channels should be 1 or 3, got: "
                           f"{channels}")
    arr = np.ascontiguousarray(image.numpy().transpose(1, 2, 0))
    return arr[..., 0] if channels == 1 else arr


def _encode(arr, fmt, **options):
    from PIL import Image
    buf = _pyio.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **options)
    return tc.from_numpy(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def encode_png(input, compression_level=6):  # noqa: A002
    """uint8 (1 or 3, H, W) -> the PNG file's bytes as a 1-D uint8 tensor."""
    if not 0 <= compression_level <= 9:
        raise ImageIOError("encode_png: Compression level should be between 0 and 9")
    return _encode(_image_array("encode_png", input), "PNG", compress_level=compression_level)


def write_png(input, filename, compression_level=6):  # noqa: A002
    write_file(filename, encode_png(input, compression_level))


def encode_jpeg(input, quality=75):  # noqa: A002
    """uint8 (1 or 3, H, W) (or a list of them) -> JPEG bytes as a 1-D uint8 tensor (or a
    list). Pillow's libjpeg encodes, so the bytes may differ from torchvision's."""
    if quality < 1 or quality > 100:
        raise ValueError("Image quality should be a positive number between 1 and 100")
    if isinstance(input, list):
        if not input:
            raise ValueError("encode_jpeg requires at least one input tensor when a list is "
                             "passed")
        return [encode_jpeg(image, quality) for image in input]
    return _encode(_image_array("encode_jpeg", input), "JPEG", quality=quality)


def write_jpeg(input, filename, quality=75):  # noqa: A002
    write_file(filename, encode_jpeg(input, quality))
