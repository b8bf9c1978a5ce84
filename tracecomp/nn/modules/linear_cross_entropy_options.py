"""nn.LinearCrossEntropyOptions: torch's settings for F.linear_cross_entropy's chunked path
(nn/functional.py), checked as torch checks them; at torch's path,
torch.nn.modules.linear_cross_entropy_options.

torch's chunked implementation never holds all (N, C) logits at once. Here the reference
computation runs whatever the options (the same values and gradients; our tape keeps each
chunk's logits for backward anyway, so chunking would save no memory); where torch says it
ignores them (K-dim, label smoothing, ...), linear_cross_entropy gives the same warning.
"""
import dataclasses

from ... import dtypes


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """torch.nn.LinearCrossEntropyOptions: the chunked path's settings (accepted and
    checked; linear_cross_entropy computes the reference path with any of them)."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None

    def __post_init__(self):
        if self.acc_policy not in {"auto", "accurate", "balanced", "compact"}:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            factor = factor if sep else "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        size = self.batch_chunk_size
        if not (size is None or (isinstance(size, int) and size > 0)):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {size!r}")
        allowed = (dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64)
        if self.acc_dtype is not None and self.acc_dtype not in allowed:
            raise ValueError(f"acc_dtype must be one of {{None, torch.float16, torch.bfloat16, "
                             f"torch.float32, torch.float64}}, got {self.acc_dtype!r}. Pass "
                             f"acc_dtype=None to let the op pick automatically.")

