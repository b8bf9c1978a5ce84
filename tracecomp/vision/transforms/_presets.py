"""The inference transforms a weights entry hands out (torchvision.transforms._presets):
`ResNet50_Weights.IMAGENET1K_V2.transforms()` is an ImageClassification with the resize,
crop, interpolation and normalization those weights were evaluated with.

As in torchvision this is private API: programs reach it through `weights.transforms()`.
Only ImageClassification is provided (the classification models are the ones we have).
"""
import tracecomp as tc

from . import functional as F
from ._common import InterpolationMode, is_tensor

__all__ = ["ImageClassification"]


class ImageClassification(tc.nn.Module):
    """Resize the smaller edge to resize_size, center-crop crop_size, scale to float in
    [0, 1], normalize by mean / std. Takes PIL images and (C, H, W) or (B, C, H, W) tensor
    images (uint8, or float already in [0, 1]); returns a float32 tensor."""

    def __init__(self, *, crop_size, resize_size=256, mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225), interpolation=InterpolationMode.BILINEAR,
                 antialias=True):
        super().__init__()
        # one-element lists, as torchvision keeps them (its repr prints them so)
        self.crop_size = [crop_size]
        self.resize_size = [resize_size]
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = interpolation
        self.antialias = antialias

    def forward(self, img):
        img = F.resize(img, self.resize_size, interpolation=self.interpolation,
                       antialias=self.antialias)
        img = F.center_crop(img, self.crop_size)
        if not is_tensor(img):
            img = F.pil_to_tensor(img)
        img = F.convert_image_dtype(img, tc.float32)
        return F.normalize(img, mean=self.mean, std=self.std)

    def __repr__(self):
        return (f"{self.__class__.__name__}("
                f"\n    crop_size={self.crop_size}"
                f"\n    resize_size={self.resize_size}"
                f"\n    mean={self.mean}"
                f"\n    std={self.std}"
                f"\n    interpolation={self.interpolation}"
                "\n)")

    def describe(self):
        return ("Accepts ``PIL.Image``, batched ``(B, C, H, W)`` and single ``(C, H, W)`` "
                "image ``torch.Tensor`` objects. "
                f"The images are resized to ``resize_size={self.resize_size}`` using "
                f"``interpolation={self.interpolation}``, followed by a central crop of "
                f"``crop_size={self.crop_size}``. Finally the values are first rescaled to "
                f"``[0.0, 1.0]`` and then normalized using ``mean={self.mean}`` and "
                f"``std={self.std}``.")
