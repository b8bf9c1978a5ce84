"""Sparse tensors against torch 2.13: making COO and CSR tensors (sparse_coo_tensor,
sparse_csr_tensor, torch.sparse.FloatTensor, to_sparse), what they are (layout, nnz,
sparse/dense dims, coalesced), their repr, conversions both ways, and torch's errors for
bad input and for dense ops a sparse tensor does not have."""
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

# torch's beta and deprecation notes (tracecomp's legacy constructor warns as torch's)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

IDX = [[0, 1, 1, 0], [2, 0, 2, 2]]       # (0, 2) twice: uncoalesced
VALS = [3.0, 4.0, 5.0, 1.0]


def both(fn):
    """fn(lib) under torch and tracecomp."""
    return fn(torch), fn(tc)


def _coo(lib, idx=IDX, vals=VALS, size=(2, 3), **kw):
    return lib.sparse_coo_tensor(lib.tensor(idx), lib.tensor(vals), size, **kw)


def _same_sparse(got, want):
    """Same layout, size, dtype, coalesced flag, indices and values (and dense form)."""
    assert str(got.layout) == str(want.layout)
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    if want.layout == torch.sparse_coo:
        assert got.is_coalesced() == want.is_coalesced()
        assert_close(got._indices(), want._indices(), what="indices")
        assert_close(got._values(), want._values(), what="values")
    elif want.layout == torch.sparse_csr:
        assert_close(got.crow_indices(), want.crow_indices(), what="crow_indices")
        assert_close(got.col_indices(), want.col_indices(), what="col_indices")
        assert_close(got.values(), want.values(), what="values")
    else:
        assert_close(got.ccol_indices(), want.ccol_indices(), what="ccol_indices")
        assert_close(got.row_indices(), want.row_indices(), what="row_indices")
        assert_close(got.values(), want.values(), what="values")
    assert_close(got.to_dense(), want.to_dense(), what="to_dense")


def _repr(t):
    """tracecomp's repr in torch's words (its dtypes print as tracecomp.float64)."""
    return repr(t).replace("tracecomp.", "torch.")


MAKERS = {
    "coo": lambda lib: _coo(lib),
    "coo_no_size": lambda lib: lib.sparse_coo_tensor(lib.tensor(IDX), lib.tensor(VALS)),
    "coo_lists_float64": lambda lib: lib.sparse_coo_tensor(IDX, VALS, (3, 4),
                                                           dtype=lib.float64),
    "coo_hybrid": lambda lib: lib.sparse_coo_tensor(
        lib.tensor([[0, 2]]), lib.arange(6.0).reshape(2, 3), (4, 3)),
    "coo_empty": lambda lib: lib.sparse_coo_tensor(lib.zeros(2, 0, dtype=lib.int64),
                                                   lib.zeros(0), (2, 3)),
    "coo_one": lambda lib: lib.sparse_coo_tensor(lib.tensor([[1], [2]]), lib.tensor([7.0]),
                                                 (2, 3)),
    "coo_flagged": lambda lib: _coo(lib, [[0, 1], [1, 0]], [1.0, 2.0], is_coalesced=True),
    "legacy": lambda lib: lib.sparse.FloatTensor(lib.tensor(IDX), lib.tensor(VALS),
                                                 lib.Size([2, 3])),
    "legacy_empty": lambda lib: lib.sparse.FloatTensor(2, 3),
    "coalesce": lambda lib: _coo(lib).coalesce(),
    "dense_to_sparse": lambda lib: lib.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]).to_sparse(),
    "dense_to_hybrid": lambda lib: lib.tensor([[0.0, 0.0], [1.0, 0.0], [0, 2]]).to_sparse(1),
    "csr": lambda lib: lib.sparse_csr_tensor(lib.tensor([0, 1, 3]), lib.tensor([2, 0, 2]),
                                             lib.tensor([1.0, 2.0, 3.0]), (2, 3)),
    "csr_no_size": lambda lib: lib.sparse_csr_tensor(lib.tensor([0, 1, 3]),
                                                     lib.tensor([2, 0, 2]),
                                                     lib.tensor([1.0, 2.0, 3.0])),
    "coo_to_csr": lambda lib: _coo(lib).to_sparse_csr(),
    "dense_to_csr": lambda lib: lib.tensor([[0.0, 2.0], [1.0, 0.0]]).to_sparse_csr(),
    "layout_csr": lambda lib: lib.tensor([[0.0, 2.0], [1.0, 0]]).to_sparse(
        layout=lib.sparse_csr),
    "csr_to_coo": lambda lib: lib.sparse_csr_tensor(
        lib.tensor([0, 2, 3]), lib.tensor([0, 2, 1]), lib.tensor([1.0, 2.0, 3.0])
    ).to_sparse_coo(),
    "transpose": lambda lib: _coo(lib).coalesce().t(),
    "csc": lambda lib: lib.sparse_csc_tensor(lib.tensor([0, 1, 2, 3]), lib.tensor([1, 0, 1]),
                                             lib.tensor([1.0, 2.0, 3.0]), (2, 3)),
    "csc_no_size": lambda lib: lib.sparse_csc_tensor(lib.tensor([0, 2, 3]),
                                                     lib.tensor([0, 2, 1]),
                                                     lib.tensor([1.0, 2.0, 3.0])),
    "coo_to_csc": lambda lib: _coo(lib).to_sparse_csc(),
    "dense_to_csc": lambda lib: lib.tensor([[0.0, 2.0, 0], [1.0, 0.0, 3]]).to_sparse_csc(),
    "layout_csc": lambda lib: lib.tensor([[0.0, 2.0], [1.0, 0]]).to_sparse(
        layout=lib.sparse_csc),
    "csc_to_coo": lambda lib: lib.tensor([[0.0, 2.0, 0], [1.0, 0.0, 3]]).to_sparse_csc()
    .to_sparse_coo(),
    "csr_to_csc": lambda lib: _coo(lib).to_sparse_csr().to_sparse_csc(),
}


