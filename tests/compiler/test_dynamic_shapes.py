"""Dynamic shapes (compiler/dynamic.py, codegen/llvm/sized.py): after a dim changes, one
graph is compiled for every size of it; later sizes are traced and run it. Each test
compares with torch or with tracecomp eager, and counts the compiles."""
import math
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp.compiler.dynamic import NotGeneral, Template, generalize, match
from tracecomp.symbolic import Domain, Sym, Undecided, value_at

from helpers import assert_close, train_step


# --- sizes as polynomials ------------------------------------------------------------------
def test_a_sym_computes_like_an_int_and_answers_only_what_every_size_agrees_on():
    s = Sym.symbol(Domain((2,)))
    assert value_at((s * 4, s * s + 3 * s - 1, 7), (5,)) == (20, 39, 7)
    assert 2 * s - s == s and (s + 1) - s == 1 and isinstance((s + 1) - s, int)
    assert math.prod((s, 4, s)).value((3,)) == 36
    assert (s * 4) // 2 == 2 * s
    assert s != 1 and s > 1 and s * 64 >= 128 and not (s == 0)
    assert str(s * s + 3 * s - 1) == "s^2 + 3*s - 1"
    for question in (lambda: s < 16, lambda: s == 7, lambda: int(s), lambda: range(s),
                     lambda: (2 * s + 1) // 2):
        with pytest.raises(Undecided):
            question()


# --- two sizes -> one graph ---------------------------------------------------------------
def _graph(fn, *shapes):
    f = tc.compile(fn, dynamic=False)
    f(*[tc.randn(*shape) for shape in shapes])
    return f.graphs["forward.optimized"]


def _template(g, where, domain):
    return Template(g, where, domain, None, [], (math.inf,) * len(where))


def test_two_sizes_generalize_to_one_graph_that_matches_a_third():
    def f(x, w):
        return (x @ w).softmax(-1).mean(0)
    a, b = _graph(f, (6, 8), (8, 5)), _graph(f, (9, 8), (8, 5))
    g, where, domain = generalize([a, b])
    assert where == [(0, 0)] and domain.lows == (2,)
    assert "f32[s,8]" in str(g) and "f32[s,5]" in str(g)
    assert match(_template(g, where, domain), _graph(f, (31, 8), (8, 5)))[0] == (31,)
    assert match(_template(g, where, domain), _graph(f, (31, 8), (8, 4))) is None


def test_a_float_no_polynomial_gives_is_read_from_each_size():
    def scaled(x):
        return x / x.shape[1] ** 0.5 + x.var(1, keepdim=True)    # 1/sqrt(n), n/(n - 1)
    g, where, domain = generalize([_graph(scaled, (3, 4)), _graph(scaled, (3, 9))])
    assert "number0" in str(g)
    s, numbers = match(_template(g, where, domain), _graph(scaled, (3, 16)))
    assert s == (16,) and numbers == (4.0,)    # var's n - 1 is an int: a Sym
    compiled = tc.compile(scaled)
    for n in (4, 9, 16, 5):
        x = tc.randn(3, n)
        assert_close(compiled(x), scaled(x))
    assert compiled.compiles == 2


@pytest.mark.parametrize("make", [
    lambda n: np.zeros((n, 4), np.float32),                           # a scatter's zeros
    lambda n: np.arange(n, dtype=np.int64),                           # positions
    lambda n: np.log(np.tril(np.ones((n, n), np.float32))),           # a causal mask
    lambda n: np.triu(np.ones((1, 1, n, n), bool), 1),                # one under unit dims
], ids=["fill", "arange", "tril", "triu"])
def test_a_constant_of_a_dynamic_shape_is_described_and_made_at_each_size(make):
    from tracecomp.compiler.dynamic import _described
    from tracecomp.ir import Node
    from tracecomp.symbolic import generated

    def node(n):
        with np.errstate(divide="ignore"):
            value = make(n)
        return Node("constant", (), {"value": value}, value.shape, value.dtype)
    params = _described([node(5), node(8)])
    for n in (3, 11):
        want = node(n).params["value"]
        np.testing.assert_array_equal(generated(params, want.shape, want.dtype), want)


def test_what_does_not_generalize_fails_to_match_and_compiles():
    def flat(x):
        return x.reshape(-1, 1) * 2       # [T*T, 1]: affine through two sizes only
    a, b = _graph(flat, (4, 4)), _graph(flat, (6, 6))
    g, where, domain = generalize([a, b])
    assert match(_template(g, where, domain), _graph(flat, (5, 5))) is None

    def two(x, y):
        return x.sum() + y.sum()
    with pytest.raises(NotGeneral, match="sizes 0 and 1"):
        generalize([_graph(two, (1,), (3,)), _graph(two, (4,), (3,))])


# --- end to end -------------------------------------------------------------------------------
def _twins(model, reference):
    """model compiled, and SGD with momentum for both, reference loaded with model's weights.
    SGD, not Adam: a bias a softmax or a batch norm ignores has a zero gradient, and Adam
    would scale its rounding noise up to a step."""
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in
                               model.state_dict().items()})
    return tc.compile(model), (tc.optim.SGD(model.parameters(), 0.1, momentum=0.9),
                               torch.optim.SGD(reference.parameters(), 0.1, momentum=0.9))


