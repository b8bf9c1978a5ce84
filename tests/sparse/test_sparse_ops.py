"""Ops on sparse tensors against torch 2.13, values and gradients: sparse @ dense in every
spelling (torch.sparse.mm, torch.spmm, torch.mm, torch.matmul, @, dense @ sparse, a
vector), torch.sparse.addmm, sums, softmax / log_softmax over the entries present,
arithmetic, sparse_mask, hspmm; gradients reach the dense operand, the values a sparse
tensor was made of, and a sparse leaf's .grad (sparse, of its pattern), as torch's."""
import functools

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

# torch's beta notes; numpy's note on sqrt of a negative value (NaN, as torch gives)
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

RNG = np.random.default_rng(0)
IDX = np.array([[0, 1, 1, 0, 3, 2], [2, 0, 2, 2, 1, 3]])    # (0, 2) twice
VALS = RNG.standard_normal(6).astype(np.float32)
DENSE = RNG.standard_normal((4, 3)).astype(np.float32)
WEIGHT = RNG.standard_normal((4, 3)).astype(np.float32)     # weighs an output into a loss


def _sparse(lib, vals, coalesce=False, csr=False, csc=False):
    s = lib.sparse_coo_tensor(lib.tensor(IDX), vals, (4, 4))
    if coalesce or csr or csc:
        s = s.coalesce()
    return s.to_sparse_csr() if csr else s.to_sparse_csc() if csc else s


OPS = {
    "sparse.mm": lambda lib, s, d: lib.sparse.mm(s, d),
    "spmm": lambda lib, s, d: lib.spmm(s, d),
    "mm": lambda lib, s, d: lib.mm(s, d),
    "matmul": lambda lib, s, d: lib.matmul(s, d),
    "at": lambda lib, s, d: s @ d,
    "at_vector": lambda lib, s, d: s @ d[:, 0],
    "dense_at_sparse": lambda lib, s, d: d.t() @ s,
    "mm_dense_sparse": lambda lib, s, d: lib.mm(d.t(), s),
    "addmm": lambda lib, s, d: lib.sparse.addmm(d[:, :2] * 2, s, d[:, 1:], beta=0.5,
                                                alpha=3.0),
    "torch_addmm": lambda lib, s, d: lib.addmm(d[:, :2], s, d[:, 1:]),
    "to_dense": lambda lib, s, d: s.to_dense() * d[:, 0],
    "sum_all": lambda lib, s, d: lib.sparse.sum(s) * d,
    "torch_sum": lambda lib, s, d: lib.sum(s) * d,
    "sum_dim0": lambda lib, s, d: lib.sparse.sum(s, dim=0),
    "sum_dim1": lambda lib, s, d: lib.sparse.sum(s, 1),
    "sum_both": lambda lib, s, d: lib.sparse.sum(s, (0, 1)) * d,
    "softmax0": lambda lib, s, d: lib.sparse.softmax(s.coalesce(), 0),
    "softmax1": lambda lib, s, d: lib.sparse.softmax(s.coalesce(), 1),
    "softmax_last": lambda lib, s, d: lib.sparse.softmax(s.coalesce(), -1),
    "log_softmax1": lambda lib, s, d: lib.sparse.log_softmax(s.coalesce(), 1),
    "mul_scalar": lambda lib, s, d: s * 2.5,
    "rmul_scalar": lambda lib, s, d: 2.5 * s,
    "div_scalar": lambda lib, s, d: s / 4,
    "neg": lambda lib, s, d: -s,
    "mul_dense": lambda lib, s, d: s * d[:, :1].expand(4, 4),
    "mul_sparse": lambda lib, s, d: s.coalesce() * s.coalesce(),
    "add_sparse": lambda lib, s, d: s + s * 2,
    "add_coalesced": lambda lib, s, d: s.coalesce() + (s * 2).coalesce(),
    "sub_sparse": lambda lib, s, d: s - s * 3,
    "dense_add_sparse": lambda lib, s, d: d[:, :1].expand(4, 4) + s,
    "torch_add_alpha": lambda lib, s, d: lib.add(d[:, :1].expand(4, 4), s, alpha=2),
    "sparse_mask": lambda lib, s, d: (d[:, :1] * d[:, 0]).sparse_mask(s.coalesce()) * 1.5,
    "coalesce": lambda lib, s, d: s.coalesce() * 1.0,
    "transpose_mm": lambda lib, s, d: s.coalesce().t() @ d,
    "double": lambda lib, s, d: s.double() @ d.double(),
    "hspmm": lambda lib, s, d: lib.hspmm(s.coalesce(), d),
    "smm": lambda lib, s, d: lib.smm(s.coalesce(), d) * 1.0,
    "sparse_at_sparse": lambda lib, s, d: s @ (s * 2),
    "sparse_mm_sparse_t": lambda lib, s, d: lib.sparse.mm(s.coalesce(), s.t()),
    **{f"csr_mm_{reduce}": functools.partial(
        lambda lib, s, d, how: lib.sparse.mm(s.coalesce().to_sparse_csr(), d, how),
        how=reduce) for reduce in ("sum", "mean", "amax", "amin")},
}


