"""The augmentation transform classes: RandomAffine, RandomPerspective, GaussianBlur,
RandomErasing, RandomInvert, RandomPosterize, RandomSolarize, RandomAdjustSharpness,
RandomAutocontrast and RandomEqualize, with torchvision's arguments, checks, parameter
draws (in torchvision's order, from tracecomp's generator) and reprs."""
import math
import numbers

import tracecomp as tc

from . import _functional_more as FM
from ._common import (
    InterpolationMode,
    check_probability,
    get_dimensions,
    interpolation_mode,
    is_tensor,
    rand_item,
    randint_item,
    setup_size,
    uniform_item,
)

__all__ = ["RandomAffine", "RandomPerspective", "GaussianBlur", "RandomErasing",
           "RandomInvert", "RandomPosterize", "RandomSolarize", "RandomAdjustSharpness",
           "RandomAutocontrast", "RandomEqualize"]


def _range(name, value, center=0.0, lengths=(2,)):
    """A number d -> (center - d, center + d) (d >= 0); a sequence of an allowed length as
    is (torchvision's _setup_angle / shear rule)."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        return [center - value, center + value]
    if not isinstance(value, (list, tuple)) or len(value) not in lengths:
        raise ValueError(f"{name} should be a sequence of length "
                         f"{' or '.join(map(str, lengths))}.")
    return [float(v) for v in value]


def _fill_for(img, fill):
    # tensors take one float per channel; PIL images take the fill as given
    if not is_tensor(img):
        return fill
    if isinstance(fill, (int, float)):
        return [float(fill)] * get_dimensions(img)[0]
    return [float(f) for f in fill]


class RandomAffine(tc.nn.Module):
    """Random rotation in degrees, translation (fractions of width / height), scale and
    shear, about the centre."""

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation=InterpolationMode.NEAREST, fill=0, center=None):
        super().__init__()
        self.interpolation = interpolation_mode(interpolation, "RandomAffine")
        self.degrees = _range("degrees", degrees)
        if translate is not None:
            if not isinstance(translate, (list, tuple)) or len(translate) != 2:
                raise ValueError("translate should be a sequence of length 2.")
            if any(not 0.0 <= t <= 1.0 for t in translate):
                raise ValueError("translation values should be between 0 and 1")
        self.translate = translate
        if scale is not None:
            if not isinstance(scale, (list, tuple)) or len(scale) != 2:
                raise ValueError("scale should be a sequence of length 2.")
            if any(s <= 0 for s in scale):
                raise ValueError("scale values should be positive")
        self.scale = scale
        self.shear = _range("shear", shear, lengths=(2, 4)) if shear is not None else None
        if fill is None:
            fill = 0
        elif not isinstance(fill, (numbers.Number, list, tuple)):
            raise TypeError("Fill should be either a sequence or a number.")
        self.fill = fill
        if center is not None and (not isinstance(center, (list, tuple))
                                   or len(center) != 2):
            raise ValueError("center should be a sequence of length 2.")
        self.center = center

    @staticmethod
    def get_params(degrees, translate, scale_ranges, shears, img_size):
        """(angle, (tx, ty), scale, (shear_x, shear_y)); img_size is [width, height]."""
        angle = uniform_item(degrees[0], degrees[1])
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            translations = (int(round(uniform_item(-max_dx, max_dx))),
                            int(round(uniform_item(-max_dy, max_dy))))
        else:
            translations = (0, 0)
        scale = uniform_item(*scale_ranges) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = uniform_item(shears[0], shears[1])
            if len(shears) == 4:
                shear_y = uniform_item(shears[2], shears[3])
        return angle, translations, scale, (shear_x, shear_y)

    def forward(self, img):
        _, height, width = get_dimensions(img)
        ret = self.get_params(self.degrees, self.translate, self.scale, self.shear,
                              [width, height])
        return FM.affine(img, *ret, interpolation=self.interpolation,
                         fill=_fill_for(img, self.fill), center=self.center)

    def __repr__(self):
        s = f"{self.__class__.__name__}(degrees={self.degrees}"
        for name in ("translate", "scale", "shear"):
            if getattr(self, name) is not None:
                s += f", {name}={getattr(self, name)}"
        if self.interpolation != InterpolationMode.NEAREST:
            s += f", interpolation={self.interpolation.value}"
        if self.fill != 0:
            s += f", fill={self.fill}"
        if self.center is not None:
            s += f", center={self.center}"
        return s + ")"


class RandomPerspective(tc.nn.Module):
    """With probability p, move each corner inwards by up to distortion_scale of half the
    width / height and warp the image to match."""

    def __init__(self, distortion_scale=0.5, p=0.5, interpolation=InterpolationMode.BILINEAR,
                 fill=0):
        super().__init__()
        check_probability("RandomPerspective", p)
        self.p = p
        self.interpolation = interpolation_mode(interpolation, "RandomPerspective")
        self.distortion_scale = distortion_scale
        if fill is None:
            fill = 0
        elif not isinstance(fill, (numbers.Number, list, tuple)):
            raise TypeError("Fill should be either a sequence or a number.")
        self.fill = fill

    @staticmethod
    def get_params(width, height, distortion_scale):
        """(startpoints, endpoints): the corners (tl, tr, br, bl) and where they go."""
        hw, hh = int(distortion_scale * (width // 2)), int(distortion_scale * (height // 2))
        topleft = [randint_item(0, hw + 1), randint_item(0, hh + 1)]
        topright = [randint_item(width - hw - 1, width), randint_item(0, hh + 1)]
        botright = [randint_item(width - hw - 1, width), randint_item(height - hh - 1, height)]
        botleft = [randint_item(0, hw + 1), randint_item(height - hh - 1, height)]
        startpoints = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        return startpoints, [topleft, topright, botright, botleft]

    def forward(self, img):
        fill = _fill_for(img, self.fill)
        if rand_item() < self.p:
            _, height, width = get_dimensions(img)
            start, end = self.get_params(width, height, self.distortion_scale)
            return FM.perspective(img, start, end, self.interpolation, fill)
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class GaussianBlur(tc.nn.Module):
    """Blur with kernel_size and a sigma drawn uniformly from the sigma range per call."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0)):
        super().__init__()
        self.kernel_size = setup_size(kernel_size, "GaussianBlur")
        for ks in self.kernel_size:
            if ks <= 0 or ks % 2 == 0:
                raise ValueError("Kernel size value should be an odd and positive number.")
        if isinstance(sigma, numbers.Number):
            if sigma <= 0:
                raise ValueError("If sigma is a single number, it must be positive.")
            sigma = (sigma, sigma)
        elif isinstance(sigma, (list, tuple)) and len(sigma) == 2:
            if not 0.0 < sigma[0] <= sigma[1]:
                raise ValueError("sigma values should be positive and of the form (min, max).")
        else:
            raise ValueError("sigma should be a single number or a list/tuple with length 2.")
        self.sigma = sigma

    @staticmethod
    def get_params(sigma_min, sigma_max):
        return uniform_item(sigma_min, sigma_max)

    def forward(self, img):
        sigma = self.get_params(self.sigma[0], self.sigma[1])
        return FM.gaussian_blur(img, list(self.kernel_size), [sigma, sigma])

    def __repr__(self):
        return f"{self.__class__.__name__}(kernel_size={self.kernel_size}, sigma={self.sigma})"


