"""torch.histogramdd (tracecomp/histograms_nd.py) against torch 2.13: counts, weights,
density, even and given edges, points on edges, unbatched shapes, torch's errors, and a
TraceError when traced."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, raised, to_tc

gen = torch.Generator().manual_seed(8)


def _same(got, want):
    assert type(got).__name__ == "histogramdd" and got._fields == ("hist", "bin_edges")
    assert_close(got.hist, want.hist, rtol=1e-6, atol=1e-6)
    assert len(got.bin_edges) == len(want.bin_edges)
    for g, w in zip(got.bin_edges, want.bin_edges):
        assert_close(g, w, rtol=0, atol=0)


@pytest.mark.parametrize("kw", [
    {"bins": 4}, {"bins": [3, 5, 2]}, {"bins": [2, 3, 4], "density": True},
    {"bins": 3, "range": [-1.0, 1.0, -2.0, 0.5, 0.0, 3.0]}, {"bins": [4, 4, 4], "weight": True},
], ids=["even", "per_dim", "density", "range", "weights"])
def test_histogramdd_matches_torch(kw):
    points = torch.randn(5, 40, 3, generator=gen).round(decimals=1)     # values on edges too
    if kw.get("weight"):
        kw = {**kw, "weight": torch.rand(5, 40, generator=gen)}
    ours = {k: to_tc(v) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    _same(tc.histogramdd(to_tc(points), **ours), torch.histogramdd(points, **kw))


def test_histogramdd_given_edges_and_degenerate_range():
    points = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [2.0, 2.0], [5.0, 1.0]],
                          dtype=torch.float64)
    edges = [torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64),
             torch.tensor([0.0, 1.5, 2.0], dtype=torch.float64)]
    _same(tc.histogramdd(to_tc(points), bins=[to_tc(e) for e in edges]),
          torch.histogramdd(points, bins=edges))
    one = torch.tensor([[1.0, 1.0]])
    _same(tc.histogramdd(to_tc(one), bins=2), torch.histogramdd(one, bins=2))


@pytest.mark.parametrize("call", [
    lambda lib: lib.histogramdd(lib.zeros(4, 2).long(), bins=2),
    lambda lib: lib.histogramdd(lib.zeros(4, 2), bins=[2, 2, 2]),
    lambda lib: lib.histogramdd(lib.zeros(4, 2), bins=2, range=[0.0, 1.0]),
    lambda lib: lib.histogramdd(lib.zeros(4, 2), bins=0),
    lambda lib: lib.histogramdd(lib.zeros(2), bins=2),
])
def test_errors_match_torch(call):
    ours, theirs = raised(tc, call), raised(torch, call)
    assert isinstance(ours, type(theirs)) and str(ours) == str(theirs), \
        f"tracecomp={ours!r} | torch={theirs!r}"


def test_histogramdd_is_eager_only():
    run = tc.compile(lambda x: tc.histogramdd(x, bins=2).hist, fullgraph=True)
    with pytest.raises(tc.TraceError, match="histogramdd"):
        run(tc.randn(6, 2))
    np.testing.assert_array_equal(tc.compile(lambda x: tc.histogramdd(x, bins=2).hist)(
        tc.tensor([[0.0, 0.0], [1.0, 1.0]])).numpy(), [[1.0, 0.0], [0.0, 1.0]])
