"""Tensor.dim_order (with ambiguity_check) and torch.resize_as_ / Tensor.resize_as_
against torch 2.13."""
import pytest
import torch

import tracecomp as tc

from helpers import raised


def _cases(lib):
    cl = lib.channels_last
    return [lib.zeros(2, 3, 4), lib.zeros(2, 3, 4).permute(2, 0, 1),
            lib.zeros(2, 3, 4, 5).to(memory_format=cl), lib.zeros(2, 1, 3),
            lib.zeros(2, 3)[:, ::2], lib.zeros(3, 4).t(), lib.zeros(2, 3, 4).expand(5, 2, 3, 4),
            lib.zeros(4, 1, 1, 3).to(memory_format=cl), lib.zeros(3, 3)[::2, ::2].t(),
            lib.zeros(2, 3, 4, 5).permute(1, 3, 0, 2), lib.zeros(5), lib.zeros(()),
            lib.zeros(6, 4)[:, :2].reshape(6, 2, 1), lib.zeros(2, 2, 2).transpose(0, 2)]


def _answer(x, check):
    try:
        return x.dim_order(ambiguity_check=check)
    except Exception as exc:                               # noqa: BLE001 - compared
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("k", range(len(_cases(torch))))
def test_dim_order_matches_torch(k):
    ours, theirs = _cases(tc)[k], _cases(torch)[k]
    for check in (False, True, "contiguous", "channels_last"):
        formats = {lib: check if isinstance(check, bool) else [getattr(lib, check + "_format")
                   if check == "contiguous" else lib.channels_last] for lib in (torch, tc)}
        assert _answer(ours, formats[tc]) == _answer(theirs, formats[torch]), check


def test_dim_order_refuses_other_checks():
    call = lambda lib: lib.zeros(2).dim_order(ambiguity_check=[1])  # noqa: E731
    ours, theirs = raised(tc, call), raised(torch, call)
    assert type(ours) is type(theirs) and str(ours) == str(theirs)


def test_resize_as_():
    for lib in (torch, tc):
        x = lib.arange(6.0).reshape(2, 3)
        assert x.resize_as_(lib.ones(3, 2)) is x and tuple(x.shape) == (3, 2)
        assert x.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
        y = lib.resize_as_(lib.zeros(1, 2), lib.ones(4))
        assert tuple(y.shape) == (4,)
    call = lambda lib: lib.zeros(2, requires_grad=True).resize_as_(lib.ones(3))  # noqa: E731
    ours, theirs = raised(tc, call), raised(torch, call)
    assert type(ours) is type(theirs) and str(ours) == str(theirs)
