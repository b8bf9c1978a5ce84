"""nn.utils.rnn: variable-length batches for the recurrent layers, with torch's names.

A PackedSequence holds a batch of sequences time step by time step: `data` stacks, for
t = 0, 1, ..., the rows of the sequences still running at t (longest first), and
`batch_sizes[t]` says how many there are. The recurrent layers consume it without ever
touching padding. Everything here is built from differentiable tensor ops (packing and
unpacking are one gather each, padding is pad + stack), so gradients flow through; the lengths
and batch sizes are Python-side facts (torch keeps them on the CPU too), so code that
packs inside `tracecomp.compile` must know them at trace time (a list of ints, or a
tensor that is not an argument of the compiled function).
"""
from collections import namedtuple

import numpy as np

from ... import dtypes
from ...composite import cat, stack
from ...creation import full
from ...creation import tensor as _tensor
from ...errors import TraceError, fmt_shape
from ...ops.movement import pad as _pad
from ...tensor import Tensor
from ...torch_args import scalar_name

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]

_ONNX_HINT = ("`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
              "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
              "pack_sequence to sidestep this requirement if you do not need ONNX "
              "exportability.")


def concrete_ints(t, what):
    """The values of an integer tensor (or sequence) as a list of Python ints. Inside
    compiled code they must be known at trace time: a traced argument is an error."""
    if isinstance(t, Tensor):
        if not isinstance(t._data, np.ndarray):
            raise TraceError(
                f"{what} is a traced tensor: the recurrent utilities need its values (the "
                f"sequence lengths decide the shapes) while tracing. Pass the lengths as a "
                f"list of ints, or pack outside the compiled function and pass it the "
                f"PackedSequence.")
        return [int(v) for v in np.asarray(t._data).reshape(-1)]
    return [int(v) for v in np.asarray(t).reshape(-1)]


