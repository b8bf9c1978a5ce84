"""Making sparse tensors: torch.sparse_coo_tensor, sparse_csr_tensor, sparse_csc_tensor
and the legacy constructors torch.sparse.FloatTensor(indices, values, size) & co
(pygcn's).

Indices are checked against the size when their values are known (torch checks only when
asked, check_invariants=True, and otherwise may crash later; a clear error here is
cheaper). The values keep their history: a sparse tensor made of values that require grad
passes gradients back to them.
"""
import warnings

import numpy as np

from .. import dtypes
from ..creation import as_tensor, zeros
from ..devices import check_placement
from ..errors import TraceError
from ..legacy_types import NAMES as LEGACY_NAMES
from ..tensor import Tensor
from ..user_code import user_line, user_stacklevel
from .coo import SparseCOO
from .csc import SparseCSC
from .csr import SparseCSR


def _values(values, dtype, requires_grad):
    vals = values if isinstance(values, Tensor) else as_tensor(values)
    if dtype is not None and vals.dtype != dtype:
        vals = vals.to(dtype)
    if requires_grad:       # a leaf of the sparse tensor's own (base.py)
        vals = vals.detach().requires_grad_(True)
    return vals


def _index(indices, what):
    """An index tensor as int64 (torch converts integer and floating ones, truncating)."""
    idx = indices if isinstance(indices, Tensor) else as_tensor(indices)
    if idx.dtype == dtypes.bool_ or idx.is_complex():
        raise RuntimeError(f"{what} must be an int64 tensor, got {idx.dtype}")
    return idx.long() if idx.dtype != dtypes.int64 else idx


def _known(t):
    return t._data if type(t._data) is np.ndarray else None


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None,
                      pin_memory=False, requires_grad=False, check_invariants=None,
                      is_coalesced=None):
    """A COO tensor: values[k] at position indices[:, k]. Without size, each sparse dim is
    one past its largest index and the dense dims are the values'."""
    check_placement(device)
    idx = _index(indices, "indices")
    vals = _values(values, dtype, False)
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(idx.shape)}")
    sparse_dim, nnz = idx.shape
    if vals.ndim == 0 or vals.shape[0] != nnz:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: "
                           f"{nnz}, nnz from values: {vals.shape[0] if vals.ndim else 0}")
    known = _known(idx)
    if size is None:
        if known is None:
            raise TraceError(f"sparse_coo_tensor without a size inside compiled code"
                             f"{user_line()}: the size comes from the indices' values, "
                             f"which are traced. Fix: pass size=")
        size = tuple(int(known[d].max()) + 1 if nnz else 0 for d in range(sparse_dim)) + \
            tuple(vals.shape[1:])
    size = tuple(int(n) for n in size)
    if len(size) != sparse_dim + vals.ndim - 1:
        raise RuntimeError(f"'len(size) == sparse_dim + dense_dim' is not satisfied: "
                           f"len(size) = {len(size)}, sparse_dim = {sparse_dim}, dense_dim = "
                           f"{vals.ndim - 1}")
    if tuple(vals.shape[1:]) != size[sparse_dim:]:
        raise RuntimeError(f"values has incorrect size, expected {[nnz, *size[sparse_dim:]]}, "
                           f"got {list(vals.shape)}")
    if known is not None and nnz:
        _check_bounds(known, size)
    out = SparseCOO.make(idx, vals, size, bool(is_coalesced) or nnz <= 1)
    return out.requires_grad_(True) if requires_grad else out


def _check_bounds(known, size):
    for d in range(known.shape[0]):
        low, high = int(known[d].min()), int(known[d].max())
        if low < 0:
            raise RuntimeError(f"found negative index {low} for dim {d}")
        if high >= size[d]:
            raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is "
                               f"{size[d]} but found index {high}")


# the compressed layouts' words: (op, compressed name, plain name, compressed axis, its
# noun, the plain axis's count name) -- CSR compresses rows, CSC columns
_CSR = ("sparse_csr_tensor", "crow_indices", "col_indices", 0, "rows", "ncols")
_CSC = ("sparse_csc_tensor", "ccol_indices", "row_indices", 1, "columns", "nrows")


def sparse_csr_tensor(crow_indices, col_indices, values, size=None, *, dtype=None,
                      device=None, pin_memory=False, requires_grad=False,
                      check_invariants=None):
    """A CSR matrix: row r's entries are values[crow[r]:crow[r+1]] at columns col[...]."""
    check_placement(device)
    return _compressed(_CSR, SparseCSR, crow_indices, col_indices, values, size, dtype,
                       requires_grad)


def sparse_csc_tensor(ccol_indices, row_indices, values, size=None, *, dtype=None,
                      device=None, pin_memory=False, requires_grad=False,
                      check_invariants=None):
    """A CSC matrix: column c's entries are values[ccol[c]:ccol[c+1]] at rows row[...]."""
    check_placement(device)
    return _compressed(_CSC, SparseCSC, ccol_indices, row_indices, values, size, dtype,
                       requires_grad)


