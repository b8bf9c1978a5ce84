"""tracecomp.vision.io against Pillow / numpy and torchvision's documented rules (shapes,
dtypes, channel conversions of decode_png.cpp / decode_jpeg.cpp, error messages), on small
images written in memory."""
import io
import pathlib

import numpy as np
import pytest
from PIL import Image

import tracecomp
from tracecomp.vision import io as tio
from tracecomp.vision.io import ImageReadMode

RNG = np.random.default_rng(7)
MODES = ["UNCHANGED", "GRAY", "GRAY_ALPHA", "RGB", "RGB_ALPHA"]


def encoded(img, fmt="PNG", **options):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return tracecomp.from_numpy(np.frombuffer(buf.getvalue(), np.uint8).copy())


def chw(arr):
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def libpng_gray(rgb):  # png_set_rgb_to_gray(1, 0.2989, 0.587): fixed point, truncated
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((9794 * r + 19234 * g + 3740 * b) >> 15).astype(np.uint8)


def opaque(shape):
    return np.full(shape, 255, np.uint8)


IMAGES = {"L": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
          "LA": RNG.integers(0, 256, (5, 7, 2), dtype=np.uint8),
          "RGB": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
          "RGBA": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8)}


def expected_png(kind, mode):
    """What libpng gives torchvision for each (file kind, mode)."""
    a = IMAGES[kind]
    gray = a if kind == "L" else a[..., 0] if kind == "LA" else libpng_gray(a[..., :3])
    alpha = a[..., 1] if kind == "LA" else a[..., 3] if kind == "RGBA" else opaque(a.shape[:2])
    color = np.dstack([a if kind == "L" else a[..., 0]] * 3) if kind in ("L", "LA") \
        else a[..., :3]
    return chw({"UNCHANGED": a, "GRAY": gray, "GRAY_ALPHA": np.dstack([gray, alpha]),
                "RGB": color, "RGB_ALPHA": np.dstack([color, alpha])}[mode])


@pytest.mark.parametrize("kind", list(IMAGES))
@pytest.mark.parametrize("mode", MODES)
def test_decode_png_every_mode_exact(kind, mode):
    data = encoded(Image.fromarray(IMAGES[kind]))
    for out in (tio.decode_png(data, getattr(ImageReadMode, mode)), tio.decode_image(data, mode)):
        assert out.dtype == tracecomp.uint8
        np.testing.assert_array_equal(out.numpy(), expected_png(kind, mode))


def test_palette_png_unchanged_is_indices_and_rgb_is_colours():
    img = Image.fromarray(IMAGES["RGB"]).quantize(6)
    data = encoded(img)
    np.testing.assert_array_equal(tio.decode_image(data).numpy(), np.array(img)[None])
    np.testing.assert_array_equal(tio.decode_image(data, ImageReadMode.RGB).numpy(),
                                  chw(np.array(img.convert("RGB"))))
    assert tuple(tio.decode_image(data, "RGBA").shape) == (4, 5, 7)


def test_one_bit_png_expands_to_0_255():
    bits = RNG.integers(0, 2, (4, 6)).astype(bool)
    out = tio.decode_png(encoded(Image.fromarray(bits)))
    np.testing.assert_array_equal(out.numpy(), chw(bits.astype(np.uint8) * 255))


def test_read_write_file_and_read_image(tmp_path):
    data = encoded(Image.fromarray(IMAGES["RGB"]))
    path = tmp_path / "x.png"
    tio.write_file(str(path), data)
    back = tio.read_file(path)  # a pathlib.Path works too
    assert back.dtype == tracecomp.uint8 and back.dim() == 1
    np.testing.assert_array_equal(back.numpy(), data.numpy())
    for out in (tio.read_image(str(path)), tio.read_image(path, ImageReadMode.RGB),
                tio.decode_image(str(path)), tio.decode_image(pathlib.Path(path), "rgb")):
        np.testing.assert_array_equal(out.numpy(), chw(IMAGES["RGB"]))
    gray = tio.read_image(str(path), ImageReadMode.GRAY)
    np.testing.assert_array_equal(gray.numpy(), chw(libpng_gray(IMAGES["RGB"])))


def test_missing_and_empty_files(tmp_path):
    missing = str(tmp_path / "nope.png")
    for fn in (tio.read_file, tio.read_image, tio.decode_image):
        with pytest.raises(FileNotFoundError, match="No such file or directory"):
            fn(missing)
        with pytest.raises(RuntimeError):  # torchvision raises RuntimeError
            fn(missing)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(RuntimeError, match="Expected a non empty file"):
        tio.read_file(str(tmp_path / "empty"))


