"""CSC sparse matrices (layout torch.sparse_csc): ccol_indices (columns + 1), row_indices
(nnz) and values (nnz), as torch.sparse_csc_tensor makes them: CSR's layout with the roles
of rows and columns swapped.

Every op goes through the COO twin (column indices spelled out from ccol_indices, the
entries in column order: an uncoalesced COO tensor, as torch's conversion gives).
"""
import numpy as np

from ..composite import stack
from ..composite_sort import searchsorted
from ..creation import arange, zeros
from ..layouts import LAYOUTS
from ..tensor import Tensor
from .base import SparseTensor, made_by
from .coo import SparseCOO

CSC = LAYOUTS["sparse_csc"]


class SparseCSC(SparseTensor):
    """A sparse matrix in compressed-column format."""

    _repr_parts = (("ccol_indices", "_ccol"), ("row_indices", "_row"), ("values", "_vals"))
    _grad_fn_name = "NotImplemented"    # torch's, for a CSC tensor of values with history

    @staticmethod
    def make(ccol, row, values, shape):
        t = SparseCSC.__new__(SparseCSC)._start(shape, values, CSC)
        t._ccol, t._row = ccol, row
        return t

    def _with_values(self, values):
        return SparseCSC.make(self._ccol, self._row, values, self.shape)

    def _emptied(self):
        return SparseCSC.make(Tensor._make(np.zeros(self.shape[1] + 1, np.int64)),
                              Tensor._make(np.zeros(0, np.int64)),
                              zeros(0, dtype=self._vals.dtype), self.shape)

    def _parts(self):
        return (self._ccol, self._row, self._vals), (tuple(self.shape),)

    @staticmethod
    def _from_parts(parts, static):
        return SparseCSC.make(parts[0], parts[1], parts[2], static[0])

    def sparse_dim(self) -> int:
        return 2

    def ccol_indices(self):
        return self._ccol

    def row_indices(self):
        return self._row

    def values(self):
        return self._vals

    def to_sparse_coo(self):
        """The COO twin, its entries in column order (so not coalesced, as torch's)."""
        ccol = self._ccol
        if type(ccol._data) is np.ndarray:
            cols = Tensor._make(np.repeat(np.arange(len(ccol._data) - 1, dtype=np.int64),
                                          np.diff(ccol._data)))
        else:       # a traced input: entry k lies in column c with ccol[c] <= k < ccol[c+1]
            cols = searchsorted(ccol, arange(self._row.shape[0]), right=True) - 1
        coo = SparseCOO.make(stack([self._row, cols]), self._vals, self.shape,
                             self._row.shape[0] <= 1)
        return made_by(coo, "ToSparseBackward1")

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        from .conversions import to_layout
        return to_layout(self, layout, "to_sparse")

    def to_sparse_csr(self, dense_dim=None):
        return self.to_sparse_coo().to_sparse_csr()

    def to_sparse_csc(self, dense_dim=None):
        return self