@pytest.mark.parametrize("case", sorted(MAKERS))
def test_made_as_torch_makes_it(case):
    want, got = both(MAKERS[case])
    _same_sparse(got, want)
    assert got._nnz() == want._nnz()
    assert got.is_sparse == want.is_sparse and got.is_sparse_csr == want.is_sparse_csr
    assert got.sparse_dim() == want.sparse_dim() and got.dense_dim() == want.dense_dim()
    assert got.dim() == want.dim() and got.numel() == want.numel()
    assert isinstance(got, tc.Tensor) and not got.requires_grad


@pytest.mark.parametrize("case", ["coo", "coo_lists_float64", "coo_hybrid", "coo_empty",
                                  "legacy_empty", "csr", "coalesce", "dense_to_hybrid", "csc"])
def test_repr_is_torchs(case):
    want, got = both(MAKERS[case])
    assert _repr(got) == repr(want)


def test_repr_with_grad_is_torchs():
    want, got = both(lambda lib: _coo(lib, requires_grad=True))
    assert _repr(got) == repr(want)
    want, got = both(lambda lib: lib.sparse_csr_tensor(
        lib.tensor([0, 1, 3]), lib.tensor([2, 0, 2]), lib.tensor([1.0, 2, 3]),
        requires_grad=True))
    assert _repr(got) == repr(want)


@pytest.mark.parametrize("op", [
    lambda lib, s: s * 2, lambda lib, s: -s, lambda lib, s: s.coalesce(),
    lambda lib, s: lib.sparse.softmax(s.coalesce(), 1), lambda lib, s: s.coalesce().t(),
    lambda lib, s: lib.sparse.sum(s, 1), lambda lib, s: s.coalesce().to_sparse_csr(),
    lambda lib, s: s.to_dense().to_sparse(), lambda lib, s: s.clone(),
])
def test_repr_names_the_op_that_made_it(op):
    """grad_fn=<...> of a sparse result whose values have history is torch's node name."""
    def make(lib):
        values = lib.tensor(VALS, requires_grad=True) * 1
        return op(lib, lib.sparse_coo_tensor(lib.tensor(IDX), values, (2, 3)))
    want, got = both(make)
    assert _repr(got) == repr(want)


def test_layout_and_legacy_type_checks():
    s = _coo(tc)
    assert s.layout is tc.sparse_coo and tc.ones(2).layout is tc.strided
    assert s.to_sparse_csr().layout is tc.sparse_csr
    assert isinstance(s, tc.sparse.FloatTensor) and not isinstance(s, tc.sparse.DoubleTensor)
    assert not isinstance(tc.ones(2), tc.sparse.FloatTensor)
    assert not tc.ones(2).is_sparse and not tc.ones(2).is_sparse_csr
    dense = tc.ones(2, 3)
    assert dense.to_dense() is dense
    assert dense.sparse_dim() == 0 and dense.dense_dim() == 2


