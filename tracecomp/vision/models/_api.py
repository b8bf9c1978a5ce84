"""The model registry and the weights interface of tracecomp.vision.models: `get_model`,
`list_models`, `get_model_weights`, `get_weight`, torchvision's `*_Weights` enums, and the
builder decorator that gives every constructor torchvision's `weights=` / `progress=` /
legacy `pretrained=` arguments.

There are no pretrained weights here: nothing is downloaded (there may be no network) and no
weights file ships with tracecomp. Asking for weights raises WeightsUnavailableError, which
says how to load a local torchvision checkpoint instead; a model is never handed back
untrained when weights were asked for.

What a weights entry records without its file is torchvision's: `.transforms()` (the
inference preset the weights were evaluated with: resize, crop, interpolation, normalization)
and `.meta` ("categories", "num_params", "min_size"; torchvision's metrics, recipe and file
sizes are left out).
"""
import enum
import fnmatch
import functools
import warnings
from dataclasses import dataclass, field

from ...errors import TracecompError
from ...user_code import user_stacklevel
from ..transforms._common import InterpolationMode
from ..transforms._presets import ImageClassification
from ._meta import _IMAGENET_CATEGORIES

_MODELS = {}  # builder name -> builder, filled by @builder in registration order


class WeightsUnavailableError(TracecompError, RuntimeError):
    """Pretrained weights were asked for (weights=..., pretrained=True): tracecomp has none
    and downloads nothing. A RuntimeError, as a failed download is in torchvision."""


@dataclass(frozen=True)
class Weights:
    """What torchvision's Weights records that a user may read without the file: where the
    checkpoint lives, its inference transforms (a callable making the preset) and its
    metadata."""
    url: str
    transforms: object = field(default=None, compare=False, hash=False)
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def get_state_dict(self, *args, **kwargs):
        raise WeightsUnavailableError(
            f"{self.url} cannot be downloaded: tracecomp.vision fetches nothing. " + _LOAD_HINT)


class WeightsEnum(enum.Enum):
    """torchvision's weights enum: members such as IMAGENET1K_V1 and DEFAULT (an alias), so
    `weights=ResNet18_Weights.DEFAULT` reads as in torchvision and then fails clearly in the
    builder instead of at import."""

    @classmethod
    def verify(cls, obj):
        """torchvision's lookup: None, a member, 'IMAGENET1K_V1' or 'ResNet18_Weights.DEFAULT'."""
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            name = obj.replace(cls.__name__ + ".", "")
            if name in cls.__members__:
                return cls.__members__[name]
        raise ValueError(f"Invalid Weights value {obj!r} for {cls.__name__}: expected one of "
                         f"{', '.join(cls.__members__)}")

    @property
    def url(self):
        return self.value.url

    @property
    def meta(self):
        return self.value.meta

    @property
    def transforms(self):
        """The preset's constructor: `weights.transforms()` builds it, as in torchvision."""
        return self.value.transforms

    def get_state_dict(self, *args, **kwargs):
        return self.value.get_state_dict(*args, **kwargs)

    def __repr__(self):
        return f"{type(self).__name__}.{self.name}"


def preset(crop_size, resize_size=256, interpolation="bilinear", **kwargs):
    """torchvision's `partial(ImageClassification, crop_size=..., ...)` of one weights entry
    (mean / std in kwargs where they are not ImageNet's)."""
    return functools.partial(ImageClassification, crop_size=crop_size,
                             resize_size=resize_size,
                             interpolation=InterpolationMode(interpolation), **kwargs)


def make_weights_enum(name, *members, default=None, min_size=(1, 1)):
    """A WeightsEnum subclass `name` with (member, url, num_params, transforms) rows, and a
    fifth element, a dict, where a row's meta differs from the family's (ImageNet categories,
    `min_size`). DEFAULT is the member named `default`, else the last row (torchvision's
    newest, best weights)."""
    values = {}
    for m, url, n, transforms, *extra in members:
        meta = {"categories": _IMAGENET_CATEGORIES, "num_params": n, "min_size": min_size,
                "file_name": url.rsplit("/", 1)[-1], **(extra[0] if extra else {})}
        values[m] = Weights(url, transforms, meta)
    values["DEFAULT"] = values[default or members[-1][0]]  # equal value: an Enum alias
    cls = WeightsEnum(name, values)
    cls.__module__ = "tracecomp.vision.models"
    return cls


