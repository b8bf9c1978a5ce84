"""Ops on sparse tensors, written with dense ops on their index and value tensors.

sparse @ dense, the op graph networks run (pygcn's `torch.spmm(adj, support)`), is a
gather of dense rows by column index, scaled by the values, added into the result rows by
row index:
    out = zeros(m, n).index_add(0, row, values[:, None] * dense[col])
so its gradient reaches the dense operand (through the gather) and the values (through
the product), and a compiled function traces it as index_select, mul and index_add.

Ops that group entries by position (sum over a sparse dim, softmax, coalesce) find the
groups with numpy on the indices and combine the values with index_add: the indices must
be known (a constant inside compiled code), the values may be anything.
"""
import numpy as np

from .. import creation
from ..composite import stack
from ..ops.linalg import matmul
from ..tensor import Tensor
from ..torch_args import scalar_name
from .base import concrete, made_by
from .conversions import CSR, is_sparse
from .coo import SparseCOO, _index_tensor, group, linear_keys


def as_coo(s):
    return s.to_sparse_coo()


# --- products ------------------------------------------------------------------------------
def sparse_dense_mm(s, dense, reduce="sum"):
    """A 2-D sparse matrix times a dense matrix (or vector): a dense result. Each output
    row combines its entries' scaled dense rows by `reduce` (a sum, or torch.sparse.mm's
    mean, amax, amin; a row without entries is 0)."""
    s = as_coo(s)
    if s.ndim != 2 or s.sparse_dim() != 2:
        raise RuntimeError(f"mm: expected a 2-D sparse matrix without dense dims, got size "
                           f"{tuple(s.shape)} with {s.sparse_dim()} sparse dims")
    vector = dense.ndim == 1
    d = dense.unsqueeze(1) if vector else dense
    if d.ndim != 2:
        raise RuntimeError(f"mm: expected the dense operand to be a matrix or a vector, got "
                           f"size {list(dense.shape)}")
    if d.shape[0] != s.shape[1]:
        raise RuntimeError(f"addmm: Argument #3 (dense): Expected dim 0 size {s.shape[1]}, "
                           f"got {d.shape[0]}")
    if d.dtype != s.dtype:
        raise RuntimeError(f"expected scalar type {scalar_name(s.dtype)} but found "
                           f"{scalar_name(d.dtype)}")
    row, col = s._idx[0], s._idx[1]
    picked = d.index_select(0, col) * s._vals.unsqueeze(1)
    out = creation.zeros((s.shape[0], d.shape[1]), dtype=d.dtype)
    if reduce in ("amax", "amin"):
        spread = row.unsqueeze(1).expand(tuple(picked.shape))
        out = out.scatter_reduce(0, spread, picked, reduce, include_self=False)
    else:
        out = out.index_add(0, row, picked)
    if reduce == "mean":
        ones = creation.ones(s._nnz(), dtype=d.dtype)
        count = creation.zeros(s.shape[0], dtype=d.dtype).index_add(0, row, ones)
        out = out / count.clamp(min=1).unsqueeze(1)
    return out.squeeze(1) if vector else out


def dense_sparse_mm(dense, s):
    """dense @ sparse as (sparse^T @ dense^T)^T: a dense result."""
    if dense.ndim != 2:
        raise RuntimeError(f"mm: expected a dense matrix before a sparse one, got size "
                           f"{list(dense.shape)}")
    return sparse_dense_mm(as_coo(s).t(), dense.t()).t()


_REDUCTIONS = ("sum", "mean", "amax", "amin")


