"""tracecomp.vision.utils.make_grid / save_image against a numpy computation of the same grid
(torchvision's layout and arithmetic) and hand-made expectations."""
import io

import numpy as np
import pytest
from PIL import Image

import tracecomp
from tracecomp.vision.utils import make_grid, save_image

RNG = np.random.default_rng(99)


def reference_grid(batch, nrow=8, padding=2, normalize=False, value_range=None,
                   scale_each=False, pad_value=0.0):
    """The grid torchvision makes of a [B, C, H, W] array, computed independently: each
    image (normalized as asked, in its own dtype) pasted at row k // cols, column k % cols
    of a pad_value canvas, `padding` pixels before every row and column and after the last."""
    batch = np.array(batch)
    if batch.shape[1] == 1:
        batch = np.repeat(batch, 3, axis=1)
    if normalize:
        groups = list(batch) if scale_each else [batch]
        for g in groups:
            lo, hi = value_range if value_range else (float(g.min()), float(g.max()))
            g[...] = (np.clip(g, lo, hi) - g.dtype.type(lo)) / g.dtype.type(max(hi - lo, 1e-5))
    b, c, h, w = batch.shape
    if b == 1:
        return batch[0]
    cols = min(nrow, b)
    rows = -(-b // cols)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding),
                   pad_value, batch.dtype)
    for k in range(b):
        top = (k // cols) * (h + padding) + padding
        left = (k % cols) * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = batch[k]
    return grid


def test_small_grid_by_hand():
    images = tracecomp.tensor([[[[1.0]]], [[[2.0]]], [[[3.0]]]])     # three 1x1x1 images
    got = make_grid(images, nrow=2, padding=1, pad_value=9).numpy()
    plane = [[9, 9, 9, 9, 9],
             [9, 1, 9, 2, 9],
             [9, 9, 9, 9, 9],
             [9, 3, 9, 9, 9],
             [9, 9, 9, 9, 9]]
    np.testing.assert_array_equal(got, np.array([plane] * 3, np.float32))
    assert got.dtype == np.float32


@pytest.mark.parametrize("shape, kwargs", [
    ((5, 3, 4, 6), {}),
    ((5, 1, 4, 6), {"nrow": 2, "padding": 3, "pad_value": 0.7}),
    ((8, 3, 2, 2), {"nrow": 4}),
    ((6, 2, 3, 3), {"padding": 0}),
    ((7, 3, 3, 2), {"nrow": 3, "normalize": True}),
    ((7, 3, 3, 2), {"nrow": 3, "normalize": True, "scale_each": True}),
    ((7, 3, 3, 2), {"nrow": 10, "normalize": True, "value_range": (-0.5, 0.5)}),
    ((7, 3, 3, 2), {"normalize": True, "value_range": (-0.5, 0.5), "scale_each": True}),
    ((1, 3, 4, 4), {"padding": 1}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_make_grid_matches_reference(shape, kwargs, dtype):
    batch = RNG.standard_normal(shape).astype(dtype)
    want = reference_grid(batch, **kwargs)
    tensor = tracecomp.from_numpy(batch.copy())
    got = make_grid(tensor, **kwargs)
    assert isinstance(got, tracecomp.Tensor) and got.numpy().dtype == dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(tensor.numpy(), batch)               # input left alone
    as_list = make_grid([tracecomp.from_numpy(x) for x in batch], **kwargs)
    np.testing.assert_allclose(as_list.numpy(), want, rtol=1e-6, atol=1e-7)


def test_single_images_are_returned_unpadded_as_rgb():
    hw = RNG.standard_normal((4, 5)).astype(np.float32)
    for t in (hw, hw[None], hw[None, None]):
        got = make_grid(tracecomp.from_numpy(t)).numpy()
        np.testing.assert_array_equal(got, np.stack([hw] * 3))
    chw = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(make_grid(tracecomp.from_numpy(chw), padding=5).numpy(), chw)


def test_integer_images_and_grad():
    u8 = RNG.integers(0, 256, (3, 3, 2, 2), dtype=np.uint8)
    got = make_grid(tracecomp.from_numpy(u8), pad_value=7)
    assert got.dtype == tracecomp.uint8
    np.testing.assert_array_equal(got.numpy(), reference_grid(u8, pad_value=7))
    with pytest.raises(RuntimeError, match="without overflow"):
        make_grid(tracecomp.from_numpy(u8), pad_value=300)
    with pytest.raises(RuntimeError, match="needs a floating-point tensor"):
        make_grid(tracecomp.from_numpy(u8), normalize=True)
    x = tracecomp.randn(2, 3, 2, 2, requires_grad=True)
    assert not make_grid(x).requires_grad


def test_make_grid_argument_errors():
    x = tracecomp.zeros(2, 3, 2, 2)
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        make_grid(np.zeros((2, 3, 2, 2)))
    with pytest.raises(TypeError, match="a list containing"):
        make_grid([x[0], np.zeros((3, 2, 2))])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(x, normalize=True, value_range=[0, 1])
    with pytest.raises(ValueError, match="same size"):
        make_grid([x[0], tracecomp.zeros(3, 2, 3)])
    with pytest.raises(ValueError, match="nrow"):
        make_grid(x, nrow=0)


def test_save_image_rounds_to_nearest(tmp_path):
    img = tracecomp.tensor([[[0.0, 0.5, 1.0], [-0.2, 1.7, 0.1]],
                            [[0.2, 0.4, 0.6], [0.002, 0.998, 0.3]],
                            [[1.0, 0.0, 0.5], [0.25, 0.75, 0.9]]])
    save_image(img, tmp_path / "a.png")
    pixels = np.asarray(Image.open(tmp_path / "a.png"))
    # floor(x * 255 + 0.5), clamped to 0..255, channels last
    want = np.clip(np.floor(img.numpy() * np.float32(255) + np.float32(0.5)), 0, 255)
    np.testing.assert_array_equal(pixels, want.transpose(1, 2, 0).astype(np.uint8))
    assert pixels[0, 1, 0] == 128 and pixels[1, 0, 0] == 0 and pixels[1, 1, 0] == 255


def test_save_image_batch_as_grid_to_file_object(tmp_path):
    batch = RNG.random((5, 1, 3, 4)).astype(np.float32)
    buf = io.BytesIO()
    save_image(tracecomp.from_numpy(batch), buf, format="png", nrow=2, padding=1, pad_value=1)
    img = Image.open(io.BytesIO(buf.getvalue()))
    assert img.format == "PNG" and img.mode == "RGB"
    grid = reference_grid(batch, nrow=2, padding=1, pad_value=1)
    want = np.clip(grid * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(img), want.transpose(1, 2, 0))
    assert img.size == (2 * 5 + 1, 3 * 4 + 1)
    with pytest.raises(RuntimeError, match="floating-point images"):
        save_image(tracecomp.zeros(3, 2, 2, dtype=tracecomp.uint8), tmp_path / "u.png")
    with pytest.raises(NotImplementedError, match="draw_bounding_boxes"):
        from tracecomp.vision import utils
        getattr(utils, "draw_bounding_boxes")  # noqa: B009 - the access is what is tested