@pytest.mark.parametrize("channels", [1, 3])
def test_encode_png_roundtrip_and_write_png(tmp_path, channels):
    x = tracecomp.from_numpy(RNG.integers(0, 256, (channels, 6, 9), dtype=np.uint8))
    data = tio.encode_png(x, compression_level=9)
    assert data.dtype == tracecomp.uint8 and data.dim() == 1
    assert bytes(data.numpy()[:4]) == b"\x89PNG"
    np.testing.assert_array_equal(tio.decode_png(data).numpy(), x.numpy())
    tio.write_png(x, str(tmp_path / "y.png"))
    np.testing.assert_array_equal(chw(np.array(Image.open(tmp_path / "y.png"))), x.numpy())


def test_jpeg_encode_decode(tmp_path):
    x = tracecomp.from_numpy(RNG.integers(0, 256, (3, 16, 16), dtype=np.uint8))
    data = tio.encode_jpeg(x, quality=90)
    assert data.dtype == tracecomp.uint8 and bytes(data.numpy()[:3]) == b"\xff\xd8\xff"
    out = tio.decode_jpeg(data)
    assert out.dtype == tracecomp.uint8 and tuple(out.shape) == (3, 16, 16)
    # Pillow's decoder gives the pixels (torchvision's libjpeg build may differ slightly)
    pil = Image.open(io.BytesIO(bytes(data.numpy())))
    np.testing.assert_array_equal(out.numpy(), chw(np.array(pil)))
    assert tuple(tio.decode_image(data, ImageReadMode.GRAY).shape) == (1, 16, 16)
    assert [tuple(t.shape) for t in tio.decode_jpeg([data, data], "RGB")] == [(3, 16, 16)] * 2
    assert isinstance(tio.encode_jpeg([x, x]), list)
    tio.write_jpeg(x, str(tmp_path / "z.jpg"), quality=50)
    assert Image.open(tmp_path / "z.jpg").format == "JPEG"
    gray = tio.encode_jpeg(x[:1])
    assert tuple(tio.decode_image(gray).shape) == (1, 16, 16)
    assert tuple(tio.decode_image(gray, "RGB").shape) == (3, 16, 16)


def test_gif_decodes_to_rgb_frames():
    frames = [Image.fromarray(IMAGES["RGB"]).quantize(8) for _ in range(2)]
    one = encoded(frames[0], "GIF")
    assert tuple(tio.decode_image(one).shape) == (3, 5, 7)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=[frames[1].rotate(90)])
    many = tracecomp.from_numpy(np.frombuffer(buf.getvalue(), np.uint8).copy())
    assert tuple(tio.decode_image(many).shape) == (2, 3, 5, 7)


def test_errors_are_torchvisions():
    png = encoded(Image.fromarray(IMAGES["RGB"]))
    jpeg = tio.encode_jpeg(tracecomp.from_numpy(chw(IMAGES["RGB"]).copy()))
    cases = [
        (lambda: tio.decode_image(png.float()), RuntimeError, "Expected a torch.uint8 tensor"),
        (lambda: tio.decode_image(png.reshape(1, -1)), RuntimeError, "non empty 1-dimensional"),
        (lambda: tio.decode_image(png[:0]), RuntimeError, "non empty 1-dimensional"),
        (lambda: tio.decode_image(png[4:]), RuntimeError, "Unsupported image file"),
        (lambda: tio.decode_png(jpeg), RuntimeError, "Content is not png!"),
        (lambda: tio.decode_png(png[:5]), RuntimeError, "Content is too small for png!"),
        (lambda: tio.decode_jpeg(png), RuntimeError, "Not a JPEG file: starts with 0x89 0x50"),
        (lambda: tio.decode_jpeg(jpeg, "RGBA"), RuntimeError, "not supported for JPEG"),
        (lambda: tio.decode_image(png, "CMYK"), KeyError, "CMYK"),
        (lambda: tio.encode_png(tracecomp.zeros(3, 4, 4)), RuntimeError, "dtype should be uint8"),
        (lambda: tio.encode_png(tracecomp.zeros(4, 4, dtype=tracecomp.uint8)), RuntimeError,
         "3-dimensional"),
        (lambda: tio.encode_png(tracecomp.zeros(4, 4, 4, dtype=tracecomp.uint8)), RuntimeError,
         "The number of channels should be 1 or 3, got: 4"),
        (lambda: tio.encode_png(tracecomp.zeros(3, 4, 4, dtype=tracecomp.uint8), 10),
         RuntimeError, "Compression level should be between 0 and 9"),
        (lambda: tio.encode_jpeg(tracecomp.zeros(3, 4, 4, dtype=tracecomp.uint8), 0),
         ValueError, "between 1 and 100"),
        (lambda: tio.write_file("unused", tracecomp.zeros(2, 2, dtype=tracecomp.uint8)),
         RuntimeError, "1-dimensional"),
        (lambda: tio.decode_image(np.zeros(4, np.uint8)), TypeError, "tracecomp.Tensor"),
    ]
    for fn, kind, message in cases:
        with pytest.raises(kind, match=message):
            fn()


def test_image_read_mode_is_torchvisions():
    assert [m.name for m in ImageReadMode] == MODES
    assert ImageReadMode.RGBA is ImageReadMode.RGB_ALPHA and ImageReadMode.RGB.value == 3
