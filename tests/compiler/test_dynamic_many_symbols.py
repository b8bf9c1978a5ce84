"""Dynamic shapes with three or more symbols (compiler/dynamic.py, compiler/size_fit.py): a
seq2seq step's batch, source length and target length change independently and one
compiled graph serves them all; sizes are polynomials in three symbols; a size outside the
graph's domain compiles for itself, never a wrong answer. Compared with torch, and the
compiles counted."""
import itertools
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler.dynamic import MAX_SYMBOLS, generalize
from tracecomp.compiler.size_fit import Fit, NoFit
from tracecomp.symbolic import Domain, value_at

from helpers import assert_close


# --- polynomials in three symbols ------------------------------------------------------------
def test_a_fit_through_a_grid_is_the_one_multilinear_polynomial_or_none():
    # the corners of the unit cube above (4, 30, 17), then each symbol two larger alone:
    # export's samples (export/capture.py sample_steps)
    grid = [tuple(b + d for b, d in zip((4, 30, 17), step))
            for step in itertools.product((0, 1), repeat=3)]
    grid += [(6, 30, 17), (4, 32, 17), (4, 30, 19)]
    fit = Fit(grid, Domain((2, 2, 2)))
    rows = fit(tuple(27 * b * h * w for b, h, w in grid), "rows")
    assert str(rows) == "27*s0*s1*s2"
    mixed = fit(tuple(3 * b * h * w - h + 2 for b, h, w in grid), "mixed")
    assert str(mixed) == "3*s0*s1*s2 - s1 + 2"
    assert value_at(mixed, (9, 5, 7)) == 3 * 9 * 5 * 7 - 5 + 2
    with pytest.raises(NoFit, match="no polynomial in s0, s1, s2"):
        fit(tuple(h * h for _, h, _ in grid), "a square")     # the checks at +2 see it
    with pytest.raises(NoFit):
        fit(tuple(b * h * h for b, h, _ in grid), "attention's B*T*T")


def test_a_sparse_fit_in_three_symbols_from_few_points():
    points = [(4, 10, 8), (5, 10, 8), (5, 12, 8), (5, 12, 11)]    # one symbol changes a time
    fit = Fit(points, Domain((2, 2, 2)))
    got = fit(tuple(b * s * t * 16 for b, s, t in points), "scores")
    assert str(got) == "16*s0*s1*s2"
    assert str(fit(tuple(t - 1 for _, _, t in points), "shifted")) == "s2 - 1"


# --- a seq2seq step -------------------------------------------------------------------------
def attend(lib, src, tgt, w):
    """Cross-attention of targets over sources, [B, S, D] and [B, T, D], then rows [B*T, D]."""
    scores = (tgt @ w) @ src.transpose(1, 2) / 4.0                  # [B, T, S]
    context = scores.softmax(-1) @ src                               # [B, T, D]
    return lib.relu(context + tgt).reshape(-1, src.shape[-1]).sum(0)


def _run(f, w, sizes, seed):
    rng = np.random.default_rng(seed)
    tw = torch.tensor(w.numpy())
    for b, s, t in sizes:
        src = rng.standard_normal((b, s, 8)).astype(np.float32)
        tgt = rng.standard_normal((b, t, 8)).astype(np.float32)
        want = attend(torch, torch.tensor(src), torch.tensor(tgt), tw)
        assert_close(f(tc.tensor(src), tc.tensor(tgt), w), want, rtol=1e-4, atol=1e-5,
                     what=f"at batch, source, target = {(b, s, t)}")


