"""torch.Size: the shape of a tensor, a tuple of ints."""


class Size(tuple):
    """torch.Size: a tuple of ints that prints as torch.Size([2, 3]). Slicing, concatenating
    and repeating one gives a Size, as torch's does (`LayerNorm(x.shape[2:])` in labml_nn
    asserts it)."""

    def __repr__(self):
        return f"tracecomp.Size({list(self)})"

    def __getitem__(self, index, _item=tuple.__getitem__):
        if index.__class__ is slice:
            return Size(_item(self, index))
        return _item(self, index)

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n
