"""torch.as_strided, as_strided_, as_strided_copy and as_strided_scatter (tracecomp/
strided_views.py) against torch 2.13: views over the storage (of views, of transposes, with
offsets), shared memory, gradients (overlapping outputs and inputs too), torch's errors,
and a TraceError when traced."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(9)

VIEWS = [
    (lambda x: x, (2, 2), (1, 2), None),
    (lambda x: x, (2, 2), (1, 2), 1),
    (lambda x: x[1:], (2, 2), (1, 2), None),          # the view's own offset is the default
    (lambda x: x.t(), (3, 2), (2, 1), 3),
    (lambda x: x, (3, 3), (1, 1), None),              # the output reads elements twice
    (lambda x: x.view(-1)[2:9], (2, 0), (1, 1), None),
    (lambda x: x.expand(2, 3, 4)[1], (2, 5), (3, 1), 2),  # the input overlaps itself
]


@pytest.mark.parametrize("k", range(len(VIEWS)))
def test_as_strided_matches_torch_with_gradients(k):
    pick, size, stride, offset = VIEWS[k]
    base = torch.randn(3, 4, generator=gen, requires_grad=True)
    ours = to_tc(base)
    want = torch.as_strided(pick(base), size, stride, offset)
    got = tc.as_strided(pick(ours), size, stride, offset)
    assert_close(got, want)
    assert got.stride() == want.stride() and got.storage_offset() == want.storage_offset()
    assert type(got.grad_fn).__name__ == type(want.grad_fn).__name__
    weight = torch.randn(want.shape, generator=gen)
    (want * weight).sum().backward()
    (got * to_tc(weight)).sum().backward()
    assert_close(ours.grad, base.grad, what="gradient")


def test_as_strided_shares_memory_and_method_forms():
    for lib in (torch, tc):
        x = lib.arange(12.0).reshape(3, 4)
        view = x.as_strided((2, 2), (4, 1), 5)
        view[0, 0] = 100.0
        assert float(x[1, 1]) == 100.0
        copy = lib.as_strided_copy(x, (2, 2), (4, 1), 5)
        copy[0, 1] = -1.0
        assert float(x[1, 2]) == 6.0 and copy.is_contiguous()
        y = lib.arange(6.0)
        assert y.as_strided_((2, 2), (1, 2)) is y
        assert y.tolist() == [[0.0, 2.0], [1.0, 3.0]] and y.stride() == (1, 2)


@pytest.mark.parametrize("pick,offset", [(lambda x: x, 1), (lambda x: x.t(), 1),
                                         (lambda x: x[:, 1:], None), (lambda x: x[1:], 5)],
                         ids=["contiguous", "transposed", "sliced", "rows"])
def test_as_strided_scatter_matches_torch(pick, offset):
    """Values against torch's; gradients against the definition (input's gradient is the
    upstream one where the view does not write, src's the upstream one where it does):
    torch's own AsStridedScatterBackward0 gives input a wrong gradient, and refuses a
    non-contiguous input that requires grad."""
    base = torch.randn(3, 4, generator=gen)
    src = torch.randn(2, 2, generator=gen)
    ours, ours_src = to_tc(base).requires_grad_(), to_tc(src).requires_grad_()
    got = tc.as_strided_scatter(pick(ours), ours_src, (2, 2), (1, 2), offset)
    want = torch.as_strided_scatter(pick(base), src, (2, 2), (1, 2), offset)
    assert_close(got, want)
    weight = torch.randn(got.shape, generator=gen)
    (got * to_tc(weight)).sum().backward()
    # where the view writes, found by scattering a marker into the same layout
    marks = torch.as_strided_scatter(pick(torch.zeros(3, 4)), torch.ones(2, 2), (2, 2),
                                     (1, 2), offset)
    want_input = torch.zeros(3, 4)
    pick(want_input).copy_(weight * (1 - marks))
    assert_close(ours.grad, want_input, what="input gradient")
    numbered = torch.arange(1.0, 13.0).reshape(3, 4)
    slots = torch.as_strided_scatter(pick(numbered * 0), torch.arange(1.0, 5.0).reshape(2, 2),
                                     (2, 2), (1, 2), offset)
    want_src = torch.zeros(4)
    for value, g in zip(slots.reshape(-1).tolist(), weight.reshape(-1).tolist()):
        if value:
            want_src[int(value) - 1] += g
    assert_close(ours_src.grad, want_src.reshape(2, 2), what="src gradient")


@pytest.mark.parametrize("call", [
    lambda lib: lib.as_strided(lib.zeros(3, 4), (2, 2), (1,)),
    lambda lib: lib.as_strided(lib.zeros(3, 4), (2, 2), (-1, 2)),
    lambda lib: lib.as_strided(lib.zeros(3, 4), (4, 4), (4, 1)),
    lambda lib: lib.as_strided(lib.zeros(3, 4)[1:], (3, 4), (4, 1)),
    lambda lib: lib.as_strided(lib.zeros(3, 4), (2,), (1,), -1),
    lambda lib: lib.as_strided_scatter(lib.zeros(3, 4), lib.zeros(3), (2, 2), (1, 2)),
    lambda lib: lib.as_strided_scatter(lib.zeros(3, 4), lib.zeros(4, 4), (4, 4), (4, 1)),
])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)) and str(ours) == str(theirs), \
        f"tracecomp={ours!r} | torch={theirs!r}"


def test_traced_as_strided_is_a_trace_error():
    for fn in (lambda x: x.as_strided((2,), (2,)) * 2,
               lambda x: tc.as_strided_scatter(x, x[:2] * 0, (2,), (2,))):
        with pytest.raises(tc.TraceError, match="as_strided"):
            tc.compile(fn, fullgraph=True)(tc.arange(6.0))
        np.testing.assert_array_equal(tc.compile(fn)(tc.arange(6.0)).numpy(),
                                      fn(tc.arange(6.0)).numpy())