def test_batch_source_and_target_lengths_that_change_one_at_a_time_compile_four_times():
    w = tc.randn(8, 8)
    f = tc.compile(lambda src, tgt, w: attend(tc, src, tgt, w))
    _run(f, w, [(4, 10, 7), (4, 10, 9), (4, 13, 9), (6, 13, 9)], 0)
    # its sizes; then one symbol (the target length), two, three: one compile each
    assert f.compiles == 4
    assert f.last.run_forward.fusion_log[-1].startswith("dynamic graph")
    _run(f, w, [(3, 11, 5), (5, 20, 14), (2, 2, 2), (7, 31, 3), (3, 9, 12)], 1)
    assert f.compiles == 4      # every later (batch, source, target) runs that graph
    assert "s0 = 3, s1 = 12, s2 = 9" in f.last.run_forward.fusion_log[-1]


def test_batch_source_and_target_lengths_that_change_together_compile_a_few_times():
    w = tc.randn(8, 8)
    f = tc.compile(lambda src, tgt, w: attend(tc, src, tgt, w))
    sizes = [(4, 10, 7), (6, 13, 9), (3, 11, 5), (5, 20, 14), (8, 12, 16), (2, 2, 2),
             (7, 31, 3), (3, 9, 12)]
    _run(f, w, sizes, 2)
    # its sizes; from two sizes the target length looks like the batch + 3 (both grew by
    # 2); the third size corrects that: three symbols, which serve the rest
    assert f.compiles == 3


def test_a_size_outside_the_dynamic_graphs_domain_compiles_for_itself():
    w = tc.randn(8, 8)
    f = tc.compile(lambda src, tgt, w: attend(tc, src, tgt, w))
    _run(f, w, [(4, 10, 7), (4, 10, 9), (4, 13, 9), (6, 13, 9)], 3)
    assert f.compiles == 4
    _run(f, w, [(5, 12, 1)], 4)         # a target of length 1 broadcasts: not s2 >= 2
    assert f.compiles == 5
    _run(f, w, [(1, 12, 6)], 5)         # nor a batch of 1
    assert f.compiles == 6
    _run(f, w, [(5, 12, 6)], 6)         # inside again: the dynamic graph
    assert f.compiles == 6


def test_mark_dynamic_on_three_dims_of_three_sizes_compiles_once():
    w = tc.randn(8, 8)
    f = tc.compile(lambda src, tgt, w: attend(tc, src, tgt, w))
    rng = np.random.default_rng(7)
    tw = torch.tensor(w.numpy())
    for b, s, t in ((4, 10, 7), (6, 5, 12), (3, 21, 2)):
        src = rng.standard_normal((b, s, 8)).astype(np.float32)
        tgt = rng.standard_normal((b, t, 8)).astype(np.float32)
        x, y = tc.tensor(src), tc.tensor(tgt)
        tc._dynamo.mark_dynamic(x, [0, 1])
        tc._dynamo.mark_dynamic(y, [0, 1])
        assert_close(f(x, y, w), attend(torch, torch.tensor(src), torch.tensor(tgt), tw),
                     rtol=1e-4, atol=1e-5, what=f"at {(b, s, t)}")
    assert f.compiles == 1


def test_more_marked_symbols_than_the_most_compile_for_their_sizes():
    def many(*xs):
        return sum(x.sum() for x in xs)
    f = tc.compile(many)
    n = MAX_SYMBOLS + 1
    for sizes in ([2 + k for k in range(n)], [7 + 2 * k for k in range(n)]):
        xs = [tc.randn(m) for m in sizes]
        for x in xs:
            tc._dynamo.mark_dynamic(x, 0)
        assert_close(f(*xs), many(*xs), rtol=1e-5)


def test_three_dims_that_change_generalize_to_three_symbols():
    def rows(x, y):
        return (x.reshape(-1, 8).sum(0) + y.sum((0, 1))).relu()

    def graph(*shapes):
        g = tc.compile(rows, dynamic=False)
        g(*[tc.randn(*s) for s in shapes])
        return g.graphs["forward.optimized"]
    graphs = [graph((4, 6, 8), (3, 5, 8)), graph((5, 6, 8), (3, 5, 8)),
              graph((5, 9, 8), (3, 5, 8)), graph((5, 9, 8), (3, 7, 8))]
    g, where, domain = generalize(graphs)
    # symbols in the order of how much each dim changed: x's batch, y's length, x's length
    assert where == [(0, 0), (1, 1), (0, 1)] and domain.lows == (2, 2, 2)
    assert "%x: f32[s0,s2,8], %y: f32[3,s1,8]" in str(g) and "f32[s0*s2,8]" in str(g)


