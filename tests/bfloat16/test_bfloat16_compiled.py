"""bfloat16 in compiled mode (passes/widen_bf16.py, the llvm kernels' i16 storage) against
eager tracecomp, bit for bit, and torch 2.13: the rounding itself over many bit patterns,
elementwise chains fused into one kernel, reductions, matmul, and softmax / layer_norm /
cross_entropy / Linear under bf16 autocast, forward and backward, all with fullgraph=True.

Where compiled and eager may differ, and by how much (asserted below):
  - ops that add many float32 terms (sums, means, var, matmuls, the gradients of
    broadcasts) accumulate in another order than numpy's pairwise sum / OpenBLAS; the
    float32 results differ by float32 roundings (at most the accumulation bound, 2 k 2^-24
    sum|terms|), so the bfloat16 results are equal except where the two float32 values fall
    either side of a bfloat16 rounding boundary: then 1 bfloat16 ulp, or more where the
    sum cancels to far below its terms (a 256x512x384 product: 0.007 % of elements differ,
    by up to 3 ulps of those small results);
  - transcendentals (exp, tanh, erf, ...) come from mathlib's float32 functions, a few
    float32 ulps from numpy's: again at most 1 bfloat16 ulp, rarely.
Everything else (arithmetic, comparisons, max, where, casts, movement) is bit for bit.
"""
import ml_dtypes
import numpy as np
import pytest
import torch
from bf16_helpers import assert_same, tc_of, ulps

import tracecomp as tc
import tracecomp.nn.functional as F

BF16 = np.dtype(ml_dtypes.bfloat16)
# the inputs hold NaN and inf on purpose: eager numpy's invalid-value warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _raw(t):
    """The uint16 bits of a bfloat16 tracecomp tensor (the float values of another)."""
    a = np.asarray(t.detach().numpy())
    return a.view(np.uint16) if a.dtype == BF16 else a


def _same_bits(got, want):
    assert got.dtype is want.dtype and tuple(got.shape) == tuple(want.shape)
    a, b = _raw(got), _raw(want)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(a, b)
    else:
        bad = np.flatnonzero(a != b)
        assert not bad.size, (f"{bad.size} of {a.size} differ, first at {bad[0]}: "
                              f"compiled={a.flat[bad[0]]:#06x} | eager={b.flat[bad[0]]:#06x}")


def _compiled(fn, *args, backend="llvm"):
    return tc.compile(fn, backend=backend, fullgraph=True)(*args)


def _inputs(shape=(6, 37), seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32) * 3
    a.flat[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -3e38, 2.5]
    b = rng.standard_normal(shape).astype(np.float32)
    return tc.tensor(a).bfloat16(), tc.tensor(b).bfloat16()


def test_rounding_to_bfloat16_matches_eager_on_every_kind_of_bit_pattern():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2 ** 32, 1 << 18, dtype=np.uint64).astype(np.uint32)
    # ties (odd and even), just off ties, the largest finite, NaNs with payloads, denormals
    tails = np.array([0x8000, 0x7FFF, 0x8001, 0x18000, 0x0000], np.uint32)
    bits[:5 * 64] = (rng.integers(0, 2 ** 16, 64, dtype=np.uint32)[:, None] << 16
                     | tails).ravel()
    bits[-8:] = [0x7F7FFFFF, 0xFF7FFFFF, 0x7F800001, 0xFFC12345, 0x7FFFFFFF, 0x00008000,
                 0x00018000, 0x80000001]
    x = tc.tensor(bits.view(np.float32))
    _same_bits(_compiled(lambda v: v.bfloat16(), x), x.bfloat16())
    # from float64 and int64: through float32, as eager (and torch) convert
    d = tc.tensor(np.array([1 + 2 ** -8 + 2 ** -30, -(1 + 3 * 2 ** -9), 1e300, 3.3e-39]))
    _same_bits(_compiled(lambda v: v.bfloat16(), d), d.bfloat16())
    n = tc.tensor(np.array([2 ** 24 + 1, 257, -259, 2 ** 62 + 2 ** 40], np.int64))
    _same_bits(_compiled(lambda v: v.bfloat16(), n), n.bfloat16())


