"""Weights entries' inference transforms and metadata against torchvision 0.28, without
importing torchvision: the (crop, resize, interpolation, min_size) of every entry was recorded
from it (`torchvision.models.<Enum>.<member>.transforms()` and `.meta`), and the preset's
output is checked against the same steps done with Pillow / numpy and with torch."""
import numpy as np
import pytest
import torch
from PIL import Image

import tracecomp
import tracecomp.vision
from tracecomp.vision import models
from tracecomp.vision.transforms import InterpolationMode

# "Enum.member": (crop_size, resize_size, interpolation, min_size), from torchvision 0.28
TORCHVISION = {
    "AlexNet_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 63),
    "DenseNet121_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 29),
    "DenseNet161_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 29),
    "DenseNet169_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 29),
    "DenseNet201_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 29),
    "EfficientNet_B0_Weights.IMAGENET1K_V1": (224, 256, "bicubic", 1),
    "EfficientNet_B1_Weights.IMAGENET1K_V1": (240, 256, "bicubic", 1),
    "EfficientNet_B1_Weights.IMAGENET1K_V2": (240, 255, "bilinear", 1),
    "EfficientNet_B2_Weights.IMAGENET1K_V1": (288, 288, "bicubic", 1),
    "EfficientNet_B3_Weights.IMAGENET1K_V1": (300, 320, "bicubic", 1),
    "EfficientNet_B4_Weights.IMAGENET1K_V1": (380, 384, "bicubic", 1),
    "EfficientNet_B5_Weights.IMAGENET1K_V1": (456, 456, "bicubic", 1),
    "EfficientNet_B6_Weights.IMAGENET1K_V1": (528, 528, "bicubic", 1),
    "EfficientNet_B7_Weights.IMAGENET1K_V1": (600, 600, "bicubic", 1),
    "EfficientNet_V2_L_Weights.IMAGENET1K_V1": (480, 480, "bicubic", 33),
    "EfficientNet_V2_M_Weights.IMAGENET1K_V1": (480, 480, "bilinear", 33),
    "EfficientNet_V2_S_Weights.IMAGENET1K_V1": (384, 384, "bilinear", 33),
    "MobileNet_V2_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "MobileNet_V2_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "ResNeXt101_32X8D_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "ResNeXt101_32X8D_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "ResNeXt101_64X4D_Weights.IMAGENET1K_V1": (224, 232, "bilinear", 1),
    "ResNeXt50_32X4D_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "ResNeXt50_32X4D_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "ResNet101_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "ResNet101_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "ResNet152_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    # not recorded (added after the recording): from torchvision's googlenet.py and
    # inception.py
    "GoogLeNet_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 15),
    "Inception_V3_Weights.IMAGENET1K_V1": (299, 342, "bilinear", 75),
    "ResNet152_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "ResNet18_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "ResNet34_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "ResNet50_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "ResNet50_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "SqueezeNet1_0_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 21),
    "SqueezeNet1_1_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 17),
    "VGG11_BN_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG11_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG13_BN_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG13_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG16_BN_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG16_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG16_Weights.IMAGENET1K_FEATURES": (224, 256, "bilinear", 32),
    "VGG19_BN_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "VGG19_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 32),
    "ViT_B_16_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 224),
    "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1": (384, 384, "bicubic", 384),
    "ViT_B_16_Weights.IMAGENET1K_SWAG_LINEAR_V1": (224, 224, "bicubic", 224),
    "ViT_B_32_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 224),
    "ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1": (518, 518, "bicubic", 518),
    "ViT_H_14_Weights.IMAGENET1K_SWAG_LINEAR_V1": (224, 224, "bicubic", 224),
    "ViT_L_16_Weights.IMAGENET1K_V1": (224, 242, "bilinear", 224),
    "ViT_L_16_Weights.IMAGENET1K_SWAG_E2E_V1": (512, 512, "bicubic", 512),
    "ViT_L_16_Weights.IMAGENET1K_SWAG_LINEAR_V1": (224, 224, "bicubic", 224),
    "ViT_L_32_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 224),
    "Wide_ResNet101_2_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "Wide_ResNet101_2_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),
    "Wide_ResNet50_2_Weights.IMAGENET1K_V1": (224, 256, "bilinear", 1),
    "Wide_ResNet50_2_Weights.IMAGENET1K_V2": (224, 232, "bilinear", 1),

}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_every_entry_is_recorded():
    ours = {f"{n}.{m}" for n in dir(models) if n.endswith("_Weights")
            for m in getattr(models, n).__members__ if m != "DEFAULT"}
    assert ours == set(TORCHVISION)


