"""torch.segment_reduce (tracecomp/segments.py) against torch 2.13: every reduction, with
and without initial, empty segments, lengths or offsets, rows of several values, gradients
(ties, zeros in products), and torch's errors."""
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod", "amax", "amin"])
@pytest.mark.parametrize("initial", [None, 10.0])
def test_segment_reduce_matches_torch(reduce, initial):
    data = torch.tensor([1.0, 0.0, 3.0, 3.0, 5.0, 6.0, -2.0], requires_grad=True)
    lengths = torch.tensor([2, 0, 4, 1])
    ours = to_tc(data)
    want = torch.segment_reduce(data, reduce, lengths=lengths, initial=initial)
    got = tc.segment_reduce(ours, reduce, lengths=to_tc(lengths), initial=initial)
    assert_close(got, want)
    assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    (want.nan_to_num(0.0, 0.0, 0.0) * weight).sum().backward()
    (got.nan_to_num(0.0, 0.0, 0.0) * to_tc(weight)).sum().backward()
    assert_close(ours.grad, data.grad, what="gradient")


def test_segment_reduce_offsets_and_rows():
    data = torch.arange(12.0).reshape(6, 2).requires_grad_()
    ours = to_tc(data)
    want = torch.segment_reduce(data, "mean", offsets=torch.tensor([0, 2, 2, 6]))
    got = tc.segment_reduce(ours, "mean", offsets=tc.tensor([0, 2, 2, 6]))
    assert_close(got, want)
    want.nan_to_num(0.0).sum().backward()
    got.nan_to_num(0.0).sum().backward()
    assert_close(ours.grad, data.grad)


@pytest.mark.parametrize("call", [
    lambda lib: lib.segment_reduce(lib.zeros(6), "sum", lengths=lib.tensor([2, 2])),
    lambda lib: lib.segment_reduce(lib.zeros(6), "foo", lengths=lib.tensor([6])),
    lambda lib: lib.segment_reduce(lib.zeros(6), "sum"),
    lambda lib: lib.segment_reduce(lib.zeros(6), "sum", lengths=lib.tensor([7, -1])),
    lambda lib: lib.segment_reduce(lib.zeros(6), "sum", indices=lib.tensor([0, 0, 1, 1, 1, 2])),
])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)) and str(ours) == str(theirs), \
        f"tracecomp={ours!r} | torch={theirs!r}"