def _step_both(opts, loss, want, what):
    """The losses agree; then a backward and an optimizer step on each side."""
    assert_close(loss, want, rtol=1e-5, what=what)
    for opt in opts:
        opt.zero_grad()
    loss.backward()
    want.backward()
    for opt in opts:
        opt.step()


class _Attention(nn.Module):
    """A one-block causal text model: token and position embeddings, layer norm, masked
    self-attention (the mask a slice of a buffer, as nanoGPT's), vocabulary head."""

    def __init__(self, lib, vocab=40, width=16, block=64):
        super().__init__() if lib is tc else None
        self.lib = lib
        self.emb, self.pos = lib.nn.Embedding(vocab, width), lib.nn.Embedding(block, width)
        self.ln = lib.nn.LayerNorm(width)
        self.q, self.k = lib.nn.Linear(width, width), lib.nn.Linear(width, width)
        self.v, self.out = lib.nn.Linear(width, width), lib.nn.Linear(width, vocab)
        self.register_buffer("mask", lib.tril(lib.ones(block, block)))

    def forward(self, ids):
        length = ids.shape[1]
        x = self.ln(self.emb(ids) + self.pos(self.lib.arange(length)))
        scores = self.q(x) @ self.k(x).transpose(-2, -1) / math.sqrt(x.shape[-1])
        scores = scores.masked_fill(self.mask[:length, :length] == 0, float("-inf"))
        return self.out(x + scores.softmax(-1) @ self.v(x))


class _TorchAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        _Attention.__init__(self, torch)

    forward = _Attention.forward


def test_a_text_model_trains_over_changing_lengths_as_torch_does_compiling_twice():
    tc.manual_seed(0)
    model, reference = _Attention(tc), _TorchAttention()
    # the positions (arange) and the mask's slice change with the length: still one graph
    compiled, opts = _twins(model, reference)
    rng = np.random.default_rng(0)
    for length in (8, 12, 16, 9, 31, 12):
        ids, target = rng.integers(0, 40, (3, length)), rng.integers(0, 40, (3, length))
        loss = tc.nn.functional.cross_entropy(compiled(tc.tensor(ids)).reshape(-1, 40),
                                              tc.tensor(target).reshape(-1))
        want = torch.nn.functional.cross_entropy(
            reference(torch.tensor(ids)).reshape(-1, 40), torch.tensor(target).reshape(-1))
        _step_both(opts, loss, want, f"loss at length {length}")
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-5, what=name)
    assert compiled._compiled.compiles == 2     # the first length, then the dynamic graph
    art = compiled._compiled.last
    for runner in (art.run_forward, art.run_backward):    # every kernel native
        assert "s = 12" in runner.fusion_log[-1]
        assert not [line for line in runner.fusion_log if "numpy (size" in line]


def test_a_text_model_trains_over_changing_batches_and_lengths_compiling_three_times():
    tc.manual_seed(0)
    model, reference = _Attention(tc), _TorchAttention()
    compiled, opts = _twins(model, reference)
    rng = np.random.default_rng(1)
    for batch, length in ((3, 8), (3, 12), (5, 16), (2, 9), (4, 31), (6, 12)):
        ids, target = rng.integers(0, 40, (batch, length)), \
            rng.integers(0, 40, (batch, length))
        loss = tc.nn.functional.cross_entropy(compiled(tc.tensor(ids)).reshape(-1, 40),
                                              tc.tensor(target).reshape(-1))
        want = torch.nn.functional.cross_entropy(
            reference(torch.tensor(ids)).reshape(-1, 40), torch.tensor(target).reshape(-1))
        _step_both(opts, loss, want, f"loss at {(batch, length)}")
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert_close(p, q, rtol=1e-4, atol=1e-5, what=name)
    # the first size; the length dynamic (s); the batch too (s0, s1): the others run it
    assert compiled._compiled.compiles == 3
    art = compiled._compiled.last
    for runner in (art.run_forward, art.run_backward):
        assert "s0 = 6, s1 = 12" in runner.fusion_log[-1]