_LOAD_HINT = ("Build the model untrained and load a torchvision checkpoint from a local file "
              "(tracecomp.load reads torch's .pth files):\n"
              "    model = tracecomp.vision.models.{builder}()\n"
              "    model.load_state_dict(tracecomp.load(\"{file}\"))\n"
              "Get {file} where there is network ({url}), or write one with torch: "
              "torch.save(torchvision.models.{builder}(weights=\"DEFAULT\").state_dict(), "
              "\"{file}\").")


def _refuse(builder, weights_enum, weights, how):
    """Raise WeightsUnavailableError for `weights` (a member, a string, True): resolved to a
    member where possible, so the message names the file to fetch."""
    try:
        member = weights_enum.verify(weights) if not isinstance(weights, bool) else None
    except ValueError:
        member = None
    member = member or weights_enum.DEFAULT
    hint = _LOAD_HINT.format(builder=builder, file=member.meta["file_name"], url=member.url)
    raise WeightsUnavailableError(
        f"{builder}({how}): tracecomp.vision has no pretrained weights and downloads nothing "
        f"(there may be no network), and it will not return an untrained model in their "
        f"place. {hint}")


def builder(weights_enum):
    """Register a model builder under its function name and give it torchvision's calling
    convention: keyword `weights=` (None only), `progress=` (ignored: nothing downloads),
    and the deprecated `pretrained=` (also positional, as torchvision's legacy interface
    still takes `resnet18(True)`). Everything else goes to the model class."""
    def deco(fn):
        name = fn.__name__

        @functools.wraps(fn)
        def wrapper(*args, weights=None, progress=True, **kwargs):
            if len(args) > 2:
                raise TypeError(f"{name}() takes keyword arguments only (weights=, "
                                f"num_classes=, ...), got {len(args)} positional")
            if args:  # torchvision: positional (pretrained, progress) is deprecated
                warnings.warn(f"Using 'pretrained' as positional parameter(s) of {name}() is "
                              f"deprecated; use keyword 'weights=' instead.", UserWarning,
                              stacklevel=user_stacklevel())
                kwargs.setdefault("pretrained", args[0])
            if "pretrained" in kwargs:
                pretrained = kwargs.pop("pretrained")
                warnings.warn("The parameter 'pretrained' is deprecated, please use "
                              "'weights' instead.", UserWarning, stacklevel=user_stacklevel())
                if pretrained:
                    _refuse(name, weights_enum, True, "pretrained=True")
            if weights is not None:
                _refuse(name, weights_enum, weights, f"weights={weights!r}")
            return fn(**kwargs)

        wrapper.weights_enum = weights_enum
        _MODELS[name] = wrapper
        return wrapper
    return deco


def list_models(module=None, include=None, exclude=None):
    """Sorted builder names, as torchvision.models.list_models: `include` / `exclude` are
    fnmatch patterns (a string or a list); `module` keeps builders defined in it."""
    names = [n for n, fn in _MODELS.items()
             if module is None or fn.__module__.startswith(getattr(module, "__name__", ""))]
    if include is not None:
        pats = [include] if isinstance(include, str) else include
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in pats)]
    if exclude is not None:
        pats = [exclude] if isinstance(exclude, str) else exclude
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in pats)]
    return sorted(names)


def get_model_builder(name):
    try:
        return _MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}: tracecomp.vision.models has "
                         f"{', '.join(list_models())}") from None


def get_model(name, **config):
    """Build model `name` with `config` passed to its builder (weights= included, which
    raises WeightsUnavailableError unless None)."""
    return get_model_builder(name)(**config)


def get_model_weights(name):
    """The weights enum class of a model, given its name or its builder."""
    fn = name if callable(name) else get_model_builder(name)
    return fn.weights_enum


def get_weight(name):
    """A weights member from its full name, 'ResNet50_Weights.IMAGENET1K_V1'."""
    enum_name, _, member = name.partition(".")
    for fn in _MODELS.values():
        if fn.weights_enum.__name__ == enum_name:
            return fn.weights_enum.verify(member)
    raise ValueError(f"Unknown weights enum {enum_name!r}")
