"""torch.return_types: the named tuples ops with several results return (x.max(1) gives
values and indices, torch.linalg.svd U, S and Vh), one class per op, named as torch
names it and printed as torch prints it:

    tracecomp.return_types.max(
    values=tensor([3., 4.]),
    indices=tensor([1, 0]))

`structseq(name, fields)` makes (once) and returns the class of op `name`; each is also an
attribute of this module, as torch's are (isinstance(r, torch.return_types.max)).
"""
import collections
import sys


def _repr(self):
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"{type(self).__module__}.{type(self).__name__}(\n{fields})"


def structseq(name, fields):
    """The named-tuple class of op `name` with `fields`, made on first use."""
    module = sys.modules[__name__]
    cls = getattr(module, name, None)
    if cls is None:
        cls = collections.namedtuple(name, fields, module=__name__)
        cls.__repr__ = cls.__str__ = _repr
        setattr(module, name, cls)
    elif list(cls._fields) != list(fields):
        raise ValueError(f"return_types.{name} has fields {cls._fields}, not {fields}")
    return cls
