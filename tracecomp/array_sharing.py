"""torch.asarray: a tensor from a tensor, a numpy array, a number or a (nested) sequence,
sharing memory where it can (`copy=None`), always copying (`copy=True`), or refusing to
copy (`copy=False`), as torch's does."""
import numpy as np

from . import dtypes
from .creation import as_tensor, from_numpy, tensor
from .ops.public import public
from .tensor import Tensor


def _aliasable(data, dtype):
    held = data._data.dtype if isinstance(data, Tensor) else data.dtype
    return dtype is None or dtypes.to_np(dtype) == held


@public("torch")
def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """obj as a tensor: a tensor or numpy array of the same dtype is shared (a tensor is
    itself, as torch returns it), anything else is a new tensor."""
    shares = isinstance(obj, (Tensor, np.ndarray)) and _aliasable(obj, dtype)
    if copy is False and not shares:
        kind = "tensor" if isinstance(obj, Tensor) else "array"
        held = obj.dtype if isinstance(obj, (Tensor, np.ndarray)) else type(obj).__name__
        raise ValueError(f"can't alias {kind} with dtype '{held}' into dtype '{dtype}': "
                         f"asarray(..., copy=False) cannot copy; pass copy=None to allow it")
    if copy or not shares:
        out = tensor(obj.detach() if isinstance(obj, Tensor) else obj, dtype=dtype,
                     device=device)
    elif isinstance(obj, Tensor):
        out = as_tensor(obj, device=device)
    else:
        out = as_tensor(from_numpy(obj), device=device)
    if requires_grad:
        out.requires_grad_(True)
    return out
