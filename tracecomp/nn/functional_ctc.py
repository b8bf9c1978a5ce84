"""ctc_loss for tracecomp.nn.functional: torch's argument forms and checks around the
ctc_loss primitive (ops/ctc.py), and torch's reductions of its per-sequence losses.

The lengths are both tensors or both sequences of ints (torch's two overloads); sequences
become int64 constants, so compiled code takes them as part of the graph and tensors as
its inputs. log_probs is (T, N, C), or (T, C) for one sequence; targets (N, S) padded, or
1-D: the sequences' labels one after the other (an unbatched call's (S,) targets are that).
"""
import numpy as np

from .. import composite as C
from .. import dtypes
from ..creation import tensor
from ..dtypes import np_kind
from ..errors import DTypeNotImplemented, ShapeError
from ..ops import ctc as _ctc
from ..ops import elementwise as ew
from ..tensor import Tensor

_OVERLOADS = ("(Tensor log_probs, Tensor targets, tuple of ints input_lengths, tuple of ints "
              "target_lengths, int blank = 0, int reduction = Mean, bool zero_infinity = "
              "False) or (Tensor log_probs, Tensor targets, Tensor input_lengths, Tensor "
              "target_lengths, int blank = 0, int reduction = Mean, bool zero_infinity = False)")


def _lengths(name, lengths, device):
    """A lengths argument as an int64 tensor (a sequence's ints, or a 0-d tensor's)."""
    if isinstance(lengths, Tensor):
        if np_kind(lengths.dtype.np) not in "iu":
            raise ShapeError(f"{name} must be integral")
        return lengths if lengths.dtype.np == np.int64 else ew.cast(lengths, dtypes.int64)
    return tensor([int(v) for v in lengths], dtype=dtypes.int64, device=device)


def _check_forms(log_probs, targets, input_lengths, target_lengths):
    """torch's overloads: both lengths tensors, or both sequences; else its TypeError."""
    both = [isinstance(v, Tensor) for v in (input_lengths, target_lengths)]
    sequences = [isinstance(v, (tuple, list)) for v in (input_lengths, target_lengths)]
    if not (all(both) or all(sequences)) or not isinstance(log_probs, Tensor) or \
            not isinstance(targets, Tensor):
        got = ", ".join(type(v).__name__ if not isinstance(v, Tensor) else "Tensor"
                        for v in (log_probs, targets, input_lengths, target_lengths))
        raise TypeError(f"ctc_loss() received an invalid combination of arguments - got "
                        f"({got}, int, int, bool), but expected one of: {_OVERLOADS}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """torch.nn.functional.ctc_loss: the negative log likelihood of each target sequence
    under every alignment with its input; "mean" divides each by its target length (at least
    1) before the mean over the batch, as torch does."""
    if reduction not in ("none", "mean", "sum"):      # torch's _Reduction.get_enum
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _check_forms(log_probs, targets, input_lengths, target_lengths)
    input_lengths = _lengths("input_lengths", input_lengths, log_probs.device)
    target_lengths = _lengths("target_lengths", target_lengths, log_probs.device)
    batched = log_probs.ndim == 3
    lp = log_probs if batched else C.unsqueeze(log_probs, 1)
    if targets.dtype.np != np.int64:      # torch's targets.to(kLong): floats truncate
        targets = ew.cast(targets, dtypes.int64)
    if not lp.dtype.is_floating_point or lp.dtype.np.itemsize < 4:
        raise DTypeNotImplemented(f'"ctc_loss_cpu" not implemented for '
                                  f"'{dtypes.TORCH_NAMES[lp.dtype.np]}'")
    loss = _ctc.ctc_loss(lp, targets, input_lengths, target_lengths, blank, zero_infinity)
    if reduction == "mean":
        lengths = C.clamp(ew.cast(C.reshape(target_lengths, (-1,)), loss.dtype), min=1)
        return C.mean(loss / lengths)
    if reduction == "sum":
        return C.sum(loss)
    return loss if batched else C.squeeze(loss, 0)
