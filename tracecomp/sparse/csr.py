"""CSR sparse matrices (layout torch.sparse_csr): crow_indices (rows + 1), col_indices
(nnz) and values (nnz, *dense dims), as torch.sparse_csr_tensor makes them.

Every op on one goes through its COO twin (row indices spelled out from crow_indices),
so the two layouts share one implementation of matmul, to_dense and the rest; the
values tensor is the same, so gradients reach it.
"""
import numpy as np

from ..composite import cat
from ..composite_sort import searchsorted
from ..creation import arange, zeros
from ..layouts import LAYOUTS
from ..tensor import Tensor
from .base import SparseTensor, made_by
from .coo import SparseCOO

CSR = LAYOUTS["sparse_csr"]


class SparseCSR(SparseTensor):
    """A sparse matrix in compressed-row format."""

    is_sparse_csr = True
    _repr_parts = (("crow_indices", "_crow"), ("col_indices", "_col"), ("values", "_vals"))
    _grad_fn_name = "NotImplemented"    # torch's, for a CSR tensor of values with history

    @staticmethod
    def make(crow, col, values, shape):
        t = SparseCSR.__new__(SparseCSR)._start(shape, values, CSR)
        t._crow, t._col = crow, col
        return t

    def _with_values(self, values):
        return SparseCSR.make(self._crow, self._col, values, self.shape)

    def _emptied(self):
        return SparseCSR.make(Tensor._make(np.zeros(self.shape[0] + 1, np.int64)),
                              Tensor._make(np.zeros(0, np.int64)),
                              zeros(0, dtype=self._vals.dtype), self.shape)

    def _parts(self):
        return (self._crow, self._col, self._vals), (tuple(self.shape),)

    @staticmethod
    def _from_parts(parts, static):
        return SparseCSR.make(parts[0], parts[1], parts[2], static[0])

    def sparse_dim(self) -> int:
        return 2

    def crow_indices(self):
        return self._crow

    def col_indices(self):
        return self._col

    def values(self):
        return self._vals

    def to_sparse_coo(self):
        """The COO twin: each entry's row spelled out from crow_indices (CSR entries are
        sorted and unique, so it is coalesced). Entry k lies in the row r with
        crow[r] <= k < crow[r + 1]: a search, so crow_indices may be a traced input."""
        crow = self._crow
        if type(crow._data) is np.ndarray:
            rows = Tensor._make(np.repeat(np.arange(len(crow._data) - 1, dtype=np.int64),
                                          np.diff(crow._data)))
        else:
            rows = searchsorted(crow, arange(self._col.shape[0]), right=True) - 1
        idx = cat([rows.unsqueeze(0), self._col.unsqueeze(0)], 0)
        return made_by(SparseCOO.make(idx, self._vals, self.shape, True), "ToSparseBackward1")

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        from .conversions import to_layout
        return to_layout(self, layout, "to_sparse")

    def to_sparse_csr(self, dense_dim=None):
        return self

    def to_sparse_csc(self, dense_dim=None):
        return self.to_sparse_coo().to_sparse_csc()
