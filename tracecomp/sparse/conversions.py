"""Layout conversions: dense -> COO/CSR (Tensor.to_sparse, to_sparse_csr), COO -> CSR,
and Tensor.sparse_mask (a dense tensor's values at a sparse tensor's positions).

Finding the nonzeros of a dense tensor and counting the entries of each row need values
(numpy); the values of the result are picked from the source with indexing, so gradients
flow back to it.
"""
import numpy as np

from ..layouts import LAYOUTS, strided
from ..sparse_data import SparseData
from ..tensor import Tensor
from .base import concrete, made_by
from .coo import SparseCOO
from .csc import CSC, SparseCSC
from .csr import SparseCSR

COO, CSR = LAYOUTS["sparse_coo"], LAYOUTS["sparse_csr"]


def is_sparse(x) -> bool:
    return isinstance(x, Tensor) and type(x._data) is SparseData


def dense_to_coo(x, sparse_dim=None):
    """The nonzero positions of x's first sparse_dim dims (all by default), coalesced."""
    n = x.ndim if sparse_dim is None else int(sparse_dim)
    if not 0 < n <= x.ndim:
        raise RuntimeError(f"sparse_dim argument must be in [1, {x.ndim}] for a tensor of "
                           f"{x.ndim} dims, but got {sparse_dim}")
    data = concrete(x, "to_sparse")
    nonzero = data != 0
    if n < x.ndim:      # a hybrid tensor: a position is kept when any of its values is
        nonzero = nonzero.any(axis=tuple(range(n, x.ndim)))
    idx = np.stack(np.nonzero(nonzero)).astype(np.int64).reshape(n, -1)
    key = tuple(Tensor._make(row) for row in idx)
    return made_by(SparseCOO.make(Tensor._make(idx), x[key], x.shape, True),
                   "ToSparseBackward1")


def coo_to_csr(s):
    if s.ndim != 2 or s.sparse_dim() != 2:
        raise RuntimeError(f"to_sparse_csr: expected a 2-D sparse matrix without dense dims "
                           f"(tracecomp's CSR), got size {tuple(s.shape)} with "
                           f"{s.sparse_dim()} sparse dims")
    s = s.coalesce()
    rows = concrete(s._idx, "to_sparse_csr")[0]
    counts = np.bincount(rows, minlength=s.shape[0])
    crow = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return made_by(SparseCSR.make(Tensor._make(crow), s._idx[1], s._vals, s.shape),
                   "ToSparseCsrBackward0")


def coo_to_csc(s):
    """The entries in column order, counted per column (a 2-D COO matrix)."""
    if s.ndim != 2 or s.sparse_dim() != 2:
        raise RuntimeError(f"to_sparse_csc: expected a 2-D sparse matrix without dense dims "
                           f"(tracecomp's CSC), got size {tuple(s.shape)}")
    s = s.coalesce()
    rows, cols = concrete(s._idx, "to_sparse_csc")
    order = np.lexsort((rows, cols)).astype(np.int64)
    counts = np.bincount(cols, minlength=s.shape[1])
    ccol = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return made_by(SparseCSC.make(Tensor._make(ccol), Tensor._make(rows[order]),
                                  s._vals.index_select(0, Tensor._make(order)), s.shape),
                   "ToSparseCscBackward0")


# (layout asked for) -> how a tensor of each layout gets there
_CONVERT = {
    (COO, "dense"): dense_to_coo,
    (CSR, "dense"): lambda x: coo_to_csr(dense_to_coo(x)),
    (CSC, "dense"): lambda x: coo_to_csc(dense_to_coo(x)),
    (CSC, "sparse"): lambda s: s.to_sparse_csc(),
    (COO, "sparse"): lambda s: s.to_sparse_coo(),
    (CSR, "sparse"): lambda s: s.to_sparse_csr(),
    (strided, "sparse"): lambda s: s.to_dense(),
    (strided, "dense"): lambda x: x,
}