class RandomErasing(tc.nn.Module):
    """With probability p, set a random box (area fraction in scale, aspect ratio in ratio)
    to value: a number, one per channel, or 'random' (normal noise). Tensors only."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        super().__init__()
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, (tuple, list)) or not isinstance(ratio, (tuple, list)):
            raise TypeError("Scale and ratio should be sequences")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError("Scale and ratio should be of kind (min, max)")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p, self.scale, self.ratio = p, scale, ratio
        self.value, self.inplace = value, inplace

    @staticmethod
    def get_params(img, scale, ratio, value=None):
        """(i, j, h, w, v): the box and its contents; the whole image unchanged when ten
        tries find no box that fits."""
        img_c, img_h, img_w = img.shape[-3], img.shape[-2], img.shape[-1]
        area = img_h * img_w
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * uniform_item(scale[0], scale[1])
            aspect_ratio = math.exp(uniform_item(log_ratio[0], log_ratio[1]))
            h = int(round(math.sqrt(erase_area * aspect_ratio)))
            w = int(round(math.sqrt(erase_area / aspect_ratio)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = tc.empty([img_c, h, w], dtype=tc.float32).normal_()
            else:
                v = tc.tensor(value)[:, None, None]
            i = randint_item(0, img_h - h + 1)
            j = randint_item(0, img_w - w + 1)
            return i, j, h, w, v
        return 0, 0, img_h, img_w, img

    def forward(self, img):
        if rand_item() < self.p:
            if isinstance(self.value, (int, float)):
                value = [float(self.value)]
            elif isinstance(self.value, str):
                value = None
            else:
                value = [float(v) for v in self.value]
            channels = get_dimensions(img)[0]
            if value is not None and len(value) not in (1, channels):
                raise ValueError(f"If value is a sequence, it should have either a single "
                                 f"value or {channels} (number of input channels)")
            x, y, h, w, v = self.get_params(img, self.scale, self.ratio, value)
            return FM.erase(img, x, y, h, w, v.to(img.dtype), self.inplace)
        return img

    def __repr__(self):
        return (f"{self.__class__.__name__}(p={self.p}, scale={self.scale}, "
                f"ratio={self.ratio}, value={self.value}, inplace={self.inplace})")


class _RandomApplyOp(tc.nn.Module):
    """Apply one functional op with probability p (a draw per call)."""
    _op = None
    _arg = None  # the name of the op's one argument, if any

    def __init__(self, *args, p=0.5):
        super().__init__()
        check_probability(type(self).__name__, p)
        self.args, self.p = args, p

    def forward(self, img):
        if rand_item() < self.p:
            return getattr(FM, self._op)(img, *self.args)
        return img

    def __repr__(self):
        arg = f"{self._arg}={self.args[0]}, " if self._arg else ""
        return f"{self.__class__.__name__}({arg}p={self.p})"


class RandomInvert(_RandomApplyOp):
    _op = "invert"

    def __init__(self, p=0.5):
        super().__init__(p=p)


class RandomPosterize(_RandomApplyOp):
    _op, _arg = "posterize", "bits"

    def __init__(self, bits, p=0.5):
        super().__init__(bits, p=p)
        self.bits = bits


class RandomSolarize(_RandomApplyOp):
    _op, _arg = "solarize", "threshold"

    def __init__(self, threshold, p=0.5):
        super().__init__(threshold, p=p)
        self.threshold = threshold


class RandomAdjustSharpness(_RandomApplyOp):
    _op, _arg = "adjust_sharpness", "sharpness_factor"

    def __init__(self, sharpness_factor, p=0.5):
        super().__init__(sharpness_factor, p=p)
        self.sharpness_factor = sharpness_factor


class RandomAutocontrast(_RandomApplyOp):
    _op = "autocontrast"

    def __init__(self, p=0.5):
        super().__init__(p=p)


class RandomEqualize(_RandomApplyOp):
    _op = "equalize"

    def __init__(self, p=0.5):
        super().__init__(p=p)