# where torch 2.13 has no backward for the sparse op (hspmm, a sparse cast, sparse * dense)
# or a wrong one (sparse.softmax along dim=-1: its gradients in a row do not sum to zero),
# the reference is torch's dense twin of the op
TORCH_TWINS = {
    "double": lambda lib, s, d: s.to_dense().double() @ d.double(),
    "hspmm": OPS["sparse.mm"],
    "smm": OPS["sparse.mm"],
    "mul_dense": lambda lib, s, d: s.to_dense() * d[:, :1].expand(4, 4),
    "softmax_last": lambda lib, s, d: lib.sparse.softmax(s.coalesce(), 1),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_values_and_gradients_are_torchs(name):
    want = _run_weighted(torch, TORCH_TWINS.get(name, OPS[name]))
    got = _run_weighted(tc, OPS[name])
    for what, g, w in zip(("value", "values.grad", "dense.grad"), got, want):
        if w is None:
            assert g is None, f"{what}: tracecomp has one, torch has none"
            continue
        assert_close(g, w, rtol=1e-5, atol=1e-5, what=what)


def _run_weighted(lib, fn, **kw):
    vals = lib.tensor(VALS, requires_grad=True)
    dense = lib.tensor(DENSE, requires_grad=True)
    out = fn(lib, _sparse(lib, vals, **kw), dense)
    dense_out = out.to_dense() if out.layout != lib.strided else out
    w = lib.tensor(np.random.default_rng(1).standard_normal(tuple(dense_out.shape))
                   .astype(np.float32))
    (dense_out * w).sum().backward()
    return dense_out, vals.grad, dense.grad


@pytest.mark.parametrize("layout", ["csr", "csc"])
@pytest.mark.parametrize("name", ["sparse.mm", "at", "dense_at_sparse", "to_dense", "addmm"])
def test_compressed_layouts_match_torch(name, layout):
    """CSR and CSC against torch's CSR (torch has no backward for a CSC product; the
    gradients are those of the values the matrix was made of, whatever its layout)."""
    want = _run_weighted(torch, OPS[name], csr=True)
    got = _run_weighted(tc, OPS[name], **{layout: True})
    for what, g, w in zip(("value", "values.grad", "dense.grad"), got, want):
        assert_close(g, w, rtol=1e-5, atol=1e-5, what=what)


def test_result_layouts_are_torchs():
    for name, fn in OPS.items():
        want = fn(torch, _sparse(torch, torch.tensor(VALS)), torch.tensor(DENSE))
        got = fn(tc, _sparse(tc, tc.tensor(VALS)), tc.tensor(DENSE))
        assert str(got.layout) == str(want.layout), name
        if want.layout == torch.sparse_coo:
            assert got.is_coalesced() == want.is_coalesced(), name


def test_sparse_leaf_grad_is_sparse_of_its_pattern():
    """A sparse leaf that requires grad gets a coalesced sparse .grad: the dense gradient at
    each of its positions once (the duplicate (0, 2) is not counted twice)."""
    grads = []
    for lib in (torch, tc):
        s = lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VALS), (4, 4),
                                  requires_grad=True)
        assert s.is_leaf and s.requires_grad
        (lib.sparse.mm(s, lib.tensor(DENSE)) ** 2).sum().backward()
        grads.append(s.grad)
    want, got = grads
    assert got.layout is tc.sparse_coo and got.is_coalesced()
    assert_close(got._indices(), want._indices())
    assert_close(got._values(), want._values(), rtol=1e-5)
    s = tc.sparse_coo_tensor(tc.tensor(IDX), tc.tensor(VALS), (4, 4)).requires_grad_()
    tc.sparse.sum(s).backward()
    s.grad = None
    assert s.grad is None


def test_values_with_history_make_a_non_leaf():
    for lib in (torch, tc):
        v = lib.tensor(VALS, requires_grad=True) * 2
        s = lib.sparse_coo_tensor(lib.tensor(IDX), v, (4, 4))
        assert s.requires_grad and not s.is_leaf
        assert not s.detach().requires_grad


def test_dense_to_sparse_passes_gradients_back():
    grads = []
    for lib in (torch, tc):
        x = lib.tensor(DENSE * (np.abs(DENSE) > 0.5), requires_grad=True)
        (lib.sparse.mm(x.to_sparse(), lib.tensor(WEIGHT.T)) ** 2).sum().backward()
        grads.append(x.grad)
    assert_close(grads[1], grads[0], rtol=1e-5)