def _compressed(words, cls, compressed_indices, plain_indices, values, size, dtype,
                requires_grad):
    op, cname, pname, axis, noun, count = words
    comp, plain = _index(compressed_indices, cname), _index(plain_indices, pname)
    vals = _values(values, dtype, False)
    if comp.ndim != 1 or plain.ndim != 1 or vals.ndim != 1:
        raise RuntimeError(f"{op}: expected 1-D {cname}, {pname} and values (tracecomp's "
                           f"compressed layouts hold a matrix without batch or dense dims), "
                           f"got shapes {list(comp.shape)}, {list(plain.shape)}, "
                           f"{list(vals.shape)}")
    if plain.shape[0] != vals.shape[0]:
        raise RuntimeError(f"{pname} and values must have the same number of elements, but "
                           f"got {pname}.numel(): {plain.shape[0]}, values.numel(): "
                           f"{vals.shape[0]}")
    known_comp, known_plain = _known(comp), _known(plain)
    if size is None:
        if known_plain is None:
            raise TraceError(f"{op} without a size inside compiled code{user_line()}: the "
                             f"size comes from the indices' values, which are traced. Fix: "
                             f"pass size=")
        sizes = [comp.shape[0] - 1, int(known_plain.max()) + 1 if len(known_plain) else 0]
        size = sizes if axis == 0 else sizes[::-1]
    size = tuple(int(n) for n in size)
    if len(size) != 2 or comp.shape[0] != size[axis] + 1:
        raise RuntimeError(f"{cname}.shape[-1] must be equal to the number of {noun} + 1 "
                           f"(={size[axis] + 1 if len(size) == 2 else '?'}), but got "
                           f"{comp.shape[0]}")
    bound = size[1 - axis]
    if known_comp is not None:      # torch's invariants, checked in its order
        steps = np.diff(known_comp)
        for broken, rule in ((known_comp[0] != 0, f"{cname}[..., 0] == 0"),
                             (known_comp[-1] != plain.shape[0], f"{cname}[..., -1] == nnz"),
                             (np.any((steps < 0) | (steps > bound)),
                              f"0 <= {cname}[..., 1:] - {cname}[..., :-1] <= {count}")):
            if broken:
                raise RuntimeError(f"`{rule}` is not satisfied. (got {cname} "
                                   f"{known_comp.tolist()}, nnz {plain.shape[0]})")
    if known_plain is not None and len(known_plain) and (known_plain.min() < 0 or
                                                         known_plain.max() >= bound):
        raise RuntimeError(f"`0 <= {pname} < {count}` is not satisfied ({count} = {bound}, "
                           f"{pname} from {known_plain.min()} to {known_plain.max()})")
    out = cls.make(comp, plain, vals, size)
    return out.requires_grad_(True) if requires_grad else out


class LegacySparseType(type):
    """The type of torch.sparse.FloatTensor & co: calling one makes a COO tensor of its
    dtype (indices, values, size), or an empty one of a size; isinstance() tests a COO
    tensor's dtype."""

    def __instancecheck__(cls, x):
        return isinstance(x, SparseCOO) and x.dtype == cls.dtype

    def __call__(cls, *args, device=None):
        check_placement(device)
        if len(args) >= 2 and isinstance(args[0], Tensor):
            warnings.warn("torch.sparse.SparseTensor(indices, values, shape, *, device=) is "
                          "deprecated.  Please use torch.sparse_coo_tensor(indices, values, "
                          "shape, dtype=, device=).", UserWarning, stacklevel=user_stacklevel())
            indices, values, *size = args
            size = tuple(size[0]) if size else None
            return sparse_coo_tensor(indices, values, size, dtype=cls.dtype)
        warnings.warn("torch.sparse.SparseTensor(shape, *, device=) is deprecated.  Please "
                      "use torch.sparse_coo_tensor(shape, dtype=, device=).", UserWarning,
                      stacklevel=user_stacklevel())
        size = tuple(args[0]) if len(args) == 1 and isinstance(args[0], tuple) else args
        empty = Tensor._make(np.zeros(0, cls.dtype.np))
        return sparse_coo_tensor(Tensor._make(np.zeros((len(size), 0), np.int64)), empty,
                                 size)

    def __repr__(cls):
        return f"<class 'tracecomp.sparse.{cls.__name__}'>"


LEGACY_TYPES = {name: LegacySparseType(name, (), {"dtype": dtype, "is_sparse": True,
                                                  "__module__": "tracecomp.sparse"})
                for name, dtype in LEGACY_NAMES.items()}


def legacy_new(self, *args, dtype=None, device=None):
    """x.new(indices, values[, size]) a COO tensor of the values' dtype, as in torch
    (DLRM's row-wise sparse Adagrad builds its updates so); x.new(*sizes) an empty one
    of x's dtype, every dim sparse."""
    if args and isinstance(args[0], Tensor):
        return sparse_coo_tensor(*args, dtype=dtype, device=device)
    dtype = dtype or self.dtype
    sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) \
        else args
    return SparseCOO.make(Tensor._make(np.zeros((len(sizes), 0), np.int64)),
                          zeros((0,), dtype=dtype), sizes, True)


SparseCOO.new = legacy_new