@pytest.mark.parametrize("entry", sorted(TORCHVISION))
def test_transforms_and_meta_are_torchvisions(entry):
    crop, resize, interpolation, min_size = TORCHVISION[entry]
    weights = models.get_weight(entry)
    t = weights.transforms()
    assert (t.crop_size, t.resize_size, t.interpolation, t.antialias) == \
        ([crop], [resize], InterpolationMode(interpolation), True), f"tracecomp={t!r}"
    assert weights.meta["min_size"] == (min_size, min_size)
    features = entry == "VGG16_Weights.IMAGENET1K_FEATURES"  # a backbone: no classes
    assert weights.meta["categories"] is None if features else \
        len(weights.meta["categories"]) == 1000
    assert weights.meta["num_params"] > 0


def test_default_alias_and_categories():
    assert models.ResNet50_Weights.DEFAULT.transforms().resize_size == [232]  # IMAGENET1K_V2
    cats = models.ResNet18_Weights.DEFAULT.meta["categories"]
    assert (cats[0], cats[1], cats[281], cats[999]) == \
        ("tench", "goldfish", "tabby", "toilet tissue")
    assert len(set(cats)) == 1000  # torchvision's names are unique ("crane", "crane bird")
    v2l = models.EfficientNet_V2_L_Weights.DEFAULT.transforms()
    assert (v2l.mean, v2l.std) == ([0.5] * 3, [0.5] * 3)
    features = models.VGG16_Weights.IMAGENET1K_FEATURES.transforms()
    assert features.mean == [0.48235, 0.45882, 0.40784] and features.std == [1 / 255] * 3


def test_repr_and_describe_are_torchvisions():
    t = models.EfficientNet_B0_Weights.DEFAULT.transforms()
    assert repr(t) == ("ImageClassification(\n    crop_size=[224]\n    resize_size=[256]\n"
                       "    mean=[0.485, 0.456, 0.406]\n    std=[0.229, 0.224, 0.225]\n"
                       "    interpolation=InterpolationMode.BICUBIC\n)")
    assert t.describe() == (
        "Accepts ``PIL.Image``, batched ``(B, C, H, W)`` and single ``(C, H, W)`` image "
        "``torch.Tensor`` objects. The images are resized to ``resize_size=[256]`` using "
        "``interpolation=InterpolationMode.BICUBIC``, followed by a central crop of "
        "``crop_size=[224]``. Finally the values are first rescaled to ``[0.0, 1.0]`` and "
        "then normalized using ``mean=[0.485, 0.456, 0.406]`` and "
        "``std=[0.229, 0.224, 0.225]``.")


def _expected(resized):
    """Center crop 224 of a resized [H, W, 3] float array in [0, 1], normalized, as CHW."""
    h, w = resized.shape[:2]
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    crop = resized[top:top + 224, left:left + 224]
    return ((crop - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)


def test_preset_on_a_pil_image_is_pillows_resize_then_crop():
    arr = np.random.default_rng(0).integers(0, 256, (60, 301, 3), dtype=np.uint8)
    img = Image.fromarray(arr).resize((301, 300), Image.NEAREST)  # h=300 < w=301
    out = models.ResNet50_Weights.IMAGENET1K_V2.transforms()(img)
    assert out.dtype == tracecomp.float32 and tuple(out.shape) == (3, 224, 224)
    # the smaller edge (300) to 232, the other int(232 * 301 / 300) = 232 as torchvision
    resized = np.array(img.resize((232, 232), Image.BILINEAR)) / 255.0
    np.testing.assert_allclose(out.numpy(), _expected(resized), atol=1e-5)


def test_preset_on_float_tensors_is_torchs_antialiased_resize():
    x = np.random.default_rng(1).random((2, 3, 250, 300), dtype=np.float32)  # a batch
    out = models.ResNet18_Weights.DEFAULT.transforms()(tracecomp.tensor(x))
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=(256, 307),
                                          mode="bilinear", antialias=True,
                                          align_corners=False).numpy()
    expected = np.stack([_expected(r.transpose(1, 2, 0)) for r in ref])
    assert tuple(out.shape) == (2, 3, 224, 224)
    # float32 resampling sums in another order than torch's (~2e-5 before the 1/std scale)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-4)


def test_preset_on_uint8_tensors_scales_to_unit_range():
    x = np.full((3, 240, 240), 255, np.uint8)
    out = models.ViT_B_16_Weights.DEFAULT.transforms()(tracecomp.from_numpy(x))
    np.testing.assert_allclose(out.numpy()[:, 0, 0], (1 - np.array(MEAN)) / np.array(STD),
                               rtol=1e-6)


def test_version_is_torchvisions_api_version():
    v = tracecomp.vision.__version__
    assert v == "0.28.0+tracecomp"
    # what programs do with it
    assert tuple(int(p) for p in v.split("+")[0].split(".")[:2]) >= (0, 13)
