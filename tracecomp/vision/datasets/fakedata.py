"""FakeData: a dataset of random images, torchvision.datasets.FakeData's API, for trying a
pipeline without any file.

Item i is drawn from a generator seeded with i + random_offset, so an index always gives
the same image and target and reading items leaves the global random state alone (as
torchvision does by saving and restoring it). The numbers are tracecomp's (numpy PCG64), not
torch's: the same seed gives other pixels than torchvision.
"""
import numpy as np

from ...creation import randint, randn
from ...generator import Generator
from .vision import VisionDataset, image_from_array, transformed


def _to_pil(img):
    """A PIL image of a float [C, H, W] (or [H, W]) array of standard-normal values, as
    torchvision's ToPILImage makes it: x * 255 converted to uint8 as torch's .byte() does
    (truncation toward zero, then modulo 256); mode L, LA, RGB or RGBA for 1 to 4 channels."""
    arr = ((img * 255).astype(np.int64) & 0xFF).astype(np.uint8)
    if arr.ndim == 2:
        return image_from_array(arr)
    if arr.ndim != 3 or not 1 <= arr.shape[0] <= 4:
        raise ValueError(f"FakeData: image_size {tuple(img.shape)} is not (C, H, W) with 1 to "
                         f"4 channels, which a PIL image needs")
    arr = arr.transpose(1, 2, 0)
    return image_from_array(arr[:, :, 0] if arr.shape[2] == 1 else arr)


class FakeData(VisionDataset):
    """`size` random images of shape image_size (C, H, W) as PIL images, with random targets
    in [0, num_classes)."""

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        gen = Generator()
        gen.manual_seed(index + self.random_offset)
        img = randn(*self.image_size, generator=gen).numpy()
        # a 0-d tensor, as torchvision passes to target_transform; the item holds an int
        target = randint(0, self.num_classes, size=(1,), generator=gen)[0]
        img, target = transformed(self, _to_pil(img), target)
        return img, (target.item() if hasattr(target, "item") else target)

    def __len__(self):
        return self.size
