"""`tracecomp.save` of a dataclass instance, and loading it back, with no pickle: the
model config a checkpoint keeps beside the weights (build-nanogpt's `{'model': ...,
'config': raw_model.config, 'step': step}`, a GPTConfig dataclass), which torch.save
pickles. Saved as data:

    ["dataclass", "package.module:Class", [[field, value node]...]]

Loading finds the class among the modules already imported (saved_module.find_class: a
file never makes Python import anything), checks that it is a dataclass, and builds it
from its fields: those its __init__ takes through __init__, the others set after, as
object.__setattr__ sets them (a frozen dataclass too). The field values are the format's
own nodes (numbers, strings, tensors, other dataclasses, ...).
"""
import dataclasses

from .errors import SerializationError


def is_dataclass_instance(obj):
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def encode(encoder, obj, path):
    cls = type(obj)
    if "<locals>" in cls.__qualname__:
        raise SerializationError(f"tracecomp.save: {path} is a {cls.__qualname__}, a "
                                 f"dataclass defined inside a function, which loading "
                                 f"cannot find; define it at module level")
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return ["dataclass", f"{cls.__module__}:{cls.__qualname__}",
            encoder.items(fields, path)]


def decode(decoder, args, depth):
    from .saved_module import find_class
    if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], list):
        raise SerializationError(f"{decoder.name}: malformed header: dataclass node")
    cls = find_class(args[0], decoder.name, object, "dataclass")
    if not dataclasses.is_dataclass(cls):
        raise SerializationError(f"{decoder.name}: {args[0].replace(':', '.')} is not a "
                                 f"dataclass in the running program")
    values = dict(decoder._pairs(args[1], depth))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise SerializationError(f"{decoder.name}: the saved {cls.__qualname__} has fields "
                                 f"{unknown} its class in the running program lacks")
    obj = cls(**{k: v for k, v in values.items() if fields[k].init})
    for k, v in values.items():
        if not fields[k].init:
            object.__setattr__(obj, k, v)
    return obj