def test_widening_from_bfloat16_is_exact_and_casts_to_integers_as_eager():
    x, _ = _inputs()
    for fn in (lambda v: v.float(), lambda v: v.double(), lambda v: v.int(),
               lambda v: v.long(), lambda v: v.bool()):
        _same_bits(_compiled(fn, x), fn(x))


# elementwise: one fused kernel per function, rounded after every op whose eager result is
# bfloat16; exact
EXACT = {
    "chain": lambda a, b: (a * b + 0.1) * a - b / 3,
    "div_sqrt": lambda a, b: a / b + b.abs().sqrt(),
    "max_where": lambda a, b: tc.where(a > b, tc.maximum(a, b), -b),
    "relu_clamp": lambda a, b: F.relu(a).clamp(max=2.0) * b,
    "scalars": lambda a, b: a * 0.3 + 1.7 - 2 * b,
    "mixed_float32": lambda a, b: a * b.float() + 1,     # promotes: no rounding
    "to_float32": lambda a, b: (a * b).float() + 1,
    "from_float32": lambda a, b: (a.float() * 1.001).bfloat16() + b,
    "views": lambda a, b: a.t().reshape(37, 3, 2)[1:, :, 1] + b.t()[1:, ::2] * 2,
    "movement": lambda a, b: tc.cat([a, b], 0)[::2] * F.pad(b, (1, 1))[:, 1:-1],
    "compare": lambda a, b: (a >= b) | (a * b < 0.25),
    "pow": lambda a, b: a.abs() ** 1.5 + a ** 2,
}
# transcendentals: mathlib's float32 functions are a few float32 ulps from numpy's
CLOSE = {
    "exp_log": lambda a, b: (a.exp() + b.abs().log()),
    "tanh_sigmoid": lambda a, b: a.tanh() * b.sigmoid(),
    "gelu": lambda a, b: F.gelu(a) + F.gelu(b, approximate="tanh"),
    "silu_erf": lambda a, b: F.silu(a) + b.erf(),
}


@pytest.mark.parametrize("backend", ["llvm", "interp"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_elementwise_is_eagers_bits(name, backend):
    a, b = _inputs()
    _same_bits(_compiled(EXACT[name], a, b, backend=backend), EXACT[name](a, b))


@pytest.mark.parametrize("name", sorted(CLOSE))
def test_transcendentals_within_one_ulp_of_eager(name):
    a, b = _inputs((64, 129))
    got, want = _compiled(CLOSE[name], a, b), CLOSE[name](a, b)
    assert got.dtype is tc.bfloat16 and ulps(got, want) <= 1
    assert np.mean(_raw(got) == _raw(want)) > 0.99      # a boundary case is rare


def test_interp_backend_is_eagers_bits_on_transcendentals_and_reductions():
    a, b = _inputs((64, 129))

    def f(a, b):
        return F.log_softmax(a * b, -1).sum(0) + F.gelu(b).mean(1, keepdim=True).exp()
    _same_bits(_compiled(f, a, b, backend="interp"), f(a, b))


REDUCTIONS = {
    "sum": lambda a: a.sum(1), "sum0": lambda a: a.sum(0), "mean": lambda a: (a * a).mean(),
    "var": lambda a: a.var(1), "amax": lambda a: a.amax(0), "argmax": lambda a: a.argmax(1),
    "softmax": lambda a: F.softmax(a, -1), "log_softmax": lambda a: F.log_softmax(a, 0),
    "layer_norm": lambda a: F.layer_norm(a, (a.shape[-1],)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_within_one_ulp_of_eager(name):
    a = tc.randn(96, 300, generator=tc.Generator().manual_seed(2)).bfloat16()
    got, want = _compiled(REDUCTIONS[name], a), REDUCTIONS[name](a)
    assert got.dtype is want.dtype
    if name in ("amax", "argmax"):
        _same_bits(got, want)
    else:
        assert ulps(got, want) <= 1
        assert np.mean(_raw(got) == _raw(want)) > 0.95


@pytest.mark.parametrize("m,k,n", [(4 * 33, 70, 50), (256, 512, 384)])
def test_matmul_within_float32_accumulation_of_eager_and_torch(m, k, n):
    g = tc.Generator().manual_seed(3)
    a, b = tc.randn(m, k, generator=g).bfloat16(), tc.randn(k, n, generator=g).bfloat16()
    got, want = _compiled(lambda x, y: x @ y, a, b), a @ b
    # both accumulate the k products in float32, in different orders (OpenBLAS picks its
    # kernel by the block the threads get): float32 results differ by at most the
    # accumulation bound, so the bfloat16 ones by that plus one bfloat16 ulp
    wide = np.abs(a.float().numpy()).astype(np.float64) @ np.abs(b.float().numpy())
    step = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(_f64(want)), 2.0 ** -126))) - 7)
    assert np.all(np.abs(_f64(got) - _f64(want)) <= step + 2 * k * 2.0 ** -24 * wide)
    assert np.mean(_raw(got) == _raw(want)) > 0.999
    torch_want = torch.from_numpy(a.float().numpy()).bfloat16() @ \
        torch.from_numpy(b.float().numpy()).bfloat16()
    assert np.all(np.abs(_f64(got) - torch_want.double().numpy())
                  <= step + 2 * k * 2.0 ** -24 * wide)


