"""torch.sparse: sparse tensors (COO, CSR and CSC) and the ops graph networks use on them.

    adj = torch.sparse_coo_tensor(indices, values, (n, n))     # or torch.sparse.FloatTensor
    h = torch.spmm(adj, x @ w)                                 # torch.sparse.mm, adj @ x

The pieces: base.py (what a sparse tensor is), coo.py, csr.py and csc.py (the layouts),
creation.py (making them), conversions.py (to_sparse, to_dense, sparse_mask), ops.py (mm,
sum, softmax, arithmetic), prims.py (dense ops meeting a sparse tensor), printing.py.
"""
from .base import SparseTensor
from .conversions import is_sparse
from .coo import SparseCOO
from .creation import LEGACY_TYPES, sparse_coo_tensor, sparse_csc_tensor, sparse_csr_tensor
from .csc import SparseCSC
from .csr import SparseCSR
from . import prims  # noqa: F401  (fills sparse_data.ON_SPARSE: dense ops on sparse tensors)
from .ops import addmm, hspmm, log_softmax, mm, smm, softmax
from .ops import sparse_sum as sum  # noqa: A004  (torch.sparse.sum)

spmm = mm   # torch.spmm: torch.sparse.mm's older name

# a layout's name -> its class (tracecomp.load rebuilds a saved sparse tensor with it)
LAYOUT_CLASSES = {"sparse_coo": SparseCOO, "sparse_csr": SparseCSR, "sparse_csc": SparseCSC}

globals().update(LEGACY_TYPES)      # torch.sparse.FloatTensor & co


__all__ = ["SparseTensor", "SparseCOO", "SparseCSR", "SparseCSC", "is_sparse",
           "sparse_coo_tensor", "sparse_csr_tensor", "sparse_csc_tensor", "addmm", "hspmm",
           "log_softmax", "mm", "smm", "softmax", "spmm", "sum", *LEGACY_TYPES]