# --- mark_dynamic's range ---------------------------------------------------------------------
def test_mark_dynamic_with_a_range_serves_it_and_recompiles_outside_as_torch():
    counted = []

    def backend(gm, example_inputs):
        counted.append(1)
        return gm.forward

    def fn(lib):
        return lambda x: (x.sin() * 2).sum(0)
    f, tf = tc.compile(fn(tc)), torch.compile(fn(torch), backend=backend)
    x = torch.randn(8, 3)
    torch._dynamo.mark_dynamic(x, 0, min=4, max=16)
    xt = tc.tensor(x.numpy())
    tc._dynamo.mark_dynamic(xt, 0, min=4, max=16)
    assert_close(f(xt), tf(x), rtol=1e-5)
    # unmarked: [4, 16] runs the graph; 20 compiles one more, bounded by its samples only,
    # which then serves 5 and 3 (as torch's automatic dynamic graph does)
    for n, compiles in ((10, 1), (16, 1), (20, 2), (5, 2), (3, 2)):
        x = torch.randn(n, 3)
        assert_close(f(tc.tensor(x.numpy())), tf(x), rtol=1e-5, what=f"at {n}")
        assert (f.compiles, len(counted)) == (compiles, compiles), f"at {n}"
    big = tc.randn(32, 3)
    tc._dynamo.mark_dynamic(big, 0, min=4, max=16)
    with pytest.raises(tc.errors.ConstraintViolationError, match=r"x dim 0 is 32, not in "
                                                                 r"range \[4, 16\]"):
        f(big)
    with pytest.raises(ValueError, match="min=5 is greater than max=2"):
        tc._dynamo.mark_dynamic(big, 0, min=5, max=2)
    tc._dynamo.maybe_mark_dynamic(big, 1)       # a hint: no range, never an error
    assert big._dynamo_dynamic_indices == {0, 1}


# --- compile(dynamic=True) ----------------------------------------------------------------------
def test_dynamic_true_makes_every_free_dim_a_symbol_from_the_first_compile_as_torch():
    counted = []

    def backend(gm, example_inputs):
        counted.append(1)
        return gm.forward
    w = tc.randn(8, 8)
    f = tc.compile(lambda src, tgt, w: attend(tc, src, tgt, w), dynamic=True)
    tf = torch.compile(lambda src, tgt, w: attend(torch, src, tgt, w), backend=backend,
                       dynamic=True)
    rng = np.random.default_rng(9)
    tw = torch.tensor(w.numpy())
    for b, s, t in ((4, 10, 7), (6, 5, 12), (3, 21, 2), (9, 3, 30)):
        src = rng.standard_normal((b, s, 8)).astype(np.float32)
        tgt = rng.standard_normal((b, t, 8)).astype(np.float32)
        want = tf(torch.tensor(src), torch.tensor(tgt), tw)
        assert_close(f(tc.tensor(src), tc.tensor(tgt), w), want, rtol=1e-4, atol=1e-5,
                     what=f"at {(b, s, t)}")
    assert f.compiles == len(counted) == 1      # one graph, from the first call on

    def fixed(x):       # the code fixes x's width at 8: it stays static, no error
        return (x.reshape(x.shape[0], 2, 4) * 2).sum((1, 2))
    g = tc.compile(fixed, dynamic=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (5, 9, 3):
            x = tc.randn(n, 8)
            assert_close(g(x), fixed(x), rtol=1e-5)
    assert g.compiles == 1