def to_layout(x, layout, op):
    kind = "sparse" if is_sparse(x) else "dense"
    convert = _CONVERT.get((COO if layout is None else layout, kind))
    if convert is None:
        raise NotImplementedError(f"{op}: conversion to layout {layout} is not supported by "
                                  f"tracecomp (COO, CSR and strided are)")
    return convert(x)


# --- the dense Tensor's methods (tensor_methods.py attaches them) ----------------------------
def to_sparse(x, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    if sparse_dim is not None:
        if layout not in (None, COO):
            raise RuntimeError("to_sparse: sparse_dim is for the COO layout only")
        return dense_to_coo(x, sparse_dim)
    return to_layout(x, layout, "to_sparse")


def to_sparse_coo(x):
    return dense_to_coo(x)


def to_sparse_csr(x, dense_dim=None):
    if x.ndim != 2:
        raise RuntimeError(f"to_sparse_csr: expected a 2-D tensor (tracecomp's CSR), got "
                           f"{x.ndim}-D")
    return coo_to_csr(dense_to_coo(x))


def to_sparse_csc(x, dense_dim=None):
    if x.ndim != 2:
        raise RuntimeError(f"to_sparse_csc: expected a 2-D tensor (tracecomp's CSC), got "
                           f"{x.ndim}-D")
    return coo_to_csc(dense_to_coo(x))


def to_dense(x, dtype=None, *, masked_grad=None):
    """A strided tensor's to_dense() is itself (torch's)."""
    return x if dtype is None else x.to(dtype)


def sparse_mask(x, mask):
    """x's values at mask's positions, as a COO tensor of mask's pattern (coalesced)."""
    if not is_sparse(mask) or mask.layout is not COO:
        raise RuntimeError(f"sparse_mask: expected mask to be a sparse COO tensor, got "
                           f"layout {getattr(mask, 'layout', type(mask).__name__)}")
    if tuple(x.shape) != tuple(mask.shape):
        raise RuntimeError(f"sparse_mask(): operands have incompatible sizes; self has size "
                           f"{list(x.shape)} but mask has size {list(mask.shape)}")
    mask = mask.coalesce()
    key = tuple(mask._idx[d] for d in range(mask.sparse_dim()))
    return made_by(SparseCOO.make(mask._idx, x[key], x.shape, True), "SparseMaskBackward0")


# how torch's messages name a tensor's layout ("... but got Strided")
_LAYOUT_WORDS = {strided: "Strided", COO: "Sparse", CSR: "SparseCsr", CSC: "SparseCsc"}


def refuse(name, layout_word):
    """A method that only another layout has (indices() of a strided tensor)."""
    def method(x, *args, **kwargs):
        raise RuntimeError(f"{name} expected sparse {layout_word}tensor layout but got "
                           f"{_LAYOUT_WORDS.get(x.layout, x.layout)}")
    method.__name__ = name
    return method


def no_cpu_kernel(name):
    """torch's error for a sparse-only internal op (_indices, _nnz) on a strided tensor."""
    def method(x, *args, **kwargs):
        raise NotImplementedError(f"Could not run 'aten::{name}' with arguments from the "
                                  f"'CPU' backend: it is only available for sparse tensors")
    method.__name__ = name
    return method


DENSE_METHODS = {
    "to_sparse": to_sparse, "to_sparse_coo": to_sparse_coo, "to_sparse_csr": to_sparse_csr,
    "to_sparse_csc": to_sparse_csc,
    "to_dense": to_dense, "sparse_mask": sparse_mask,
    "sparse_dim": lambda x: 0, "dense_dim": lambda x: x.ndim,
    "values": refuse("values", ""),
    **{name: refuse(name, "coordinate ") for name in ("indices", "coalesce", "is_coalesced")},
    **{name: refuse(name, "row compressed ") for name in ("crow_indices", "col_indices")},
    **{name: refuse(name, "column compressed ") for name in ("ccol_indices", "row_indices")},
    **{name: no_cpu_kernel(name) for name in ("_indices", "_values", "_nnz")},
}