def test_a_whole_step_over_short_last_batches_runs_one_dynamic_graph():
    def make():
        tc.manual_seed(1)
        model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
        return model, tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((n, 10)).astype(np.float32), rng.integers(0, 4, n))
               for n in (32, 32, 17, 32, 9, 17)]
    (model, opt), (eager_model, eager_opt) = make(), make()
    step, eager_step = tc.compile(train_step(model, opt)), train_step(eager_model, eager_opt)
    for x, y in batches:
        assert_close(step(tc.tensor(x), tc.tensor(y)),
                     eager_step(tc.tensor(x), tc.tensor(y)).detach(), rtol=1e-5)
    for p, q in zip(model.parameters(), eager_model.parameters()):
        assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert step.compiles == 3   # the first call, with momentum buffers, the dynamic graph


def test_sizes_that_change_the_code_or_are_one_compile_for_themselves():
    def f(x):
        return x * 2 if x.shape[0] > 10 else (x + 1).sum(0)
    g = tc.compile(f)
    for n in (4, 6, 5, 12, 1, 7):
        x = tc.randn(n, 3)
        assert_close(g(x), f(x))
    # 4; the dynamic graph at 6 (5 and 7 run it); 12 (another graph); 1 (size 1)
    assert g.compiles == 4


def test_large_kernels_of_a_dynamic_graph_split_over_threads_at_large_sizes():
    def f(x):
        return tc.nn.functional.gelu(x) * 2 + x.sum(1, keepdim=True)
    g = tc.compile(f)
    for n in (300, 8, 500):       # 500 x 2048 elements: over parallel.KERNEL_SPLIT_WORK
        x = tc.randn(n, 2048)
        assert_close(g(x), f(x), rtol=1e-5, atol=1e-4)   # f32 sums of 2048: eager rounds more
    assert g.last.run_forward.split      # at 500, the gelu kernel is split
    g(tc.randn(8, 2048))
    assert not g.last.run_forward.split     # at 8, it runs whole
    assert g.compiles == 2


def test_a_kernel_that_needs_a_fixed_size_runs_from_numpy_and_says_so():
    def f(x):
        return x.argmax(-1) + x.max(-1).values.long()   # the argmax scan unrolls over s
    g = tc.compile(f)
    for n in (5, 9, 13):
        x = tc.randn(3, n)
        assert_close(g(x), f(x))
    assert g.compiles == 2
    log = g.last.run_forward.fusion_log
    assert [line for line in log if line.startswith("numpy (its kernel needs a fixed size")]


def test_mark_dynamic_compiles_one_graph_for_every_size_on_the_first_call():
    tc.manual_seed(3)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    compiled = tc.compile(model)
    for n in (6, 9, 3):
        x = tc.randn(n, 8)
        tc._dynamo.mark_dynamic(x, 0)
        assert_close(compiled(x), model(x))
        assert f"dynamic graph run at s = {n}" in compiled._compiled.last.run_forward.fusion_log
    assert compiled._compiled.compiles == 1


def test_a_mark_the_code_cannot_follow_warns_and_compiles_the_sizes_given():
    g = tc.compile(lambda x, y: x + y)
    x, y = tc.randn(4, 3), tc.randn(4, 3)
    tc._dynamo.mark_dynamic(x, 0)       # y's dim 0 not marked: x + y needs them equal
    with pytest.warns(UserWarning, match="mark_dynamic: tracing the call"):
        assert_close(g(x, y), x + y)
    assert g.compiles == 1
    with pytest.raises(IndexError, match="out of range"):
        tc._dynamo.mark_dynamic(x, 2)


def test_a_dynamic_graph_that_fails_to_compile_warns_and_compiles_the_sizes(monkeypatch):
    from tracecomp.codegen.llvm import sized

    def broken(graph, concrete):
        raise RuntimeError("a bug in the dynamic lowering")
    monkeypatch.setattr(sized, "compile_sized", broken)
    g = tc.compile(lambda x: x.exp() + 1)
    g(tc.randn(4, 3))
    x = tc.randn(6, 3)
    with pytest.warns(UserWarning, match="compiling the dynamic graph failed"):
        assert_close(g(x), x.exp() + 1)
    assert g.compiles == 2


def test_dynamic_false_compiles_every_size():
    g = tc.compile(lambda x: x.relu() * 3, dynamic=False)
    for n in (4, 6, 5):
        g(tc.randn(n, 2))
    assert g.compiles == 3
    with pytest.raises(ValueError, match="dynamic must be"):
        tc.compile(lambda x: x, dynamic="yes")