def _f64(t):
    return np.asarray(t.detach().float().numpy(), np.float64)


def _autocast_case(name):
    """(model function, inputs, parameters) of one op under bf16 autocast, for lib."""
    def make(lib):
        gen = torch.Generator().manual_seed(4)
        x = torch.randn(8, 24, generator=gen)
        w, bias = torch.randn(16, 24, generator=gen) * 0.2, torch.randn(16, generator=gen)
        gamma, y = torch.rand(16, generator=gen) + 0.5, torch.randint(0, 16, (8,), generator=gen)
        conv = (lambda t: t) if lib is torch else tc_of
        x, w, bias, gamma, y = map(conv, (x, w, bias, gamma, y))
        for p in (w, bias, gamma):
            p.requires_grad_(True)
        fn = lib.nn.functional

        def f():
            with lib.autocast("cpu", dtype=lib.bfloat16):
                h = fn.linear(x, w, bias)                           # bf16
                h = {"linear": h, "softmax": fn.softmax(h, -1),
                     "layer_norm": fn.layer_norm(h, (16,), gamma),  # in h's bf16
                     "cross_entropy": h}[name]
                loss = fn.cross_entropy(h, y) if name == "cross_entropy" else \
                    (h.float() * torch_like(lib, h)).sum()
            return h, loss
        return f, (w, bias, gamma)
    return make


def torch_like(lib, h):
    """A fixed float32 weighting of h's elements (so every gradient element differs)."""
    return lib.arange(h.numel(), dtype=lib.float32).reshape(h.shape).sin()


@pytest.mark.parametrize("name", ["linear", "softmax", "layer_norm", "cross_entropy"])
def test_autocast_forward_and_backward_compiled_match_eager_and_torch(name):
    f_eager, params = _autocast_case(name)(tc)
    h, loss = f_eager()
    loss.backward()
    want = [h, loss] + [p.grad for p in params]
    for p in params:
        p.grad = None
    h2, loss2 = tc.compile(f_eager, fullgraph=True)()
    loss2.backward()
    got = [h2, loss2] + [p.grad for p in params]
    f_torch, tparams = _autocast_case(name)(torch)
    th, tloss = f_torch()
    tloss.backward()
    oracle = [th, tloss] + [p.grad for p in tparams]
    for k, (g, w, o) in enumerate(zip(got, want, oracle)):
        if g is None:
            assert w is None and o is None
            continue
        assert g.dtype is w.dtype
        # float32 parameters get float32 gradients, as torch's
        assert (k < 2) or g.dtype is tc.float32
        if g.dtype is tc.bfloat16:
            assert ulps(g, w) <= 1 and ulps(g, o) <= 1
        else:
            np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(),
                                       rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(g.detach().numpy(), o.detach().numpy(),
                                       rtol=2e-2, atol=1e-3)


def test_log_softmax_of_bfloat16_rounds_its_row_sums_as_eager():
    # eager's (and torch's) bf16 kernel holds the row sums and their logs in bf16: the
    # compiled graph writes those roundings as cast pairs (Primitive.bf16)
    a = (tc.randn(32, 100, generator=tc.Generator().manual_seed(5)) * 4).bfloat16()
    got = _compiled(lambda x: F.log_softmax(x, -1), a)
    assert ulps(got, F.log_softmax(a, -1)) <= 1
    assert_same(got, torch.log_softmax(torch.from_numpy(a.float().numpy()).bfloat16(), -1), 1)


