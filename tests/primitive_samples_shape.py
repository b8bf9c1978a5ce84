"""Sample calls for the reduction, scan, sorting, index and linear-algebra primitives of
issue 9 (ops/scan.py, ops/sort.py, ops/linalg_decomp.py, ops/linalg_factor.py, reduce_prod,
flip, scatter_reduce), merged into test_primitives.SAMPLES."""
import numpy as np

MIXED = np.array([[-1.3, 0.7, 1.9], [0.4, -0.6, 1.1]])
POS = np.array([[1.3, 0.7, 1.9], [0.4, 0.6, 1.1]])
IDX = np.array([[2, 0], [1, 1]])
SPD = np.array([[2.0, 0.5, 0.1], [0.5, 1.5, 0.2], [0.1, 0.2, 1.0]])
SQUARE = np.array([[0.4, -1.2, 0.3], [2.1, 0.5, -0.7], [-0.6, 0.9, 1.4]])   # pivots 2, 3, 3

SAMPLES = {
    "reduce_prod": ((MIXED,), {"dims": (1,), "keepdim": False}),
    "cumsum": ((MIXED,), {"dim": 1, "reverse": False}),
    "cumprod": ((MIXED,), {"dim": 1}),
    "logcumsumexp": ((MIXED,), {"dim": 0, "reverse": True}),
    "cumargmax": ((MIXED,), {"dim": 1}),
    "cumargmin": ((MIXED,), {"dim": 0}),
    "argsort": ((MIXED,), {"dim": 1, "descending": True}),
    "searchsorted": ((np.array([0.1, 0.5, 1.2]), MIXED), {"right": False, "out_int32": False}),
    "no_derivative": ((MIXED, MIXED), {"op": "_unique2"}),
    "flip": ((MIXED,), {"dims": (0, 1)}),
    "scatter_reduce": ((MIXED, IDX, POS[:, :2]), {"dim": 1, "reduce": "prod",
                                                  "include_self": True}),
    "linalg_inv": ((SPD,), {}),
    "linalg_adjugate": ((SPD,), {}),
    "linalg_det": ((SPD,), {}),
    "linalg_slogdet_sign": ((SPD,), {}),
    "linalg_logabsdet": ((SPD,), {}),
    "linalg_solve": ((SPD, MIXED.T), {}),
    "linalg_cholesky": ((SPD,), {}),
    "linalg_eigh_values": ((SPD,), {"uplo": "L"}),
    "linalg_eigh_vectors": ((SPD,), {"uplo": "L"}),
    "linalg_eig_values": ((SQUARE,), {}),
    "linalg_eig_vectors": ((SQUARE,), {}),
    "linalg_qr_q": ((MIXED.T,), {"mode": "reduced"}),
    "linalg_qr_r": ((MIXED.T,), {"mode": "reduced"}),
    "linalg_svd_u": ((MIXED,), {"full_matrices": False}),
    "linalg_svd_s": ((MIXED,), {}),
    "linalg_svd_vh": ((MIXED,), {"full_matrices": False}),
    "linalg_pinv": ((MIXED,), {"rtol": 1e-15, "atol": 0.0}),
    "linalg_matrix_rank": ((MIXED,), {"rtol": 1e-10, "atol": 0.0}),
    "linalg_solve_triangular": ((SQUARE, MIXED.T), {"upper": True, "unitriangular": False}),
    "linalg_lu_factor": ((SQUARE,), {"check": ""}),
    "linalg_lu_pivots": ((SQUARE,), {}),
    "linalg_lu_info": ((SQUARE,), {}),
    "linalg_lu_perm": ((np.array([2, 2, 3]),), {"m": 3}),
    "linalg_cholesky_info": ((SPD,), {}),
    "cholesky_solve": ((MIXED.T, np.linalg.cholesky(SPD)), {"upper": False}),
    "linalg_matrix_exp": ((SQUARE * 0.5,), {}),
    "geqrf_a": ((MIXED.T,), {}),
    "geqrf_tau": ((MIXED.T,), {}),
    "linalg_ldl_ld": ((SPD - 1.2 * np.eye(3),), {}),
    "linalg_ldl_pivots": ((SPD - 1.2 * np.eye(3),), {}),
    "linalg_ldl_info": ((SPD - 1.2 * np.eye(3),), {}),
    "linalg_ldl_solve": ((np.tril(SPD), np.array([1, 2, 3]), MIXED.T), {}),
}

# integer results
NON_DIFFERENTIABLE = {"argsort", "searchsorted", "cumargmax", "cumargmin", "linalg_matrix_rank",
                      "linalg_lu_pivots", "linalg_lu_info", "linalg_lu_perm",
                      "linalg_cholesky_info", "geqrf_a", "geqrf_tau", "linalg_ldl_ld",
                      "linalg_ldl_pivots", "linalg_ldl_info", "linalg_ldl_solve"}

# VJPs that are not the derivative of the numpy impl on purpose: no_derivative's raises (as
# torch's unique does); Cholesky and eigh read only the lower triangle, but their VJPs are
# torch's, which treat the input as symmetric (the op table checks them against torch on
# symmetric inputs); cholesky_solve's is torch's too, which differentiates the factor as a
# full matrix while the solves read its triangle (tests/eager/test_linalg_cholesky.py checks
# it against torch); eig's vectors' VJP is torch's, for losses that do not depend on the
# eigenvectors' phases only (it refuses a random cotangent, as torch's;
# tests/eager/test_linalg_eig.py checks it against torch)
NOT_IMPL_DERIVATIVE = {"no_derivative", "linalg_cholesky", "linalg_eigh_values",
                       "linalg_eigh_vectors", "cholesky_solve", "linalg_eig_vectors"}