def test_batch_norm_trains_over_a_short_last_batch_as_torch_does():
    def build(lib):
        nn_ = lib.nn
        return nn_.Sequential(nn_.Conv2d(1, 4, 3, padding=1), nn_.BatchNorm2d(4), nn_.ReLU(),
                              nn_.Flatten(), nn_.Linear(4 * 6 * 6, 8), nn_.BatchNorm1d(8),
                              nn_.ReLU(), nn_.Linear(8, 3))
    tc.manual_seed(4)
    model, reference = build(tc), build(torch)
    compiled, opts = _twins(model, reference)
    rng = np.random.default_rng(4)
    x_all, y_all = rng.standard_normal((75, 1, 6, 6)).astype(np.float32), \
        rng.integers(0, 3, 75)
    for start in (0, 32, 64, 0, 32, 64):        # 32, 32, 11: Bessel's n / (n - 1) changes
        x, y = x_all[start:start + 32], y_all[start:start + 32]
        loss = tc.nn.functional.cross_entropy(compiled(tc.tensor(x)), tc.tensor(y))
        want = torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y))
        _step_both(opts, loss, want, f"loss at batch {len(x)}")
    for (name, p), q in zip(model.state_dict().items(), reference.state_dict().values()):
        assert_close(p, q, rtol=1e-4, atol=1e-5, what=name)
    assert compiled._compiled.compiles == 2


def test_a_convolution_over_changing_batches_matches_eager():
    tc.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    compiled = tc.compile(model)
    for n in (8, 5, 11):
        x = tc.randn(n, 1, 8, 8, requires_grad=True)
        x_eager = x.detach().requires_grad_()
        out, want = compiled(x), model(x_eager)
        assert_close(out, want, rtol=1e-5, atol=1e-6)
        out.square().sum().backward()
        want.square().sum().backward()
        assert_close(x.grad, x_eager.grad, rtol=1e-5, atol=1e-6)
    assert compiled._compiled.compiles == 2
    art = compiled._compiled.last      # im2col (unfold) and col2im (fold) kernels take s too
    for runner in (art.run_forward, art.run_backward):
        assert not [line for line in runner.fusion_log if line.startswith("numpy")]


def test_a_kernel_that_needs_a_fixed_size_leaves_its_name_free():
    """A padded attention at two lengths (language_translation's memory_key_padding_mask):
    one `where` kernel of the dynamic graph needs a fixed size and runs from numpy, and the
    next `where` kernel took the same name, which llvmlite refuses even after the first one
    left the module ('internal error ... DuplicatedNameError'); the call then compiled for
    its own sizes, with a warning."""
    tc.manual_seed(0)
    mha = tc.nn.MultiheadAttention(16, 2)
    f = tc.compile(lambda kv, q, p: mha(q, kv, kv, key_padding_mask=p, need_weights=False)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (11, 10, 9):
            kv, q = tc.randn(n, 8, 16), tc.randn(n - 1, 8, 16)
            p = tc.zeros(8, n, dtype=tc.bool)
            p[:3, -1] = True
            want = mha(q, kv, kv, key_padding_mask=p, need_weights=False)[0]
            np.testing.assert_allclose(f(kv, q, p).detach().numpy(), want.detach().numpy(),
                                       rtol=1e-5, atol=1e-6)


def _positions(lib):
    class Positions(lib.nn.Module):
        """makemore's and minGPT's positions: arange(0, t).unsqueeze(0), a [1, t] count."""

        def __init__(self):
            super().__init__()
            self.wpe = lib.nn.Embedding(16, 8)

        def forward(self, idx):
            pos = lib.arange(0, idx.size(1), dtype=lib.long).unsqueeze(0)
            return self.wpe(pos) + idx.float().unsqueeze(-1)

    return Positions()


def test_a_count_under_a_dim_of_one_is_one_dynamic_constant():
    """The [1, t] count folds to a constant that is a count along its one dim of size t:
    described as such, one dynamic graph serves every length (it compiled per length)."""
    torch.manual_seed(0)
    reference = _positions(torch)
    model = _positions(tc)
    model.load_state_dict({k: tc.tensor(v.detach().numpy())
                           for k, v in reference.state_dict().items()})
    compiled = tc.compile(model)
    with tc.no_grad(), torch.no_grad():
        for t in range(1, 9):
            ids = np.arange(2 * t).reshape(2, t) % 16
            assert_close(compiled(tc.tensor(ids)), reference(torch.tensor(ids)), atol=1e-6,
                         what=f"length {t}")
    assert compiled._compiled.compiles == 3     # sizes 1 and 2, then the dynamic graph
