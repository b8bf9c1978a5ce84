"""Op-table cases for reductions, scans, sorting, shape, index and linear-algebra ops (issue 9),
spliced into op_table.CASES under its anchor. Same conventions as op_table.py: each `fn`
runs with lib = tracecomp or torch. Ops whose output shape depends on the data (unique,
nonzero, masked_select, ...) are in eager/test_shape_ops.py: the compiled runner cannot trace them.
"""
from op_table import Int, Mask, OpCase, binary, unary

R2 = ((3, 4), (2, 3, 4))
NAN = float("nan")


def _nan_where_big(lib, x):
    return x.masked_fill(x > 1.2, NAN)


def _spd(lib, a):
    """a symmetric positive-definite matrix from any square a"""
    return a @ a.mT + 4 * lib.eye(a.shape[-1], dtype=a.dtype, device=a.device)


def _qr_unique(lib, a):
    """Q, R made unique: diag(R) > 0"""
    q, r = lib.linalg.qr(a)
    s = lib.sign(lib.diagonal(r, 0, -2, -1))
    return q * s.unsqueeze(-2), r * s.unsqueeze(-1)


def _svd_parts(lib, a):
    """S, and U, Vh with the sign of each singular pair fixed (gauge-invariant products)"""
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    return s, (u * s.unsqueeze(-2)) @ vh, u @ u.mT, vh.mT @ vh


def _eigh_parts(lib, a):
    w, v = lib.linalg.eigh(a + a.mT)
    return w, (v * w.exp().unsqueeze(-2)) @ v.mT


def _well_posed(lib, a):
    """a square a pushed away from singular (a diagonal of 4 added)"""
    return a + 4 * lib.eye(a.shape[-1], dtype=a.dtype, device=a.device)


def _triangular_solves(lib, a, b):
    a = _well_posed(lib, a)
    return (lib.linalg.solve_triangular(a, b, upper=True),
            lib.linalg.solve_triangular(a, b, upper=False, unitriangular=True),
            lib.linalg.solve_triangular(a, b.mT, upper=False, left=False))


def _lu_parts(lib, x):
    lu, piv = lib.linalg.lu_factor(x)
    p, low, up = lib.linalg.lu(x)
    return lu, p, low, up


def _lu_solves(lib, a, b):
    lu, piv = lib.linalg.lu_factor(_well_posed(lib, a))
    return lib.linalg.lu_solve(lu, piv, b), lib.linalg.lu_solve(lu, piv, b, adjoint=True)


def _cholesky_solves(lib, a, b):
    low = lib.linalg.cholesky(_spd(lib, a))
    return lib.cholesky_solve(b, low), lib.cholesky_inverse(low)


def _householder(lib, x):
    """Q of reflectors from x's lower part, as nn.utils.parametrizations.orthogonal makes"""
    a = x.tril(-1)
    return lib.linalg.householder_product(a, 2.0 / (1.0 + (a * a).sum(dim=-2)))


def _inplace_index(lib, x, i, s):
    y = x * 1
    y.index_add_(0, i, s, alpha=2)
    y.scatter_(1, i[:3, None].clamp(max=3), s[:3, :1])
    return y.index_fill_(1, i[:1], -1.0)