class PackedSequence(namedtuple("PackedSequence_",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """PackedSequence(data, batch_sizes, sorted_indices=None, unsorted_indices=None): made
    by pack_padded_sequence / pack_sequence, not by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """Converts `data` (dtype; the only device is the CPU); the indices stay as they are."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self, *args, **kwargs):
        return self.to(*args, **kwargs)

    def double(self):
        return self.to(dtype=dtypes.float64)

    def float(self):
        return self.to(dtype=dtypes.float32)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def bfloat16(self):
        return self.to(dtype=dtypes.bfloat16)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def int(self):
        return self.to(dtype=dtypes.int32)

    def short(self):
        return self.to(dtype=dtypes.int16)

    def char(self):
        return self.to(dtype=dtypes.int8)

    def byte(self):
        return self.to(dtype=dtypes.uint8)

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    if permutation is None:
        return None
    perm = concrete_ints(permutation, "invert_permutation's permutation")
    inverse = np.empty(len(perm), dtype=np.int64)
    inverse[perm] = np.arange(len(perm))
    return _tensor(inverse)


def _rows(x, index):
    """x[index] along dim 0 for an int64 index array of Python-side positions: one gather,
    whose gradient is one scatter (slicing piece by piece would pad every piece's
    gradient back to x's full size)."""
    return x[_tensor(np.asarray(index, dtype=np.int64))]


def _lengths_list(lengths):
    if isinstance(lengths, Tensor) and lengths.dim() != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got "
                           f"{lengths.dim()}D cpu {scalar_name(lengths.dtype)} tensor")
    return concrete_ints(lengths, "pack_padded_sequence's `lengths`")


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded (T, B, *) batch (B, T, * with batch_first) of sequences with the
    given lengths, longest first unless enforce_sorted=False."""
    lengths = _lengths_list(lengths)
    batch_dim = 0 if batch_first else 1
    if input.dim() <= batch_dim:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[-{max(input.dim(), 1)}, {max(input.dim(), 1) - 1}], but got 1)")
    steps, batch = input.shape[1 - batch_dim], input.shape[batch_dim]
    order, sorted_indices = list(range(len(lengths))), None
    if not enforce_sorted:
        order.sort(key=lambda i: -lengths[i])          # stable, as torch's sort on the CPU
        lengths = [lengths[i] for i in order]
        sorted_indices = _tensor(np.asarray(order, dtype=np.int64))
    if len(lengths) != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{len(lengths)} (batch_size={batch})")
    if any(n <= 0 for n in lengths):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if any(a < b for a, b in zip(lengths, lengths[1:])):
        raise RuntimeError(_ONNX_HINT)
    if lengths[0] > steps:
        raise RuntimeError(f"pack_padded_sequence: the longest length ({lengths[0]}) exceeds "
                           f"the time dimension ({steps}) of the padded input of shape "
                           f"{fmt_shape(input.shape)} (batch_first={batch_first})")
    batch_sizes = [sum(1 for n in lengths if n > t) for t in range(lengths[0])]
    # row (t, sorted position s) of the packed data is input[t, order[s]] (time first)
    flat = input.reshape((steps * batch,) + tuple(input.shape[2:]))
    position = (lambda t, b: b * steps + t) if batch_first else (lambda t, b: t * batch + b)
    data = _rows(flat, [position(t, order[s]) for t, bs in enumerate(batch_sizes)
                        for s in range(bs)])
    return PackedSequence(data, _tensor(np.asarray(batch_sizes, dtype=np.int64)),
                          sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: (padded batch, lengths), in the original batch order."""
    batch_sizes = concrete_ints(sequence.batch_sizes, "PackedSequence.batch_sizes")
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {steps}")
        steps = total_length
    batch = batch_sizes[0]
    order = list(range(batch))
    if sequence.unsorted_indices is not None:
        order = concrete_ints(sequence.unsorted_indices, "PackedSequence.unsorted_indices")
    starts = np.concatenate([[0], np.cumsum(batch_sizes)])
    data = sequence.data
    pad_row = len(data)                 # where padding reads from: one row appended below
    where = np.full((steps, batch), pad_row, dtype=np.int64)
    for t, bs in enumerate(batch_sizes):
        for b, s in enumerate(order):
            if s < bs:
                where[t, b] = starts[t] + s
    if (where == pad_row).any():
        fill = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
        data = cat([data, fill], 0)
    padded = _rows(data, where.T if batch_first else where)
    lengths = np.asarray([sum(1 for bs in batch_sizes if bs > s) for s in order],
                         dtype=np.int64)
    return padded, _tensor(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (max L, B, *) (or (B, max L, *)), padded
    with padding_value on the right (or the left)."""
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    elif not hasattr(sequences, "__iter__"):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg "
                           f"of type: {type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    first = sequences[0]
    for k, s in enumerate(sequences):
        if s.dim() == 0:
            raise RuntimeError(f"pad_sequence: each sequence needs a time dimension (dim 0), "
                               f"but sequence {k} is a 0-d tensor")
        if s.dim() != first.dim():
            raise RuntimeError(f"pad_sequence: every sequence needs the shape (L, "
                               f"*{list(first.shape[1:])}) of sequence 0, but sequence {k} has "
                               f"shape {fmt_shape(s.shape)}")
        for d, (a, b) in enumerate(zip(first.shape[1:], s.shape[1:]), 1):
            if a != b:
                raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor "
                                   f"b ({b}) at non-singleton dimension {d}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        lo_hi = (0, extra) if padding_side == "right" else (extra, 0)
        s = s.to(first.dtype)
        padded.append(_pad(s, ((*lo_hi, 0),) + ((0, 0, 0),) * (s.dim() - 1), padding_value)
                      if extra else s)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences of a padded batch, each cut to its length."""
    lengths = concrete_ints(lengths, "unpad_sequence's `lengths`")
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[b, :n] for b, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences of shapes (L_i, *) (longest first unless enforce_sorted is
    False)."""
    lengths = [int(v.size(0)) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences a PackedSequence holds, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