def sparse_sparse_mm(a, b):
    """sparse @ sparse: a coalesced sparse result with an entry wherever some a[i, k] meets
    some b[k, j] (the pairs found with numpy on the indices; their products summed into
    the positions with index_add, so gradients reach both value tensors)."""
    a, b = as_coo(a), as_coo(b)
    for s in (a, b):
        if s.ndim != 2 or s.sparse_dim() != 2:
            raise RuntimeError(f"mm: expected 2-D sparse matrices without dense dims, got "
                               f"size {tuple(s.shape)}")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x"
                           f"{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected scalar type {scalar_name(a.dtype)} but found "
                           f"{scalar_name(b.dtype)}")
    ai, bi = concrete(a._idx, "mm"), concrete(b._idx, "mm")
    order = np.argsort(bi[0], kind="stable")        # b's entries grouped by row
    start = np.searchsorted(bi[0][order], ai[1], "left")
    count = np.searchsorted(bi[0][order], ai[1], "right") - start
    from_a = np.repeat(np.arange(len(count)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    from_b = order[np.repeat(start, count) + within]
    shape = (a.shape[0], b.shape[1])
    unique, inverse = np.unique(linear_keys(np.stack([ai[0][from_a], bi[1][from_b]]), shape),
                                return_inverse=True)
    products = a._vals.index_select(0, Tensor._make(from_a.astype(np.int64))) * \
        b._vals.index_select(0, Tensor._make(from_b.astype(np.int64)))
    return made_by(SparseCOO.make(_index_tensor(unique, shape),
                                  group(products, inverse, len(unique)), shape, True),
                   "MmBackward0")


def mm(mat1, mat2, reduce=None):
    """torch.sparse.mm / torch.spmm: sparse @ dense, dense @ sparse (dense results), sparse
    @ sparse (a sparse result) or dense @ dense;
    with reduce (a CSR matrix times a dense one, as torch), the entries of each output row
    combined by sum, mean, amax or amin."""
    if reduce is not None:
        if not (is_sparse(mat1) and mat1.layout is CSR) or is_sparse(mat2):
            raise NotImplementedError("sparse.mm: reduce= is supported for a sparse CSR "
                                      "matrix times a dense one (as torch's)")
        if reduce not in _REDUCTIONS:
            raise RuntimeError(f"sparse_mm_reduce: reduce type of {reduce} has not been "
                               f"enabled.")
        return sparse_dense_mm(mat1, mat2, reduce)
    if is_sparse(mat1) and is_sparse(mat2):
        return sparse_sparse_mm(mat1, mat2)
    if is_sparse(mat1):
        return sparse_dense_mm(mat1, mat2)
    if is_sparse(mat2):
        return dense_sparse_mm(mat1, mat2)
    return matmul(mat1, mat2)


def addmm(input, mat1, mat2, *, beta=1.0, alpha=1.0):  # noqa: A002
    """torch.sparse.addmm: beta * input + alpha * (mat1 @ mat2), mat1 sparse."""
    product = mm(mat1, mat2)
    return (input if beta == 1 else input * beta) + (product if alpha == 1 else
                                                     product * alpha)


def hspmm(mat1, mat2):
    """torch.hspmm: sparse @ dense as a hybrid COO tensor, one dense row per nonzero row
    (not flagged coalesced, as torch's)."""
    dense = sparse_dense_mm(mat1, mat2)
    rows = np.unique(concrete(as_coo(mat1)._idx, "hspmm")[0]).astype(np.int64)
    return made_by(SparseCOO.make(Tensor._make(rows.reshape(1, -1)),
                                  dense.index_select(0, Tensor._make(rows)), dense.shape),
                   "NotImplemented")       # torch's: hspmm has no derivative there


def smm(input, mat2):  # noqa: A002
    """torch.smm: sparse @ dense as a sparse matrix holding every column of each row that
    has an entry."""
    hybrid = hspmm(input, mat2)
    rows, n = hybrid._idx[0], hybrid.shape[1]
    cols = Tensor._make(np.arange(n, dtype=np.int64))
    idx = stack([rows.repeat_interleave(n), cols.repeat(rows.shape[0])])
    return made_by(SparseCOO.make(idx, hybrid._vals.reshape(-1), hybrid.shape),
                   "NotImplemented")      # (not flagged coalesced, as torch's)


# --- sums ------------------------------------------------------------------------------------
def _dims(dim, ndim):
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return sorted({int(d) % ndim for d in dims})


def sparse_sum(input, dim=None, dtype=None):  # noqa: A002
    """torch.sparse.sum: all entries (a 0-d dense tensor), or over dims: sparse while a
    sparse dim remains, dense once every sparse dim is summed."""
    s = as_coo(input)
    vals = s._vals if dtype is None else s._vals.to(dtype)
    if dim is None:
        return vals.sum()
    dims, n = _dims(dim, s.ndim), s.sparse_dim()
    dense_dims = tuple(d - n + 1 for d in dims if d >= n)
    if dense_dims:
        vals = vals.sum(dense_dims)
    kept_dense = tuple(s.shape[d] for d in range(n, s.ndim) if d not in dims)
    keep = [d for d in range(n) if d not in dims]
    if len(keep) == n:
        return made_by(SparseCOO.make(s._idx, vals, tuple(s.shape[:n]) + kept_dense,
                                      s._coalesced), "SparseSumBackward0")
    if not keep:
        return vals.sum(0)
    kept_shape = tuple(s.shape[d] for d in keep)
    keys = linear_keys(concrete(s._idx, "sparse.sum")[keep], kept_shape)
    unique, inverse = np.unique(keys, return_inverse=True)
    return made_by(SparseCOO.make(_index_tensor(unique, kept_shape),
                                  group(vals, inverse, len(unique)), kept_shape + kept_dense,
                                  True), "SparseSumBackward0")


# --- softmax over the entries present --------------------------------------------------------
def _groups(s, d, op):
    """For each entry, the number of its group: the entries that share every sparse index
    but the one along dim d (a row of a GAT attention matrix)."""
    idx = concrete(s._idx, op)
    others = [k for k in range(s.sparse_dim()) if k != d]
    if not others:
        return np.zeros(idx.shape[1], np.int64), 1
    keys = linear_keys(idx[others], tuple(s.shape[k] for k in others))
    unique, inverse = np.unique(keys, return_inverse=True)
    return inverse.astype(np.int64), len(unique)


def _softmax(input, dim, dtype, log, op):
    """softmax along dim over the entries present (absent ones count as -inf), as
    torch.sparse.softmax: each group shifted by its largest value, exponentiated, and
    divided by its sum (added up with index_add)."""
    s = as_coo(input).coalesce()
    vals = s._vals if dtype is None else s._vals.to(dtype)
    d, n = int(dim) % s.ndim, s.sparse_dim()
    name = "SparseLogSoftmaxBackward0" if log else "SparseSoftmaxBackward0"
    if d >= n:      # a dense dim: every value along it is present
        return made_by(s._with_values(vals.log_softmax(d - n + 1) if log else
                                      vals.softmax(d - n + 1)), name)
    inverse, count = _groups(s, d, op)
    inv = Tensor._make(inverse)
    spread = inv.reshape((-1,) + (1,) * (vals.ndim - 1)).expand(tuple(vals.shape))
    peak = creation.zeros((count, *vals.shape[1:]), dtype=vals.dtype).scatter_reduce(
        0, spread, vals.detach(), "amax", include_self=False)
    shifted = vals - peak.index_select(0, inv)
    e = shifted.exp()
    total = group(e, inverse, count).index_select(0, inv)
    return made_by(s._with_values(shifted - total.log() if log else e / total), name)


def softmax(input, dim, *, dtype=None):  # noqa: A002
    return _softmax(input, dim, dtype, False, "sparse.softmax")


def log_softmax(input, dim, *, dtype=None):  # noqa: A002
    return _softmax(input, dim, dtype, True, "sparse.log_softmax")


# --- elementwise -----------------------------------------------------------------------------
def _number(x):
    return not isinstance(x, Tensor) or (x.ndim == 0 and not is_sparse(x))


def mul(a, b):
    """sparse * number, sparse * dense (the dense values at the sparse positions), and
    sparse * sparse (the positions both have): a sparse result."""
    if not is_sparse(a):
        a, b = b, a
    a = as_coo(a)
    if _number(b):
        return a._with_values(a._vals * b)
    if tuple(a.shape) != tuple(b.shape):
        raise RuntimeError(f"mul: a sparse tensor multiplies a tensor of its own size or a "
                           f"number, got sizes {list(a.shape)} and {list(b.shape)}")
    if not is_sparse(b):
        key = tuple(a._idx[k] for k in range(a.sparse_dim()))
        return a._with_values(a._vals * b[key])
    a, b = a.coalesce(), as_coo(b).coalesce()
    shape = tuple(a.shape[:a.sparse_dim()])
    _, ia, ib = np.intersect1d(linear_keys(concrete(a._idx, "mul"), shape),
                               linear_keys(concrete(b._idx, "mul"), shape),
                               assume_unique=True, return_indices=True)
    ia, ib = Tensor._make(ia.astype(np.int64)), Tensor._make(ib.astype(np.int64))
    return SparseCOO.make(a._idx.index_select(1, ia),
                          a._vals.index_select(0, ia) * b._vals.index_select(0, ib),
                          a.shape, True)


def add(a, b):
    """sparse + sparse; dense + sparse (dense). torch refuses sparse + dense."""
    if not is_sparse(a):
        if _number(a) and not isinstance(a, Tensor):
            raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) "
                               "instead.")
        return a + b.to_dense()
    if not is_sparse(b):
        raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) "
                           "instead.")
    a, b = as_coo(a), as_coo(b)
    if tuple(a.shape) != tuple(b.shape):
        raise RuntimeError(f"add: expected 'self' and 'other' to have same size, but self has "
                           f"size {list(a.shape)} while other has size {list(b.shape)}")
    known = [x._idx._data for x in (a, b) if type(x._idx._data) is np.ndarray]
    if len(known) < 2:      # traced indices: every entry of both (duplicates add up)
        from ..composite import cat
        return SparseCOO.make(cat([a._idx, b._idx], 1), cat([a._vals, b._vals], 0), a.shape)
    shape = tuple(a.shape[:a.sparse_dim()])
    keys, into_a, into_b = _merge(linear_keys(known[0], shape), linear_keys(known[1], shape))
    vals = creation.zeros((len(keys), *a._vals.shape[1:]), dtype=a._vals.dtype)
    vals = vals.index_add(0, Tensor._make(into_a), a._vals).index_add(
        0, Tensor._make(into_b), b._vals)
    return SparseCOO.make(_index_tensor(keys, shape), vals, a.shape,
                          a._coalesced and b._coalesced)


def _merge(keys_a, keys_b):
    """torch's merge of two entry lists (each taken as sorted, which a coalesced one is):
    the smaller position goes first, equal positions become one entry. Returns the merged
    positions and where each entry of a and of b went."""
    out, into_a, into_b = [], np.empty(len(keys_a), np.int64), np.empty(len(keys_b), np.int64)
    i = j = 0
    while i < len(keys_a) or j < len(keys_b):
        take_a = j == len(keys_b) or (i < len(keys_a) and keys_a[i] <= keys_b[j])
        take_b = i == len(keys_a) or (j < len(keys_b) and keys_b[j] <= keys_a[i])
        if take_a:
            into_a[i] = len(out)
        if take_b:
            into_b[j] = len(out)
        out.append(keys_a[i] if take_a else keys_b[j])
        i, j = i + take_a, j + take_b
    return np.array(out, np.int64), into_a, into_b


def neg(a):
    return a._with_values(-a._vals)


def div(a, b):
    if not is_sparse(a) or not _number(b):
        raise RuntimeError("div: a sparse tensor divides only by a number (or a 0-d dense "
                           "tensor)")
    return a._with_values(a._vals / b)