def test_indices_values_need_coalesced_as_torch():
    for lib in (torch, tc):
        s = _coo(lib)
        with pytest.raises(RuntimeError, match="uncoalesced"):
            s.indices()
        with pytest.raises(RuntimeError, match="uncoalesced"):
            s.values()
        c = s.coalesce()
        assert c.coalesce() is c
    want, got = both(lambda lib: _coo(lib).coalesce())
    assert_close(got.indices(), want.indices())
    assert_close(got.values(), want.values())


BAD = {
    "nnz_mismatch": lambda lib: _coo(lib, vals=[1.0, 2.0, 3.0]),
    "dims_mismatch": lambda lib: _coo(lib, size=(2, 3, 4)),
    "index_too_big": lambda lib: lib.sparse_coo_tensor(lib.tensor([[0, 5]]),
                                                       lib.tensor([1.0, 2.0]), (3,),
                                                       check_invariants=True),
    "csr_crow_length": lambda lib: lib.sparse_csr_tensor(lib.tensor([0, 1]),
                                                         lib.tensor([0]), lib.tensor([1.0]),
                                                         (2, 2), check_invariants=True),
    "csr_crow_start": lambda lib: lib.sparse_csr_tensor(lib.tensor([1, 1, 1]),
                                                        lib.tensor([0]), lib.tensor([1.0]),
                                                        (2, 2), check_invariants=True),
    "csr_crow_end": lambda lib: lib.sparse_csr_tensor(lib.tensor([0, 2, 1]),
                                                      lib.tensor([0, 1]), lib.ones(2),
                                                      (2, 2), check_invariants=True),
    "csr_col_too_big": lambda lib: lib.sparse_csr_tensor(lib.tensor([0, 1, 1]),
                                                         lib.tensor([5]), lib.tensor([1.0]),
                                                         (2, 2), check_invariants=True),
    "csc_ccol_length": lambda lib: lib.sparse_csc_tensor(lib.tensor([0, 1]),
                                                         lib.tensor([0]), lib.tensor([1.0]),
                                                         (2, 2), check_invariants=True),
    "dense_ccol": lambda lib: lib.ones(2, 2).ccol_indices(),
    "negative_index": lambda lib: lib.sparse_coo_tensor(lib.tensor([[-1, 1]]),
                                                        lib.tensor([1.0, 2.0]), (3,),
                                                        check_invariants=True),
    "dense_indices": lambda lib: lib.ones(2, 2).indices(),
    "dense_crow": lambda lib: lib.ones(2, 2).crow_indices(),
    "dense_values": lambda lib: lib.ones(2, 2).values(),
    "dense_coalesce": lambda lib: lib.ones(2, 2).coalesce(),
    "add_sparse_dense": lambda lib: _coo(lib) + lib.ones(2, 3),
    "mm_shape": lambda lib: lib.sparse.mm(_coo(lib), lib.ones(4, 2)),
    "mm_dtype": lambda lib: lib.sparse.mm(_coo(lib), lib.ones(3, 2, dtype=lib.float64)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors_are_torchs(case):
    with pytest.raises(RuntimeError) as want:
        BAD[case](torch)
    with pytest.raises(RuntimeError) as got:
        BAD[case](tc)
    first = str(want.value).split(".")[0].split(",")[0]
    assert first.lower()[:25] in str(got.value).lower(), \
        f"tracecomp={got.value} | torch={want.value}"


@pytest.mark.parametrize("op", [
    lambda s: tc.exp(s), lambda s: s.view(6), lambda s: s[0] * 1, lambda s: tc.sigmoid(s),
    lambda s: s.numpy(), lambda s: tc.cat([s, s]),
])
def test_dense_ops_refuse_a_sparse_tensor(op):
    """No dense op ever runs on a sparse tensor: torch's NotImplementedError (or its
    TypeError for numpy()), naming the layout."""
    with pytest.raises((NotImplementedError, TypeError), match="Sparse|sparse"):
        op(_coo(tc))


def test_dense_tensor_pays_nothing_new():
    """A dense op that fails on a dense tensor still raises its own error."""
    with pytest.raises(RuntimeError, match="shape|size"):
        tc.ones(2, 3) @ tc.ones(2, 3)
