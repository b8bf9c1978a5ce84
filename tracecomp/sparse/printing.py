"""torch's repr of a sparse tensor:

    tensor(indices=tensor([[0, 1],
                           [2, 0]]),
           values=tensor([3., 4.]),
           size=(2, 3), nnz=2, layout=torch.sparse_coo)

Each part is a dense tensor's body (tensor_str.py), indented under its name; the suffixes
wrap at the line width, the first always on a new line for COO (torch's _add_suffixes).
"""
import numpy as np

from .. import dtypes
from ..tensor_str import _body, _with_suffixes

_INDENT = len("tensor(")


def _part(name, t):
    """`name=tensor([...])` with continuation lines indented under the elements."""
    prefix = f"{name}=tensor("
    a = t._host()
    text = _body(a, _INDENT + len(prefix))
    if a.size == 0:
        text += f", size={tuple(a.shape)}"
    return prefix + text + ")"


def sparse_repr(t):
    if not isinstance(t._vals._data, np.ndarray):
        return f"Tensor(traced sparse {list(t.shape)} {t.dtype}, layout={t.layout})"
    parts = [_part(name, getattr(t, attr)) for name, attr in t._repr_parts]
    text = "tensor(" + (",\n" + " " * _INDENT).join(parts)
    suffixes = [f"size={tuple(t.shape)}", f"nnz={t._nnz()}"]
    a = t._vals._data
    if a.dtype not in (dtypes.default_float(), dtypes.I64, dtypes.BOOL,
                       dtypes.complex_type(dtypes.default_float())):
        suffixes.append(f"dtype={t.dtype!r}")
    suffixes.append(f"layout={t.layout}")
    if t._vals._node is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn_name}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(text, suffixes, _INDENT, force_newline=t.is_sparse)
