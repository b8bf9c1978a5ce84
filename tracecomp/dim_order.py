"""Tensor.dim_order (the dims from outermost to innermost in memory, torch's rule) and
resize_as_ (x.resize_(other.shape), as torch.resize_as_ and Tensor.resize_as_).

dim_order follows torch's: a row-major tensor is (0, 1, ..., n-1) and a channels-last one
(0, 2, ..., n-1, 1) outright; otherwise the dims are insertion-sorted by stride, where a
stride-0 dim compares equal to every other (it may sit anywhere) and of two equal strides
the longer dim is the outer one. ambiguity_check=True refuses a tensor whose order is not
unique (a size-1 dim, two equal strides) unless it is exactly one of the listed memory
formats, as torch does.
"""
from . import inplace_shape
from .memory_format import channels_last, channels_last_3d, memory_format
from .ops.public import public

_NOT_UNIQUE = ("The tensor does not have unique dim order, or cannot map to exact one of the "
               "given memory formats.")


def _order(x, check):
    """torch's logical-to-physical permutation of x's dims; with `check`, None when the
    strides leave it ambiguous."""
    n = x.ndim
    if n <= 1:
        return list(range(n))
    row_major = x.is_contiguous()
    last = {4: channels_last, 5: channels_last_3d}.get(n)
    channels = last is not None and x.is_contiguous(memory_format=last)
    if row_major and not channels:
        return list(range(n))
    if channels and not row_major:
        return [0, *range(2, n), 1]
    strides, shape = x.stride(), x.shape

    def outer(a, b):
        """1 when dim a lies outside dim b, -1 inside, 0 when either may."""
        sa, sb = strides[a], strides[b]
        if sa == 0 or sb == 0:
            return 0
        if sa == sb:
            return 0 if _at_least(shape[b], shape[a]) else 1
        if _at_least(sb, sa):
            return -1
        return 1 if _at_least(sa, sb) else 0

    order = list(reversed(range(n)))     # sorted innermost first, reversed at the end
    for i in range(1, n):
        moving = i
        for j in reversed(range(i)):
            verdict = outer(order[j], order[moving])
            if verdict > 0:
                order[j], order[moving] = order[moving], order[j]
                moving = j
            elif verdict < 0:
                break
    if check and any(outer(a, b) != -1 for a, b in zip(order, order[1:])):
        return None
    return list(reversed(order))


def _at_least(a, b):
    return b == 0 or (a != 0 and (a >= b or a % b == 0))


@public("Tensor")
def dim_order(self, *, ambiguity_check=False):
    if not isinstance(ambiguity_check, bool) and not (
            isinstance(ambiguity_check, list)
            and all(isinstance(f, memory_format) for f in ambiguity_check)):
        raise TypeError("The ambiguity_check argument must be a bool or a list of memory "
                        "formats.")
    formats = ambiguity_check if isinstance(ambiguity_check, list) else []
    if ambiguity_check is not False:
        strides = self.stride()
        several = any(a == b for a, b in zip(strides, strides[1:])) or 1 in self.shape
        matching = sum(bool(self.is_contiguous(memory_format=f)) for f in formats)
        if several and matching != 1:
            raise RuntimeError(_NOT_UNIQUE)
    order = _order(self, bool(ambiguity_check))
    if order is None:
        raise RuntimeError("The tensor does not have unique dim order.")
    return tuple(order)


@public("torch", "Tensor")
def resize_as_(input, the_template, *, memory_format=None):  # noqa: A002
    """input.resize_(the_template's shape)."""
    return inplace_shape.resize_(input, tuple(the_template.shape),
                                 memory_format=memory_format)

