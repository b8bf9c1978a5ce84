"""Tensor.untyped_storage(), Tensor.storage() and torch.is_storage (tracecomp/storages.py)
against torch 2.13: sizes, addresses shared by views, element access, tolist, writes that
reach the tensor, and the deprecation warning."""
import warnings

import pytest
import torch

import tracecomp as tc


def _facts(lib):
    x = lib.arange(6.0).reshape(2, 3)
    view = x[1]
    u, base = view.untyped_storage(), x.untyped_storage()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = view.storage()
    s[0] = 9.0
    return {
        "untyped": (u.nbytes(), u.size(), len(u), u.element_size(), u[6], u.tolist(),
                    str(u.device), u.data_ptr() == base.data_ptr() == x.data_ptr()),
        "typed": (s.size(), len(s), s[4], s.tolist(), s.element_size(), s.nbytes(),
                  s.data_ptr() == x.data_ptr(), str(s.dtype).split(".")[-1]),
        "written": x.tolist(),
        "is_storage": (lib.is_storage(u), lib.is_storage(s), lib.is_storage(x)),
        "warning": len(caught) <= 1,       # once per process: maybe earlier in the run
        "fresh": len(lib.UntypedStorage(4).tolist()),   # torch's bytes are uninitialized
        "ints": lib.tensor([1, 2], dtype=lib.int16).storage().tolist(),
    }


@pytest.mark.parametrize("fact", ["untyped", "typed", "written", "is_storage", "warning",
                                  "fresh", "ints"])
def test_storages_match_torch(fact):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = _facts(tc)[fact], _facts(torch)[fact]
    assert ours == theirs


def test_storage_warns_torchs_words_once():
    from tracecomp import storages
    storages._WARNED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tc.zeros(2).storage()
        tc.zeros(2).storage()
    assert [str(w.message) for w in caught] == [storages._DEPRECATED]
    torch.storage._set_always_warn_typed_storage_removal(True)
    try:
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            torch.zeros(2).storage()
    finally:
        torch.storage._set_always_warn_typed_storage_removal(False)
    assert str(theirs[0].message) == storages._DEPRECATED