def test_fused_kernel_stores_bfloat16_as_two_bytes():
    a, b = _inputs((64, 64))
    compiled = tc.compile(lambda x, y: (x * y + 1).relu(), fullgraph=True)
    out = compiled(a, b)
    assert out.dtype is tc.bfloat16 and np.asarray(out.numpy()).itemsize == 2
    log = compiled.fusion_log["forward"]
    assert "python:" not in log and "no native lowering" not in log


def test_widen_pass_leaves_bfloat16_only_in_casts_views_and_constants():
    from tracecomp.codegen import interp
    from tracecomp.ir import verify
    from tracecomp.passes import widen_bf16
    from tracecomp.tracing.tracer import trace
    a, b = _inputs((8, 20))

    def f(x, y):
        return F.log_softmax(x * y, -1).t().sum(0) + F.layer_norm(y, (20,))[0, :8]
    graph = trace(f, a, b)
    wide = widen_bf16.run(graph)
    verify(wide, "after widen_bf16")
    for n in wide.nodes:
        if n.op not in ("cast", "constant") and not n.prim.is_view:
            assert n.dtype != BF16 and all(getattr(i, "dtype", None) != BF16
                                           for i in n.inputs), n.op
    out = interp.compile_graph(wide)([a.numpy(), b.numpy()])[0]
    _same_bits(tc.tensor(out), f(a, b))


def test_constant_folding_folds_bfloat16_ops_as_eager_computes_them():
    # a bf16 op's impl on bf16 arrays would round after each numpy step: it folds only
    # once widened, then to eager's bits
    from tracecomp.ir import Graph
    from tracecomp.passes import constant_folding, widen_bf16
    c = (tc.randn(4, 50, generator=tc.Generator().manual_seed(0)) * 3).bfloat16()
    graph = Graph("folding")
    graph.outputs = [graph.add("softmax", [graph.add_constant(c.numpy())], {"dim": 1},
                               (4, 50), BF16)]
    assert constant_folding.run(graph).outputs[0].op == "softmax"
    folded = constant_folding.run(widen_bf16.run(graph)).outputs[0]
    assert folded.op == "constant"
    _same_bits(tc.tensor(folded.params["value"]), F.softmax(c, -1))


def _functional(lib):
    return lib.nn.functional


