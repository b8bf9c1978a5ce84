"""Dynamic shapes with two symbols (compiler/dynamic.py, compiler/size_fit.py): a batch and
a length that change independently are s0 and s1, sizes are polynomials in both (B*T rows
after a reshape), and one compiled graph serves every (batch, length). Each test compares
with torch, numpy or tracecomp eager, and counts the compiles."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp.compiler.dynamic import NotGeneral, generalize
from tracecomp.compiler.size_fit import Fit, NoFit
from tracecomp.symbolic import Domain, Sym, Undecided, value_at

from helpers import assert_close


# --- polynomials in two symbols ----------------------------------------------------------
def test_a_sym_in_two_symbols_computes_and_answers_only_what_every_size_agrees_on():
    domain = Domain((2, 2))
    b, t = Sym.symbol(domain, 0), Sym.symbol(domain, 1)
    rows = b * t * 16
    assert str(rows) == "16*s0*s1" and str(b * (t - 2) + t * t) == "s0*s1 + s1^2 - 2*s0"
    assert value_at((rows, b * t - b, 5), (3, 7)) == (336, 18, 5)
    assert rows // 16 == b * t and (b * t - t * b) == 0 and isinstance(b * t - t * b, int)
    assert b * (t - 2) >= 0 and b * t > t and b * t + 1 != 0      # from s0, s1 >= 2 on
    for question in (lambda: b == t, lambda: b < t, lambda: b * (t - 3) > 0, lambda: int(b)):
        with pytest.raises(Undecided):
            question()
    assert Domain((2, 5)).describe((3, 7)) == "s0 = 3, s1 = 7"


@pytest.mark.parametrize("points, values, want", [
    ([(4, 12), (4, 20), (7, 12)], lambda b, t: b * t * 16, "16*s0*s1"),    # a reshape's rows
    ([(4, 12), (9, 20)], lambda b, t: b * t * 16, "16*s0*s1"),             # both changed
    ([(4, 12), (9, 20)], lambda b, t: t - 2, "s1 - 2"),                     # no padding
    ([(4, 12), (9, 20), (6, 15)], lambda b, t: 96 * b * t + 48 * b + 2304,  # an LSTM's
     "96*s0*s1 + 48*s0 + 2304"),                                            # packed grads
    ([(3, 5), (4, 5)], lambda b, t: 7, "7"),
], ids=["corner", "diagonal", "shift", "three-terms", "constant"])
def test_a_fit_is_the_sparsest_polynomial_through_every_point(points, values, want):
    fit = Fit(points, Domain((2, 2)))
    got = fit(tuple(values(*p) for p in points), "a size")
    assert str(got) == want
    for p in ((2, 2), (13, 31)):        # the sizes it was made for, checked at others
        assert value_at(got, p) == values(*p)


def test_a_fit_says_which_values_no_polynomial_gives():
    fit = Fit([(4, 12), (9, 20)], Domain((2, 2)))
    with pytest.raises(NoFit, match="a size: 5, 12 at s0 = 4, s1 = 12; s0 = 9, s1 = 20"):
        fit((5, 12), "a size")
    # another dim follows the symbols where it is a multiple of one of their products, or
    # one shifted; through two points not k m + c (any two sizes that change are that)
    assert fit.follows((48, 180)) and fit.follows((11, 19)) and fit.follows((4, 9))
    assert not fit.follows((9, 19))
    assert Fit([(4, 12), (9, 20), (6, 15)], Domain((2, 2))).follows((7, 17, 11))    # 2 s0 - 1


# --- graphs -> one dynamic graph in two symbols ---------------------------------------------
def _graph(fn, *shapes):
    f = tc.compile(fn, dynamic=False)
    f(*[tc.randn(*shape) for shape in shapes])
    return f.graphs["forward.optimized"]


def _rows(x, w):
    return (x.reshape(-1, x.shape[-1]) @ w).relu().sum(0)


def test_a_batch_and_a_length_generalize_to_two_symbols_and_rows_to_their_product():
    graphs = [_graph(_rows, shape, (8, 3)) for shape in ((4, 6, 8), (4, 9, 8), (7, 6, 8))]
    g, where, domain = generalize(graphs)
    assert where == [(0, 0), (0, 1)] and domain.lows == (2, 2)
    assert "f32[s0,s1,8]" in str(g) and "f32[s0*s1,3]" in str(g)


def test_more_dims_that_change_independently_than_symbols_do_not_generalize():
    def five(a, b, c, d, e):
        return a.sum() + b.sum() + c.sum() + d.sum() + e.sum()
    base = [4, 5, 7, 3, 2]
    # each dim one larger alone: e's sizes are no polynomial in the other four's
    sizes = [base] + [[n + (j == k) for j, n in enumerate(base)] for k in range(5)]
    with pytest.raises(NotGeneral, match=r"e dim 0 changes apart from .*\(at most 4 dims"):
        generalize([_graph(five, *[(n,) for n in ns]) for ns in sizes])


def test_a_second_dim_that_changes_makes_the_graph_dynamic_in_two_symbols():
    w = tc.randn(8, 3)
    f = tc.compile(_rows)
    shapes = [(4, 6), (4, 9), (7, 6), (5, 11), (9, 3), (2, 2), (3, 40)]
    for b, t in shapes:
        x = tc.randn(b, t, 8)
        assert_close(f(x, w), _rows(x, w), rtol=1e-5, atol=1e-5, what=f"at {(b, t)}")
    # (4, 6); one symbol at (4, 9); the second at (7, 6): the other pairs run it
    assert f.compiles == 3
    assert "dynamic graph run at s0 = 3, s1 = 40" in f.last.run_forward.fusion_log

    def two(x, y):                  # two inputs of sizes that change apart, from the start
        return x.sum() + y.sum()
    g = tc.compile(two)
    for n, m in ((4, 5), (6, 9), (5, 7), (5, 8), (30, 2)):
        x, y = tc.randn(n), tc.randn(m)
        assert_close(g(x, y), two(x, y), rtol=1e-5)
    assert g.compiles == 2


# --- a text model's training step --------------------------------------------------------------
VOCAB = 30


class ConvText(nn.Module):
    """Embedding -> conv1d over time -> Linear: a text model (of torch too, TorchConvText)."""

    def __init__(self, lib=tc):
        super().__init__() if lib is tc else None
        self.lib = lib
        self.emb = lib.nn.Embedding(VOCAB, 8)
        self.conv = lib.nn.Conv1d(8, 12, 3, padding=1)
        self.head = lib.nn.Linear(12, VOCAB)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)                               # [B, 8, T]
        return self.head(self.lib.relu(self.conv(x)).transpose(1, 2))   # [B, T, VOCAB]


class TorchConvText(torch.nn.Module):
    def __init__(self):
        super().__init__()
        ConvText.__init__(self, torch)

    forward = ConvText.forward


def _text_step(model, lib, opt):
    def step(ids, targets):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(ids).reshape(-1, VOCAB),
                                               targets.reshape(-1))
        loss.backward()
        opt.step()
        return loss
    return step


BATCHES = [(8, 12), (8, 20), (5, 12), (6, 17), (8, 9), (3, 25), (7, 14), (2, 2), (8, 12)]


def test_a_text_models_training_step_over_batches_and_lengths_compiles_a_few_times():
    tc.manual_seed(0)
    model, reference = ConvText(), TorchConvText()
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in
                               model.state_dict().items()})
    step = tc.compile(_text_step(model, tc, tc.optim.SGD(model.parameters(), 0.1,
                                                         momentum=0.9)))
    want_step = _text_step(reference, torch, torch.optim.SGD(reference.parameters(), 0.1,
                                                             momentum=0.9))
    rng = np.random.default_rng(0)
    for b, t in BATCHES:
        ids, targets = rng.integers(0, VOCAB, (b, t)), rng.integers(0, VOCAB, (b, t))
        assert_close(step(tc.tensor(ids), tc.tensor(targets)),
                     want_step(torch.tensor(ids), torch.tensor(targets)).detach(),
                     rtol=1e-5, what=f"loss at {(b, t)}")
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-5, what=name)
    # the first call; the second, whose optimizer has its state; the third makes batch and
    # length s0 and s1 (the second had both at other sizes): the other pairs run it
    assert step.compiles == 3
    art = step.last
    assert "dynamic graph run at s0 = 8, s1 = 12" in art.run_forward.fusion_log[-1]


def test_mark_dynamic_on_a_batch_and_a_length_compiles_once():
    tc.manual_seed(1)
    model = ConvText()
    compiled = tc.compile(model)
    rng = np.random.default_rng(1)
    for b, t in ((4, 10), (7, 6), (3, 21)):
        ids = tc.tensor(rng.integers(0, VOCAB, (b, t)))
        tc._dynamo.mark_dynamic(ids, [0, 1])        # two sizes: two symbols
        assert_close(compiled(ids), model(ids), rtol=1e-5, atol=1e-6)
        assert f"s0 = {b}, s1 = {t}" in compiled._compiled.last.run_forward.fusion_log[-1]
    assert compiled._compiled.compiles == 1


def test_marked_dims_of_one_size_are_one_symbol_until_they_differ():
    def f(ids, targets):        # ids' and targets' lengths, marked and equal: one symbol
        return (ids.float() * targets.float()).sum(1)
    g = tc.compile(f)
    for b, t in ((5, 5), (6, 6), (4, 9), (3, 7)):
        ids, targets = tc.randint(0, 9, (b, t)), tc.randint(0, 9, (b, t))
        for x in (ids, targets):
            tc._dynamo.mark_dynamic(x, [0, 1])
        assert_close(g(ids, targets), f(ids, targets))
    # (5, 5): one symbol, also (6, 6); (4, 9) misses it and makes two: (3, 7) runs them
    assert g.compiles == 2