CASES = [
    # --- numpy spellings of dim/keepdim --------------------------------------------------
    unary("sum_axis_keepdims", lambda lib, x: x.sum(1, keepdims=True), shapes=R2),
    unary("mean_axis", lambda lib, x: lib.mean(x, axis=0), shapes=R2),
    unary("amax_axis", lambda lib, x: lib.amax(x, axis=-1, keepdims=True), "distinct",
          shapes=R2),
    unary("argmax_axis", lambda lib, x: x.argmax(axis=1, keepdims=True), "distinct",
          grad=False, shapes=R2),
    unary("std_axis", lambda lib, x: x.std(axis=1, keepdims=True), shapes=R2),
    unary("logsumexp_axis", lambda lib, x: lib.logsumexp(x, axis=1), shapes=R2),
    unary("max_axis", lambda lib, x: tuple(x.max(axis=1, keepdims=True)), "distinct",
          shapes=R2),
    unary("all_axis", lambda lib, x: lib.all(x > 0, axis=1), grad=False, shapes=R2),
    # --- products and scans ----------------------------------------------------------------
    unary("prod_all", lambda lib, x: x.prod(), shapes=((3, 4), (5,), ())),
    unary("prod_zeros", lambda lib, x: lib.prod(x, 1, keepdim=True), "ties",
          shapes=((4, 5), (2, 3, 4)), dtypes=("float32", "int64")),
    unary("prod_all_zeros", lambda lib, x: x.prod(), "ties", shapes=((3, 4),)),
    unary("cumsum", lambda lib, x: lib.cumsum(x, 1), shapes=R2, dtypes=("float32", "int64")),
    unary("cumsum_neg_0d", lambda lib, x: x.cumsum(-1), shapes=((5,), ())),
    unary("cumsum_dtype", lambda lib, x: lib.cumsum(x, 0, dtype=lib.float64), shapes=((3, 4),)),
    unary("cumsum_bool", lambda lib, x: lib.cumsum(x > 0, 1), grad=False, shapes=((3, 4),)),
    unary("cumprod", lambda lib, x: x.cumprod(1), shapes=R2),
    unary("cumprod_zeros", lambda lib, x: lib.cumprod(x, -1), "ties", shapes=((4, 6), (3, 5))),
    unary("cummax", lambda lib, x: tuple(lib.cummax(x, 1)), "distinct", shapes=R2),
    unary("cummin_ties", lambda lib, x: tuple(x.cummin(0)), "ties", fd=False, shapes=R2),
    unary("logcumsumexp", lambda lib, x: lib.logcumsumexp(x * 30, 1), shapes=R2, rtol=1e-4),
    unary("nansum", lambda lib, x: lib.nansum(_nan_where_big(lib, x), 1), fd=False,
          shapes=R2),
    unary("nanmean", lambda lib, x: _nan_where_big(lib, x).nanmean(), fd=False, shapes=R2),
    unary("median_all", lambda lib, x: x.median(), "distinct", shapes=((3, 4), (5,))),
    unary("median_dim", lambda lib, x: tuple(lib.median(x, 1, keepdim=True)), "distinct",
          shapes=R2),
    # distinct: which index a tie returns is not defined by torch
    unary("median_nan", lambda lib, x: tuple(_nan_where_big(lib, x).median(0)), "distinct",
          grad=False, shapes=((5, 4),)),
    unary("nanmedian", lambda lib, x: tuple(lib.nanmedian(_nan_where_big(lib, x), 0)),
          "distinct", grad=False, shapes=((5, 4),)),
    unary("mode", lambda lib, x: tuple(lib.mode(x, 1)), "ties", fd=False, shapes=((4, 7),)),
    unary("count_nonzero", lambda lib, x: (lib.count_nonzero(x), x.count_nonzero(dim=1)),
          "ties", grad=False, shapes=((3, 4),)),
    unary("std_mean", lambda lib, x: lib.std_mean(x, 1), shapes=R2),
    unary("aminmax", lambda lib, x: tuple(lib.aminmax(x, dim=1)), "distinct", shapes=R2),
    unary("diff", lambda lib, x: lib.diff(x, dim=1), shapes=R2),
    binary("diff_append", lambda lib, a, b: lib.diff(a, n=2, dim=0, append=b),
           shapes=(((4, 3), (2, 3)),)),
    # --- sorting and selection -------------------------------------------------------------
    unary("sort", lambda lib, x: tuple(lib.sort(x, 1)), "distinct", shapes=R2,
          dtypes=("float32", "int64")),
    unary("sort_desc_stable", lambda lib, x: tuple(x.sort(descending=True, stable=True)),
          "ties", fd=False, shapes=((3, 6),)),
    unary("argsort", lambda lib, x: x.argsort(dim=0, descending=True), "distinct",
          grad=False, shapes=R2),
    unary("msort", lambda lib, x: lib.msort(x), "distinct", shapes=((4, 3),)),
    unary("topk", lambda lib, x: tuple(x.topk(2)), "distinct", shapes=R2),
    unary("topk_smallest", lambda lib, x: tuple(lib.topk(x, 3, dim=0, largest=False)),
          "distinct", shapes=((4, 3),)),
    unary("kthvalue", lambda lib, x: tuple(lib.kthvalue(x, 2, 1)), "distinct", shapes=R2),
    unary("kthvalue_keep", lambda lib, x: tuple(x.kthvalue(3, 0, keepdim=True)), "distinct",
          shapes=((4, 3),)),
    binary("searchsorted", lambda lib, a, b: lib.searchsorted(lib.sort(a).values, b),
           grad=False, shapes=(((6,), (3, 4)), ((2, 5), (2, 3)))),
    binary("searchsorted_right", lambda lib, a, b: lib.searchsorted(
        lib.sort(a).values, b.round(), right=True), "ties", grad=False,
        shapes=(((6,), (7,)),)),
    binary("bucketize", lambda lib, a, b: lib.bucketize(b, lib.sort(a).values, right=True),
           "ties", grad=False, shapes=(((5,), (3, 4)),)),
    binary("isin", lambda lib, a, b: (lib.isin(a, b), lib.isin(a.long(), b.long(),
                                                               invert=True)),
           "ties", grad=False, shapes=(((3, 4), (5,)), ((6,), (0,)))),
    unary("histc", lambda lib, x: (lib.histc(x, bins=5, min=-1, max=1), x.histc(7)),
          shapes=((20,), (3, 4))),
    # --- shape -------------------------------------------------------------------------------
    unary("flip", lambda lib, x: (x.flip(0), lib.flip(x, (0, -1))), shapes=R2,
          dtypes=("float32", "int64")),
    unary("fliplr_flipud", lambda lib, x: (lib.fliplr(x), x.flipud()), shapes=R2),
    unary("roll", lambda lib, x: (lib.roll(x, 1, 0), x.roll((1, -2), (0, 1)), lib.roll(x, 5)),
          shapes=R2),
    unary("rot90", lambda lib, x: tuple(lib.rot90(x, k, (0, 1)) for k in (1, 2, -1)),
          shapes=R2),
    unary("tile", lambda lib, x: (x.tile((2,)), lib.tile(x, (2, 1, 2))), shapes=((3, 4), (4,))),
    unary("repeat_interleave", lambda lib, x: (x.repeat_interleave(2, dim=0),
                                               lib.repeat_interleave(x, 3)), shapes=R2),
    unary("ravel_moveaxis", lambda lib, x: (x.ravel(), lib.moveaxis(x, 0, -1),
                                            x.swapaxes(0, 1) * 2), shapes=R2),
    unary("select", lambda lib, x: (x.select(1, -1), lib.select(x, 0, 1)), shapes=R2),
    binary("stacks", lambda lib, a, b: (lib.hstack([a, b]), lib.vstack((a, b)),
                                        lib.dstack([a, b]), lib.column_stack([b, a]) * 2,
                                        lib.row_stack([b, a])),
           shapes=(((3, 4), (3, 4)), ((4,), (4,)), ((), ()))),
    unary("atleast", lambda lib, x: (lib.atleast_1d(x), lib.atleast_2d(x) * 2,
                                     lib.atleast_3d(x) * 3),
          shapes=((), (4,), (3, 4), (2, 3, 4))),
    unary("diag", lambda lib, x: (lib.diag(x), lib.diag(x, 1), x.diag(-2)),
          shapes=((4,), (3, 5), (5, 3))),
    unary("diag_embed", lambda lib, x: (lib.diag_embed(x), x.diag_embed(1),
                                        lib.diag_embed(x, -2, -1, 0)), shapes=((4,), (2, 3))),
    unary("diagonal", lambda lib, x: (x.diagonal(), lib.diagonal(x, 1), x.diagonal(-1, 0, -1)),
          shapes=((3, 4), (4, 3), (2, 3, 4))),
    unary("diagflat_trace", lambda lib, x: (lib.diagflat(x), lib.diagflat(x, -1)),
          shapes=((2, 3), (3,))),
    unary("trace", lambda lib, x: x.trace(), shapes=((3, 4), (4, 4)),
          dtypes=("float32", "int64")),
    OpCase("cartesian_prod", lambda lib, a, b, c: lib.cartesian_prod(a, b, c),
           (((2,), (3,), (2,)),)),
    unary("combinations", lambda lib, x: (lib.combinations(x), lib.combinations(x, 3, True)),
          shapes=((4,),)),
    OpCase("block_diag", lambda lib, a, b, c: lib.block_diag(a, b, c),
           (((2, 3), (4,), ()), ((1, 1), (2, 2), (3, 1)))),
    unary("narrow_copy", lambda lib, x: x.narrow_copy(1, 1, 2), shapes=R2),
    # --- index -------------------------------------------------------------------------------
    OpCase("index_select", lambda lib, x, i: x.index_select(1, i),
           (((3, 4), Int((5,), 0, 4)), ((2, 4, 3), Int((2,), 0, 4)))),
    OpCase("take", lambda lib, x, i: lib.take(x, i), (((3, 4), Int((2, 3), -12, 12)),)),
    OpCase("take_along_dim", lambda lib, x, i: (lib.take_along_dim(x, i, 1),
                                                lib.take_along_dim(x, i)),
           (((3, 4), Int((3, 2), 0, 4)), ((3, 4), Int((1, 5), 0, 4)))),
    # src as large as index: torch's scatter backward mis-shapes a larger src's gradient
    OpCase("scatter_src", lambda lib, x, i, s: x.scatter(1, i, s),
           (((3, 4), Int((3, 1), 0, 4), (3, 1)), ((4, 3), Int((1, 3), 0, 3, True), (1, 3)))),
    OpCase("scatter_value", lambda lib, x, i: lib.scatter(x, 0, i, 2.5),
           (((3, 4), Int((2, 4), 0, 3)),)),
    OpCase("scatter_add", lambda lib, x, i, s: lib.scatter_add(x, 1, i, s),
           (((3, 4), Int((3, 5), 0, 4), (3, 5)),)),
    OpCase("scatter_reduce_arg", lambda lib, x, i, s: (x.scatter(1, i, s, reduce="add"),
                                                       x.scatter(1, i, s, reduce="multiply")),
           (((3, 4), Int((3, 5), 0, 4), (3, 5)),), grad=False),
    OpCase("scatter_reduce_sum_mean", lambda lib, x, i, s: tuple(
        lib.scatter_reduce(x, 1, i, s, r, include_self=inc) for r in ("sum", "mean")
        for inc in (True, False)), (((3, 4), Int((3, 5), 0, 4), (3, 5)),)),
    OpCase("scatter_reduce_prod", lambda lib, x, i, s: tuple(
        x.scatter_reduce(0, i, s, "prod", include_self=inc) for inc in (True, False)),
        (((4, 3), Int((5, 3), 0, 4), (5, 3)),), "ties"),
    # ties share the gradient evenly; without include_self, torch 2.13 also counts self's
    # ties (which took no part) when sharing, so that form is checked on distinct values
    OpCase("scatter_reduce_amax", lambda lib, x, i, s: tuple(
        x.scatter_reduce(1, i, s, r) for r in ("amax", "amin")),
        (((3, 4), Int((3, 6), 0, 4), (3, 6)),), "ties", fd=False),
    OpCase("scatter_reduce_amax_excl", lambda lib, x, i, s: tuple(
        x.scatter_reduce(1, i, s, r, include_self=False) for r in ("amax", "amin")),
        (((3, 4), Int((3, 6), 0, 4), (3, 6)),), "distinct"),
    OpCase("index_add", lambda lib, x, i, s: x.index_add(0, i, s, alpha=2),
           (((3, 4), Int((5,), 0, 3), (5, 4)),)),
    OpCase("index_copy", lambda lib, x, i, s: lib.index_copy(x, 1, i, s),
           (((3, 4), Int((2,), 0, 4, True), (3, 2)),)),
    OpCase("index_fill", lambda lib, x, i: x.index_fill(1, i, -1.0),
           (((3, 4), Int((2,), 0, 4)),)),
    OpCase("masked_scatter", lambda lib, x, m, s: x.masked_scatter(m, s),
           (((3, 4), Mask((3, 4)), (3, 4)), ((3, 4), Mask((4,)), (13,)))),
    OpCase("index_put", lambda lib, x, i, v: (x.index_put((i[:3],), v[:3]),
                                              x.index_put((i, i.clamp(max=2)), v.sum(-1),
                                                          accumulate=True)),
           (((4, 3), Int((4,), 0, 4, True), (4, 3)),)),
    OpCase("inplace_index_ops", _inplace_index, (((4, 4), Int((5,), 0, 4), (5, 4)),)),
    # --- products and norms ----------------------------------------------------------------
    binary("outer_ger", lambda lib, a, b: (lib.outer(a, b), b.ger(a)), shapes=(((3,), (4,)),)),
    binary("inner", lambda lib, a, b: lib.inner(a, b),
           shapes=(((3, 4), (2, 4)), ((4,), (4,)), ((2, 3, 4), (4,)), ((), (3,)))),
    binary("mv", lambda lib, a, b: lib.mv(a, b), shapes=(((3, 4), (4,)),)),
    OpCase("addmm", lambda lib, x, a, b: (lib.addmm(x, a, b), x.addmm(a, b, beta=0.5,
                                                                        alpha=2)),
           (((3, 5), (3, 4), (4, 5)), ((5,), (3, 4), (4, 5)))),
    OpCase("addmv_addr", lambda lib, x, a, v: (lib.addmv(x, a, v, alpha=3), lib.addr(
        a, x, v, beta=2)), (((3,), (3, 4), (4,)),)),
    OpCase("baddbmm_addbmm", lambda lib, x, a, b: (lib.baddbmm(x, a, b, beta=0.5),
                                                   lib.addbmm(x[0], a, b, alpha=2)),
           (((2, 3, 5), (2, 3, 4), (2, 4, 5)),)),
    binary("kron", lambda lib, a, b: lib.kron(a, b),
           shapes=(((2, 3), (3, 2)), ((2,), (2, 3)), ((2, 1, 2), (3, 2)))),
    binary("cross", lambda lib, a, b: (lib.cross(a, b, dim=1), lib.linalg.cross(b, a, dim=1)),
           shapes=(((4, 3), (4, 3)), ((2, 3, 2), (1, 3, 2)))),
    binary("cdist", lambda lib, a, b: (lib.cdist(a, b), lib.cdist(a, b, p=1),
                                       lib.cdist(a, b, p=3)),
           shapes=(((4, 3), (5, 3)), ((2, 3, 2), (2, 4, 2)), ((30, 3), (4, 3)))),
    binary("dist", lambda lib, a, b: (lib.dist(a, b), lib.dist(a, b, 3)),
           shapes=(((3, 4), (3, 4)), ((4,), (2, 4)))),
    unary("vector_norm", lambda lib, x: (lib.linalg.vector_norm(x), lib.linalg.vector_norm(
        x, 3, dim=1), lib.linalg.vector_norm(x, float("inf"), dim=(0, 1), keepdim=True),
        lib.linalg.norm(x, dim=1)), "distinct", shapes=((3, 4), (2, 3, 4))),
    unary("matrix_norm", lambda lib, x: tuple(lib.linalg.matrix_norm(x, o) for o in
                                              ("fro", "nuc", 2, -2, 1, -1, float("inf")))
          + (lib.linalg.norm(x * 2), lib.linalg.norm(x.mT, 1)), "distinct",
          shapes=((3, 4), (4, 3)), rtol=1e-4),
    # --- einsum and tensordot ----------------------------------------------------------------
    binary("einsum_attention", lambda lib, q, k: lib.einsum("bhqd,bhkd->bhqk", q, k),
           shapes=(((2, 3, 4, 5), (2, 3, 6, 5)),)),
    binary("einsum_forms", lambda lib, a, b: (
        lib.einsum("ij,jk", a, b), lib.einsum("ij,jk->ki", a, b), lib.einsum("ij->", a),
        lib.einsum("ij->j", a), lib.einsum("ij,ij->i", a, b.mT), lib.einsum("ij,kl->ijkl", a, b),
        lib.einsum("ii->i", a @ b), lib.einsum("ii", a @ b), lib.einsum("ji", a),
        lib.einsum("ij,ij->ij", a, b.mT), lib.einsum(a, [0, 1], a, [2, 1], [0, 2])),
        shapes=(((3, 4), (4, 3)),)),
    OpCase("einsum_ellipsis", lambda lib, a, b, c: (
        lib.einsum("...ij,...jk->...ik", a, b), lib.einsum("bij,bjk,bkl->bil", a, b, c),
        lib.einsum("b...,b...->b", a, a), lib.einsum("...ij->...ji", [c])),
        (((2, 3, 4), (2, 4, 5), (2, 5, 2)), ((2, 3, 4), (1, 4, 5), (2, 5, 2)))),
    binary("tensordot", lambda lib, a, b: (lib.tensordot(a, b, 1), lib.tensordot(
        a, b, ([0], [1])), lib.tensordot(a, b.permute(2, 1, 0), dims=([1, 2], [0, 2]))),
        shapes=(((3, 4, 2), (2, 3, 4)),)),
    # --- torch.linalg ------------------------------------------------------------------------
    unary("linalg_inv_det", lambda lib, x: (lib.linalg.inv(_spd(lib, x)), lib.linalg.det(x),
                                            lib.det(x.mT), *lib.linalg.slogdet(x),
                                            lib.logdet(_spd(lib, x)), lib.inverse(x + x.mT)),
          shapes=((3, 3), (2, 4, 4)), rtol=1e-4, atol=1e-5),
    binary("linalg_solve", lambda lib, a, b: lib.linalg.solve(_spd(lib, a), b),
           shapes=(((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (3, 1)), ((2, 3, 3), (2, 3)))),
    unary("linalg_cholesky", lambda lib, x: (lib.linalg.cholesky(_spd(lib, x)),
                                             lib.linalg.cholesky(_spd(lib, x), upper=True)),
          shapes=((3, 3), (2, 4, 4)), rtol=1e-4, atol=1e-5),
    unary("linalg_eigh", _eigh_parts, "distinct", shapes=((3, 3), (2, 4, 4)), rtol=1e-4,
          atol=1e-4),
    unary("linalg_qr", _qr_unique, shapes=((4, 3), (3, 3), (3, 5), (2, 4, 2)), rtol=1e-4,
          atol=1e-5),
    unary("linalg_svd", _svd_parts, shapes=((4, 3), (3, 5), (2, 3, 3)), rtol=1e-4, atol=1e-5),
    unary("linalg_pinv", lambda lib, x: lib.linalg.pinv(x), shapes=((4, 3), (3, 5), (2, 3, 3)),
          rtol=1e-4, atol=1e-5),
    binary("linalg_lstsq", lambda lib, a, b: lib.linalg.lstsq(a, b).solution,
           shapes=(((5, 3), (5, 2)),), rtol=1e-4, atol=1e-5),
    binary("linalg_solve_triangular", _triangular_solves,
           shapes=(((3, 3), (3, 2)), ((2, 3, 3), (3, 1)), ((3, 3), (2, 3, 2))), rtol=1e-4,
           atol=1e-5),
    unary("linalg_lu", _lu_parts, shapes=((3, 3), (2, 4, 4), (3, 5), (5, 3)), rtol=1e-4,
          atol=1e-5),
    binary("linalg_lu_solve", _lu_solves, shapes=(((3, 3), (3, 2)), ((2, 4, 4), (2, 4, 1))),
           rtol=1e-4, atol=1e-5),
    binary("cholesky_solve", _cholesky_solves, shapes=(((3, 3), (3, 2)), ((2, 4, 4), (4, 1))),
           rtol=1e-4, atol=1e-5),
    unary("linalg_matrix_exp", lambda lib, x: lib.linalg.matrix_exp(x),
          shapes=((3, 3), (2, 4, 4)), rtol=1e-4, atol=1e-5),
    unary("linalg_householder_product", _householder, shapes=((4, 4), (5, 3), (2, 4, 2)),
          rtol=1e-4, atol=1e-5),
]
