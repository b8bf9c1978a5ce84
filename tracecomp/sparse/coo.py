"""COO sparse tensors (layout torch.sparse_coo): indices (sparse_dim, nnz) and values
(nnz, *dense dims), as torch.sparse_coo_tensor makes them.

An uncoalesced tensor may list a position twice (its values add up); coalesce() sorts the
positions and sums duplicates. Finding duplicates needs the indices' values (numpy on the
index array); summing them is an index_add on the values, so gradients flow and a
compiled function traces it when the indices are a constant.
"""
import numpy as np

from .. import creation
from ..layouts import LAYOUTS
from ..tensor import Tensor
from .base import SparseTensor, concrete, made_by

COO = LAYOUTS["sparse_coo"]


def linear_keys(idx, sparse_shape):
    """Each entry's position as one int64 (row-major over the sparse dims): numpy arrays
    in, a numpy array out."""
    if idx.shape[1] == 0:
        return np.zeros(0, np.int64)
    return np.ravel_multi_index(tuple(idx), sparse_shape).astype(np.int64)


def group(vals, inverse, groups):
    """Values summed into `groups` rows by the row number of each entry (inverse)."""
    base = creation.zeros((groups, *vals.shape[1:]), dtype=vals.dtype)
    return base.index_add(0, Tensor._make(np.asarray(inverse, np.int64)), vals)


class SparseCOO(SparseTensor):
    """A sparse tensor in coordinate format."""

    is_sparse = True
    _repr_parts = (("indices", "_idx"), ("values", "_vals"))
    _grad_fn_name = "SparseCooTensorWithDimsAndTensorsBackward0"

    @staticmethod
    def make(indices, values, shape, coalesced=False):
        """The internal constructor: tensors taken as they are (sparse_coo_tensor checks)."""
        t = SparseCOO.__new__(SparseCOO)._start(shape, values, COO)
        t._idx = indices
        t._coalesced = bool(coalesced)
        return t

    def _with_values(self, values):
        return SparseCOO.make(self._idx, values, self.shape, self._coalesced)

    def _emptied(self):
        vals = self._vals
        return SparseCOO.make(Tensor._make(np.zeros((self.sparse_dim(), 0), np.int64)),
                              creation.zeros((0, *vals.shape[1:]), dtype=vals.dtype),
                              self.shape, True)

    def _parts(self):
        """The tensors a compiled function takes for it, and what else rebuilds it."""
        return (self._idx, self._vals), (tuple(self.shape), self._coalesced)

    @staticmethod
    def _from_parts(parts, static):
        return SparseCOO.make(parts[0], parts[1], static[0], static[1])

    # --- what it is ------------------------------------------------------------------------
    def sparse_dim(self) -> int:
        return int(self._idx.shape[0])

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self):
        return self._idx

    def _values(self):
        return self._vals

    def indices(self):
        self._need_coalesced("indices")
        return self._idx

    def values(self):
        self._need_coalesced("values")
        return self._vals

    def _need_coalesced(self, what):
        if not self._coalesced:
            raise RuntimeError(f"Cannot get {what} on an uncoalesced tensor, please call "
                               f".coalesce() first")

    def _sparse_shape(self):
        return tuple(self.shape[:self.sparse_dim()])

    # --- coalescing ------------------------------------------------------------------------
    def coalesce(self):
        """Positions sorted, duplicates summed (self when already coalesced)."""
        if self._coalesced:
            return self
        shape = self._sparse_shape()
        keys = linear_keys(concrete(self._idx, "coalesce"), shape)
        unique, inverse = np.unique(keys, return_inverse=True)
        return made_by(SparseCOO.make(_index_tensor(unique, shape),
                                      group(self._vals, inverse, len(unique)), self.shape,
                                      True), "CoalesceBackward0")

    def _coalesce_plan(self, op):
        """(unique positions as an index tensor, the first entry of each) for an op that
        picks one entry per position."""
        shape = self._sparse_shape()
        keys = linear_keys(concrete(self._idx, op), shape)
        unique, first = np.unique(keys, return_index=True)
        return _index_tensor(unique, shape), Tensor._make(first.astype(np.int64))

    def _pattern_grad(self):
        """torch's gradient of a sparse leaf: the dense gradient at each of its positions
        once (an entry listed twice got the same gradient twice; it is not summed)."""
        if self._coalesced:
            return self
        idx, first = self._coalesce_plan("grad")
        return SparseCOO.make(idx, self._vals.index_select(0, first), self.shape, True)

    # --- torch's legacy constructor --------------------------------------------------------
    # new: x.new(indices, values[, size]), set by creation.py (legacy_new), which builds a
    # COO tensor from its parts (and imports this module)

    # --- conversions -----------------------------------------------------------------------
    def to_dense(self, dtype=None, *, masked_grad=None):
        """The dense tensor: values added into zeros at their positions (duplicates add)."""
        sparse_shape = self._sparse_shape()
        dense_shape = tuple(self.shape[len(sparse_shape):])
        strides = np.array([int(np.prod(sparse_shape[d + 1:])) for d in
                            range(len(sparse_shape))], np.int64).reshape(-1, 1)
        keys = (self._idx * Tensor._make(strides)).sum(0)
        flat = creation.zeros((int(np.prod(sparse_shape)), *dense_shape),
                              dtype=self._vals.dtype)
        out = flat.index_add(0, keys, self._vals).reshape(tuple(self.shape))
        return out if dtype is None else out.to(dtype)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        from .conversions import to_layout
        return to_layout(self, layout, "to_sparse")

    def to_sparse_coo(self):
        return self

    def to_sparse_csr(self, dense_dim=None):
        from .conversions import coo_to_csr
        return coo_to_csr(self)

    def to_sparse_csc(self, dense_dim=None):
        from .conversions import coo_to_csc
        return coo_to_csc(self)

    # --- shape -----------------------------------------------------------------------------
    def transpose(self, dim0, dim1):
        """Two sparse dims swapped: their index rows swap (torch's transpose of a COO)."""
        n = self.sparse_dim()
        d0, d1 = dim0 % self.ndim, dim1 % self.ndim
        if d0 >= n or d1 >= n:
            raise RuntimeError(f"transpose: a sparse tensor can swap only sparse dims "
                               f"(it has {n}), got dims {dim0} and {dim1}")
        order = list(range(n))
        order[d0], order[d1] = order[d1], order[d0]
        shape = list(self.shape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        idx = self._idx.index_select(0, Tensor._make(np.array(order, np.int64)))
        return made_by(SparseCOO.make(idx, self._vals, shape, self._coalesced and d0 == d1),
                       "TransposeBackward0")

    def t(self):
        if self.ndim != 2 or self.sparse_dim() != 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, "
                               f"but got {self.sparse_dim()} sparse and {self.dense_dim()} "
                               f"dense dimensions")
        return made_by(self.transpose(0, 1), "TBackward0")


def _index_tensor(keys, shape):
    """Linear keys back to an index tensor (len(shape), n)."""
    rows = np.unravel_index(keys, shape) if len(keys) else [np.zeros(0, np.int64)] * len(shape)
    return Tensor._make(np.stack([np.asarray(r, np.int64) for r in rows]).reshape(
        len(shape), len(keys)))