def test_unsupported_pairs_raise():
    s = _sparse(tc, tc.tensor(VALS))
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        tc.sparse.mm(s, tc.sparse_coo_tensor(tc.tensor([[0], [0]]), tc.ones(1), (3, 3)))
    with pytest.raises(RuntimeError, match="add\\(sparse, dense\\)"):
        s + 1
    with pytest.raises(NotImplementedError, match="keepdim"):
        s.sum(0, keepdim=True)
    with pytest.raises(NotImplementedError, match="CSR"):
        tc.sparse.mm(s, tc.ones(4, 2), "mean")
    with pytest.raises(RuntimeError, match="prod has not been enabled"):
        tc.sparse.mm(s.coalesce().to_sparse_csr(), tc.ones(4, 2), "prod")


@pytest.mark.parametrize("pair", [
    ([[0, 1, 2], [1, 0, 2]], [[0, 1, 2], [1, 0, 2]]),      # the same positions
    ([[0, 1, 2], [1, 0, 2]], [[2, 0], [2, 1]]),            # b unsorted: (0, 1) stays twice
    ([[0, 0], [1, 1]], [[0, 1, 2], [1, 0, 2]]),            # a lists (0, 1) twice
])
@pytest.mark.parametrize("coalesce_first", [False, True])
def test_sum_of_two_sparse_keeps_torchs_entries(pair, coalesce_first):
    """sparse + sparse merges the two entry lists as torch does (same nnz, same order of
    positions, same coalesced flag), not only the same dense sum."""
    results = []
    for lib in (torch, tc):
        a, b = (lib.sparse_coo_tensor(lib.tensor(i), lib.arange(1.0, len(i[0]) + 1), (3, 3))
                for i in pair)
        if coalesce_first:
            a, b = a.coalesce(), b.coalesce()
        results.append(a + b)
    want, got = results
    assert got.is_coalesced() == want.is_coalesced()
    assert_close(got._indices(), want._indices())
    assert_close(got._values(), want._values())


def _edge_spmm(lib):
    """A custom autograd Function, GAT-style: a sparse matrix built inside forward from
    edge values, saved for backward, whose backward reads its indices and transposes it."""
    class EdgeSpmm(lib.autograd.Function):
        @staticmethod
        def forward(ctx, indices, values, shape, b):
            a = lib.sparse_coo_tensor(indices, values, shape)
            ctx.save_for_backward(a, b)
            ctx.rows = shape[0]
            return lib.matmul(a, b)

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            where = a._indices()[0, :] * ctx.rows + a._indices()[1, :]
            return None, grad.matmul(b.t()).view(-1)[where], None, a.t().matmul(grad)

    return EdgeSpmm


def test_sparse_tensor_saved_by_a_custom_function():
    grads = []
    for lib in (torch, tc):
        values = lib.tensor(VALS, requires_grad=True)
        dense = lib.tensor(DENSE, requires_grad=True)
        weights = lib.exp(-lib.nn.functional.leaky_relu(values))
        spmm = _edge_spmm(lib).apply
        out = spmm(lib.tensor(IDX), weights, lib.Size([4, 4]), dense)
        norm = spmm(lib.tensor(IDX), weights, lib.Size([4, 4]), lib.ones(4, 1))
        (out / (norm + 1)).pow(2).sum().backward()
        grads.append((values.grad, dense.grad))
    assert_close(grads[1][0], grads[0][0], rtol=1e-5, atol=1e-6)
    assert_close(grads[1][1], grads[0][1], rtol=1e-5, atol=1e-6)


UNARY = ["abs", "sqrt", "sin", "tanh", "relu", "sign", "expm1", "floor", "atan", "trunc",
         "asinh", "round"]


@pytest.mark.parametrize("name", UNARY + ["pow"])
def test_zero_preserving_functions_map_the_coalesced_values(name):
    """torch.tanh(sparse) & co: coalesced first, then the function of each value (torch
    has no backward for most of them; ours is the function's own, on the values)."""
    fn = (lambda lib, s: s.pow(2)) if name == "pow" else \
        (lambda lib, s: getattr(lib, name)(s))
    want = fn(torch, _sparse(torch, torch.tensor(VALS)))
    values = tc.tensor(VALS, requires_grad=True)
    got = fn(tc, _sparse(tc, values))
    assert got.is_coalesced() == want.is_coalesced() and got._nnz() == want._nnz()
    assert_close(got.to_dense(), want.to_dense())
    got._values().sum().backward()
    summed = torch.tensor(VALS, requires_grad=True)
    coalesced = torch.sparse_coo_tensor(torch.tensor(IDX), summed, (4, 4)).coalesce()
    dense_fn = (lambda v: v.pow(2)) if name == "pow" else getattr(torch, name)
    dense_fn(coalesced.values()).sum().backward()
    assert_close(values.grad, summed.grad, rtol=1e-5, atol=1e-6, what="values.grad")


def test_other_functions_refuse_a_sparse_tensor():
    s = _sparse(tc, tc.tensor(VALS))
    for fn in (tc.exp, tc.sigmoid, tc.cos, lambda s: s ** -1.0):
        with pytest.raises(NotImplementedError, match="SparseCPU"):
            fn(s)
