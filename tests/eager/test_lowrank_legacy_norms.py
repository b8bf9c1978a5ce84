"""torch.svd_lowrank / pca_lowrank (tracecomp/linalg_lowrank.py) and the TorchScript-era
torch.nuclear_norm / frobenius_norm against torch 2.13. The low-rank factorizations draw
random test matrices (tracecomp's generator, not torch's), so they are compared on
matrices of rank at most q, where both are the exact truncated SVD."""
import warnings

import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(7)


def _low_rank(m, n, r, batch=()):
    return (torch.randn(*batch, m, r, generator=gen, dtype=torch.float64)
            @ torch.randn(*batch, r, n, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("m,n,q,batch", [(8, 5, 4, ()), (5, 9, 3, ()), (6, 6, 6, (2,))])
def test_svd_lowrank_is_the_truncated_svd(m, n, q, batch):
    a = _low_rank(m, n, min(q, 3), batch).requires_grad_()
    ac = to_tc(a)
    u, s, v = tc.svd_lowrank(ac, q=q, niter=1)
    ut, st, vt = torch.svd_lowrank(a, q=q, niter=1)
    assert (u.shape, s.shape, v.shape) == (ut.shape, st.shape, vt.shape)
    assert_close(s, st, rtol=1e-9, atol=1e-9)
    assert_close(u @ tc.diag_embed(s) @ v.mT, a, rtol=1e-9, atol=1e-9)
    assert_close(u.mT @ u, torch.eye(q, dtype=torch.float64).expand(*batch, q, q), atol=1e-9)
    s[..., :2].sum().backward()
    st[..., :2].sum().backward()
    assert_close(ac.grad, a.grad, rtol=1e-7, atol=1e-9)


def test_svd_lowrank_with_m_and_pca_lowrank():
    a = _low_rank(7, 5, 2)
    shift = torch.randn(1, 5, generator=gen, dtype=torch.float64)
    s = tc.svd_lowrank(to_tc(a + shift), q=3, M=to_tc(shift))[1]
    assert_close(s, torch.svd_lowrank(a + shift, q=3, M=shift)[1], rtol=1e-9, atol=1e-9)
    for kw in ({"q": 3}, {"q": 4, "center": False}, {}):
        got, want = tc.pca_lowrank(to_tc(a), **kw), torch.pca_lowrank(a, **kw)
        assert_close(got[1], want[1], rtol=1e-9, atol=1e-9)
        assert_close(got[0] @ tc.diag(got[1]) @ got[2].mT,
                     want[0] @ torch.diag(want[1]) @ want[2].mT, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("call", [
    lambda lib: lib.pca_lowrank(lib.zeros(4, 3), q=5),
    lambda lib: lib.pca_lowrank(lib.zeros(4, 3), niter=-1),
    lambda lib: lib.frobenius_norm(lib.zeros(2, 3, 4), (0, 1, 2)),
    lambda lib: lib.frobenius_norm(lib.zeros(2, 3).int(), (0,)),
    lambda lib: lib.nuclear_norm(lib.zeros(3)),
])
def test_errors_match_torch(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)) and str(ours) == str(theirs), \
        f"tracecomp={ours!r} | torch={theirs!r}"


def test_nuclear_and_frobenius_norms():
    x = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    xc = to_tc(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [(lambda lib, v: lib.nuclear_norm(v)),
                 (lambda lib, v: lib.nuclear_norm(v, (0, 2), keepdim=True)),
                 (lambda lib, v: lib.nuclear_norm(v[0], keepdim=True)),
                 (lambda lib, v: lib.frobenius_norm(v, (1, 2))),
                 (lambda lib, v: lib.frobenius_norm(v, 1)),
                 (lambda lib, v: lib.frobenius_norm(v, (0,), True)),
                 (lambda lib, v: lib.frobenius_norm(v, ()))]
        total_t, total_c = 0, 0
        for k, fn in enumerate(cases):
            want, got = fn(torch, x), fn(tc, xc)
            assert_close(got, want, rtol=1e-10)
            total_t = total_t + want.sum() * (k + 1)
            total_c = total_c + got.sum() * (k + 1)
    total_t.backward()
    total_c.backward()
    assert_close(xc.grad, x.grad, rtol=1e-8)


def test_norm_deprecation_warnings():
    for name, args in (("nuclear_norm", ()), ("frobenius_norm", ((0, 1),))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(tc, name)(tc.zeros(2, 2), *args)
        assert any(f"at::{name} is deprecated" in str(w.message) for w in caught) or \
            name in __import__("tracecomp.linalg_legacy").linalg_legacy._WARNED

