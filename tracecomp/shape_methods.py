"""Tensor methods for reductions, scans, sorting, shape and index ops (issue 9): one table,
merged into tensor_methods.METHODS. Each entry is the function `tracecomp.X` also is; the
in-place ones (scatter_, index_add_, ...) compute out of place and commit into the tensor.
"""
from . import composite_index as I
from . import composite_linalg as L
from . import composite_reduce as R
from . import composite_shape as S
from . import composite_sort as O
from . import inplace, linalg_legacy


def _nonzero(x, *, as_tuple=False):
    return I.nonzero(x, as_tuple=as_tuple)


SHAPE_METHODS = {
    # reductions and scans
    "sum": R.sum, "mean": R.mean, "prod": R.prod, "cumsum": R.cumsum, "cumprod": R.cumprod,
    "cummax": R.cummax, "cummin": R.cummin, "logcumsumexp": R.logcumsumexp,
    "nansum": R.nansum, "nanmean": R.nanmean, "median": R.median, "nanmedian": R.nanmedian,
    "mode": R.mode, "count_nonzero": R.count_nonzero, "std": R.std, "var": R.var,
    "amax": R.amax, "amin": R.amin, "max": R.max, "min": R.min, "argmax": R.argmax,
    "argmin": R.argmin, "logsumexp": R.logsumexp, "norm": R.norm, "all": R.all, "any": R.any,
    "diff": R.diff, "aminmax": R.aminmax,
    # sorting and selection
    "sort": O.sort, "argsort": O.argsort, "msort": O.msort, "topk": O.topk,
    "kthvalue": O.kthvalue, "unique": O.unique, "unique_consecutive": O.unique_consecutive,
    "bincount": O.bincount, "histc": O.histc, "histogram": O.histogram, "isin": O.isin,
    # shape
    "flip": S.flip, "fliplr": S.fliplr, "flipud": S.flipud, "roll": S.roll, "rot90": S.rot90,
    "tile": lambda x, *dims: S.tile(x, dims[0] if len(dims) == 1 and
                                    isinstance(dims[0], (tuple, list)) else dims),
    "repeat_interleave": S.repeat_interleave, "ravel": S.ravel, "moveaxis": S.moveaxis,
    "select": S.select, "diag": S.diag, "diag_embed": S.diag_embed, "diagonal": S.diagonal,
    "diagflat": S.diagflat, "trace": S.trace, "narrow_copy": S.narrow_copy,
    # index
    "index_select": I.index_select, "take": I.take, "take_along_dim": I.take_along_dim,
    "scatter": I.scatter, "scatter_add": I.scatter_add_, "scatter_reduce": I.scatter_reduce_op,
    "index_add": I.index_add, "index_copy": I.index_copy, "index_fill": I.index_fill,
    "masked_scatter": I.masked_scatter, "masked_select": I.masked_select,
    "put": I.put_flat, "index_reduce": I.index_reduce,
    "nonzero": _nonzero, "argwhere": I.argwhere, "index_put": I.index_put,
    # linear algebra
    "outer": L.outer, "ger": L.ger, "inner": L.inner, "mv": L.mv, "addmm": L.addmm,
    "addmv": L.addmv, "addbmm": L.addbmm, "baddbmm": L.baddbmm, "addr": L.addr,
    "kron": L.kron, "cross": L.cross, "dist": L.dist, "det": linalg_legacy.det,
    "slogdet": linalg_legacy.slogdet, "logdet": linalg_legacy.logdet,
    "inverse": linalg_legacy.inverse, "pinverse": linalg_legacy.pinverse,
    "qr": linalg_legacy.qr, "svd": linalg_legacy.svd,
    **{name: getattr(linalg_legacy, name) for name in (
        "cholesky", "cholesky_solve", "cholesky_inverse", "lu", "lu_solve", "triangular_solve",
        "matrix_exp", "geqrf", "orgqr", "ormqr", "solve", "lstsq", "symeig", "eig")},
}

_WRITTEN = ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill",
            "masked_scatter", "index_put", "cumsum", "cumprod", "addmm", "addmv", "addbmm",
            "baddbmm", "addr", "put", "index_reduce")
SHAPE_METHODS.update({name + "_": inplace.composite_method(SHAPE_METHODS[name], name + "_")
                      for name in _WRITTEN})