# bfloat16 leaves that require grad, through one op: (function of (lib, *tensors), shapes)
GRAD_CASES = {
    "softmax": (lambda lib, x: _functional(lib).softmax(x, -1), [(8, 64)]),
    "log_softmax": (lambda lib, x: _functional(lib).log_softmax(x, -1), [(8, 64)]),
    "bmm": (lambda lib, a, b: a @ b, [(4, 16, 8), (4, 8, 16)]),
    "linear": (lambda lib, x, w, b: _functional(lib).linear(x, w, b), [(8, 32), (16, 32), (16,)]),
    "gelu": (lambda lib, x: _functional(lib).gelu(x), [(8, 64)]),
    "causal_softmax": (lambda lib, x: x.masked_fill(lib.tril(lib.ones(8, 8)) == 0,
                                                    float("-inf")).softmax(-1), [(4, 8, 8)]),
    "mul_sum": (lambda lib, x, y: (x * y).sum(-1), [(8, 64), (8, 64)]),
    # torch's bf16 kernels round partial results in these two's backward, eager does not:
    "layer_norm": (lambda lib, x, w: _functional(lib).layer_norm(x, (64,), w),
                   [(8, 64), (64,)]),
    "embedding": (lambda lib, w: _functional(lib).embedding(
        (torch if lib is torch else tc).tensor([[1, 2, 1], [0, 2, 2]]), w), [(4, 16)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_bfloat16_leaves_get_eagers_gradient_bits_compiled(name):
    fn, shapes = GRAD_CASES[name]
    gen = torch.Generator().manual_seed(6)
    xs = [torch.randn(*s, generator=gen).bfloat16().requires_grad_() for s in shapes]
    out = fn(torch, *xs)
    cot = torch.randn(out.shape, generator=gen).bfloat16()
    out.backward(cot)
    runs = []
    for compiled in (False, True):
        leaves = [tc_of(x).requires_grad_() for x in xs]
        f = tc.compile(lambda *a: fn(tc, *a), fullgraph=True) if compiled else \
            (lambda *a: fn(tc, *a))
        got = f(*leaves)
        got.backward(tc_of(cot))
        runs.append([got] + [t.grad for t in leaves])
    for got, want in zip(*reversed(runs)):
        _same_bits(got, want)
    if name not in ("layer_norm", "embedding"):
        # gelu: torch's float32 erf is not numpy's (its bf16 result rarely a ulp apart)
        for got, want in zip(runs[0], [out] + [x.grad for x in xs]):
            assert_same(got, want, 1 if name == "gelu" else 0)


def test_where_torch_rounds_bfloat16_gradients_more_eager_is_nearer_float64():
    """layer_norm's and embedding's bf16 backward: torch rounds partial results (embedding
    adds rows in bf16: 47 % of sums correctly rounded here), eager (and compiled) rounds
    once; against a float64 gradient eager is as near or nearer."""
    for name in ("layer_norm", "embedding"):
        fn, shapes = GRAD_CASES[name]
        gen = torch.Generator().manual_seed(7)
        xs = [torch.randn(*s, generator=gen).bfloat16() for s in shapes]
        cot = torch.randn(fn(torch, *xs).shape, generator=gen).bfloat16()
        grads = {}
        for key, lib, dtype in (("ref", torch, torch.float64), ("torch", torch, None),
                                ("eager", tc, None)):
            leaves = [x.double() if dtype else x for x in xs]
            leaves = [(tc_of(x) if lib is tc else x.detach()).requires_grad_() for x in leaves]
            fn(lib, *leaves).backward(tc_of(cot) if lib is tc else cot.to(leaves[0].dtype))
            grads[key] = [np.asarray(t.grad.detach().double().numpy()) for t in leaves]
        for ref, t, e in zip(grads["ref"], grads["torch"], grads["eager"]):
            assert np.abs(e - ref).mean() <= np.abs(t - ref).mean()


def test_convolution_net_under_autocast_compiled_is_eagers_bits():
    """Conv2d (bf16 under autocast), ReLU, max and average pooling, Linear: the window
    kernels read the bf16 buffers too; forward and float32 parameter gradients."""
    nn = tc.nn
    tc.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 4, 3, padding=1), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(36, 5))
    x, y = tc.randn(2, 3, 14, 14), tc.tensor([1, 3])

    def f(x, y):
        with tc.autocast("cpu"):
            out = net(x)
        return out, F.cross_entropy(out, y)
    runs = []
    for compiled in (False, True):
        net.zero_grad()
        out, loss = (tc.compile(f, fullgraph=True) if compiled else f)(x, y)
        loss.backward()
        runs.append([out, loss] + [p.grad.clone() for p in net.parameters()])
    assert runs[0][0].dtype is tc.bfloat16
    for got, want in zip(runs[1], runs[0]):
        _same_bits(got, want)


def test_autocast_state_is_part_of_the_compiled_signature():
    """Traced under autocast, a graph holds its casts: a call in another autocast state (off,
    another dtype) must not reuse it, on the general path or the fast ones (functions,
    compile(model))."""
    lin = tc.nn.Linear(4, 3)
    x = tc.randn(2, 4)
    model, fn = tc.compile(lin, fullgraph=True), tc.compile(lambda v: lin(v) * 2, fullgraph=True)
    for state in ("bfloat16", None, "float16", "bfloat16", None, None):
        with tc.autocast("cpu", dtype=getattr(tc, state or "bfloat16"), enabled=bool(state)):
            for _ in range(2):          # the second call takes the fast path
                got, want = model(x), lin(x)
                _same_bits(got, want)
                _same_bits(fn(x), lin(x) * 2)
        assert got.dtype is getattr(tc, state or "float32")


def test_export_run_decompositions_computes_bfloat16_as_eager():
    """decompose on a graph widen_bf16 has not run on (torch.export's run_decompositions):
    softmax's and log_softmax's parts run in float32, rounded once, not per part."""
    class Net(tc.nn.Module):
        def forward(self, x):
            return F.softmax(x * 3, -1) + F.log_softmax(x, -1)
    x = tc.randn(8, 100, generator=tc.Generator().manual_seed(0)).bfloat16()
    decomposed = tc.export.export(Net(), (x,)).run_decompositions()
    assert "softmax" not in str(decomposed.graph_module.graph)
    _same_bits(decomposed.module()(x), Net()(x))
