"""unfold (im2col) and fold (col2im) on the llvm backend (codegen/llvm/lower/window.py).

One traced graph holds every parameter case, so its kernels compile as one module: per case
unfold(relu(x)) (an unfold-rooted kernel with its producer fused), unfold(x) transposed (the
unfold as an index map inside another kernel) and fold(c * 2) (the gather-sum kernel with
its prologue fused). Each must equal the primitive's numpy impl exactly: unfold copies, and
fold adds the taps in the impl's order. Then a small conv net (groups, dilation, stride,
padding, pooling) trains one step compiled and eagerly, and the fusion log must show no
numpy fallback for unfold or fold.
"""
import itertools
import re

import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn
from tracecomp.codegen.llvm.backend import compile_graph
from tracecomp.codegen.llvm.target import host
from tracecomp.ops import conv
from tracecomp.tracing.tracer import trace


def _cases():
    """(shape, dtype, kernel, dilation, padding, stride): a deterministic spread over kernel
    1..3, stride 1..2, padding 0..2, dilation 1..2 (non-square ones too), channels 1..3,
    batch 1..2, odd sizes, and float64/int64 besides float32; then three exact tilings."""
    rng = np.random.default_rng(0)
    grid = list(itertools.product((1, 2, 3), (1, 2, 3), (1, 2), (0, 1, 2), (1, 2)))
    picks = [grid[i] for i in rng.choice(len(grid), 26, replace=False)]
    picks += [(3, 3, 1, 1, 1), (2, 2, 2, 0, 1), (1, 1, 1, 0, 1), (3, 2, 2, 2, 2)]
    dtypes = [np.float32] * 27 + [np.float64, np.int64, np.float64]
    cases = []
    for n, ((kh, kw, s, p, d), dtype) in enumerate(zip(picks, dtypes)):
        shape = (1 + n % 2, 1 + n % 3, 5 + 2 * (n % 3), 4 + n % 5)
        kernel, dilation = (kh, kw), (d, 1 + n % 2)
        stride, padding = (s, 1 + (n // 2) % 2), (p, (p + n) % 3)
        # keep the padding under the kernel's span (as conv layers do) and the output non-empty
        padding = tuple(min(q, dd * (k - 1)) for q, k, dd in zip(padding, kernel, dilation))
        if all(conv.out_size(shape[2 + a], kernel[a], dilation[a], padding[a], stride[a]) > 0
               for a in range(2)):
            cases.append((shape, np.dtype(dtype), kernel, dilation, padding, stride))
    # windows that tile the input exactly (a max-pool's geometry): fold's tiling kernel
    for shape, dtype, kernel in (((2, 3, 6, 4), np.float32, (2, 2)),
                                 ((1, 2, 6, 9), np.float64, (3, 3)),
                                 ((2, 2, 4, 6), np.int64, (2, 3))):
        cases.append((shape, np.dtype(dtype), kernel, (1, 1), (0, 0), kernel))
    return cases


CASES = _cases()


def _geometry(case):
    _, _, kernel, dilation, padding, stride = case
    return kernel, dilation, padding, stride


def _all_windows(xs, cs):
    outs = []
    for x, c, case in zip(xs, cs, CASES):
        geo = _geometry(case)
        outs.append(conv.unfold(tc.relu(x), *geo))
        outs.append(tc.permute(conv.unfold(x, *geo), (0, 2, 1)))
        two = 2.0 if x.dtype.is_floating_point else 2
        outs.append(conv.fold(c * two, case[0][2:], *geo))
    return outs


@pytest.fixture(scope="module")
def windows():
    """The compiled runner, its inputs, and what the numpy impls give on them."""
    rng = np.random.default_rng(1)
    xs, cs, want = [], [], []
    for case in CASES:
        shape, dtype = case[0], case[1]
        geo = _geometry(case)
        x = rng.integers(-5, 6, shape) if dtype.kind == "i" else rng.standard_normal(shape)
        cols_shape = conv._unfold_rule(shape, *geo)
        c = rng.integers(-5, 6, cols_shape) if dtype.kind == "i" \
            else rng.standard_normal(cols_shape)
        x, c = x.astype(dtype), c.astype(dtype)
        xs.append(x)
        cs.append(c)
        want += [conv._unfold_impl(np.maximum(x, 0), *geo),
                 conv._unfold_impl(x, *geo).transpose(0, 2, 1),
                 conv._fold_impl(c * 2, shape[2:], *geo)]
    graph = trace(lambda *a: _all_windows(a[:len(CASES)], a[len(CASES):]),
                  *[tc.tensor(a) for a in xs + cs])
    runner = compile_graph(graph)
    return runner, runner(xs + cs), want


@pytest.mark.parametrize("k", range(len(CASES)),
                         ids=[f"{c[0]}-{c[1]}-k{c[2]}-d{c[3]}-p{c[4]}-s{c[5]}" for c in CASES])
def test_unfold_and_fold_match_the_numpy_impls(windows, k):
    _, got, want = windows
    for what, g, w in zip(("unfold(relu(x))", "unfold(x).permute", "fold(c * 2)"),
                          got[3 * k:3 * k + 3], want[3 * k:3 * k + 3]):
        assert g.dtype == w.dtype, f"{what}: dtype llvm={g.dtype} | numpy={w.dtype}"
        np.testing.assert_array_equal(g, w, err_msg=f"{what}, case {CASES[k]}")


def test_window_kernels_split_over_threads_give_the_same_values(monkeypatch):
    """Every unfold and fold kernel built ranged (a block of images, or of a conv layout's
    C*kh*kw rows, per thread): bit for bit the numpy impls, whole or in pieces."""
    from tracecomp.codegen.llvm.runtime import parallel
    monkeypatch.setattr(parallel, "KERNEL_SPLIT_WORK", 1)
    monkeypatch.setenv("TRACECOMP_THREADS", "2")
    rng = np.random.default_rng(2)
    cases = [c for c in CASES if c[0][0] == 2 or c[2] == c[5]]    # batches of 2, tilings
    xs = [rng.standard_normal(c[0]).astype(c[1]) for c in cases]

    def windows(*xs):
        outs = []
        for x, case in zip(xs, cases):
            geo = _geometry(case)
            cols = conv.unfold(x, *geo)
            outs += [cols, tc.permute(conv.unfold(x * 2, *geo), (1, 0, 2)),
                     conv.fold(cols * 3, case[0][2:], *geo)]
        return outs
    runner = compile_graph(trace(windows, *[tc.tensor(x) for x in xs]))
    kinds = {s.groups[0].kind for s in runner.layout.program if s.kind == "split"}
    assert {"unfold", "fold"} <= kinds, kinds
    for got, want in zip(runner(xs), windows(*[tc.tensor(x) for x in xs])):
        np.testing.assert_array_equal(got, want.numpy())


def test_window_kernels_fuse_their_producers(windows):
    runner = windows[0]
    log = runner.fusion_log
    kernels = [line for line in log if re.match(r"kernel\d+_", line)]
    # one kernel per output: the relu inside the unfold's, the unfold inside the
    # transpose's, the multiply inside the fold's; nothing else runs
    assert len(kernels) == 3 * len(CASES) == len(runner.steps), "\n".join(log)
    assert sum(bool(re.search(r"_unfold: %\d+ relu, %\d+ unfold$", s)) for s in kernels) \
        == len(CASES)
    assert sum(bool(re.search(r"_permute: %\d+ unfold, %\d+ permute$", s)) for s in kernels) \
        == len(CASES)
    assert sum(bool(re.search(r"_fold: %\d+ mul, %\d+ fold$", s)) for s in kernels) \
        == len(CASES)
    assert not any("no native lowering" in line for line in log)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=2, dilation=(2, 1),
                               groups=2)
        self.conv3 = nn.Conv2d(6, 3, 1)
        self.fc = nn.Linear(3 * 4 * 7, 5)

    def forward(self, x):
        x = tc.relu(self.conv1(x))
        x = nn.functional.max_pool2d(tc.relu(self.conv2(x)), 2)
        x = nn.functional.avg_pool2d(self.conv3(x), 2, stride=1, padding=1)
        return self.fc(x.flatten(1))


def _step(model, x, cot):
    for p in model.parameters():
        p.grad = None
    x = tc.tensor(x, requires_grad=True)
    out = model(x)
    (out * tc.tensor(cot)).sum().backward()
    return out.detach().numpy(), [x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()]


def test_conv_net_forward_and_backward_match_eager():
    tc.manual_seed(0)
    model = ConvNet()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 11, 9)).astype(np.float32)
    cot = rng.standard_normal((3, 5)).astype(np.float32)
    want, want_grads = _step(model, x, cot)
    compiled = tc.compile(model, backend="llvm")
    got, got_grads = _step(compiled, x, cot)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    names = ["x"] + [name for name, _ in model.named_parameters()]
    for name, g, w in zip(names, got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"d/d{name}")
    logs = compiled.fusion_log
    assert re.search(r"kernel\d+_unfold", logs["forward"])
    assert re.search(r"kernel\d+_fold", logs["backward"])
    for text in logs.values():
        for line in text.splitlines():
            assert not re.match(r"%\d+ (un)?fold.*no native lowering", line), line


def test_a_pooling_unfold_is_stored_by_its_own_kernel_with_its_producers():
    """Max pooling of relu(conv) with overlapping windows: the windows' unfold is never an
    index map inside the argmax/gather kernel (it would divide per element read); it roots
    its own kernel, with the bias add and relu fused in, and the result equals eager."""
    tc.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = tc.randn(2, 2, 8, 6)

    def f(x):
        return nn.functional.max_pool2d(tc.relu(conv(x)), 3, 2, 1)
    compiled = tc.compile(f)
    with tc.no_grad():
        got, want = compiled(x), f(x)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    log = compiled.fusion_log["forward"]
    assert re.search(r"kernel\d+_unfold: .*relu, %\d+ pad, %\d+ unfold$", log, re.MULTILINE), log
    assert re.search(r"unfold not fused into .*stored by its own kernel", log), log


@pytest.mark.parametrize("shape", [(3, 5, 10, 10), (4, 3), (2, 7, 1, 3)])
def test_elementwise_kernels_with_short_inner_dims_match_eager(shape):
    """Short trailing dims are merged into one loop (kernels._short_tail_merged) and split
    back per element; a permuted and broadcast read must still land on the right element."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[-1:]).astype(np.float32)
    dims = tuple(reversed(range(len(shape))))

    def f(x, y):
        return tc.relu(x * y + 1.0) + x.permute(dims).permute(dims) * 2.0
    got = tc.compile(f)(tc.tensor(a), tc.tensor(b))
    np.testing.assert_allclose(got.numpy(), f(tc.tensor(a), tc.tensor(b)).numpy(), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("features", ["", "-avx512f"], ids=["host", "avx2"])
@pytest.mark.parametrize("size", [10, 28])
def test_a_pool_backward_over_rows_shorter_than_a_vector_stays_a_loop(size, features,
                                                                       monkeypatch):
    """A 2x2 max pool's backward (window.py `_tiling_fold`) whose output rows are shorter
    than one vector of the host (10 floats under AVX-512's 16 lanes) keeps its ox loop, not
    unrolled and without a masked tail: unrolled, LLVM packed the row into one masked vector
    read and written by gathers and scatters (2x slower on the LeNet step). Longer rows,
    and hosts of 8 lanes, keep the unrolled form. Results equal eager's either way."""
    monkeypatch.setenv("TRACECOMP_CPU_FEATURES", features)
    rng = np.random.default_rng(4)
    cols = rng.standard_normal((4, 6 * 4, (size // 2) ** 2)).astype(np.float32)

    def backward(cols):
        return conv.fold(cols + 1.0, (size, size), 2, stride=2)
    runner = compile_graph(trace(backward, tc.tensor(cols)))
    np.testing.assert_allclose(runner([cols])[0], backward(tc.tensor(cols)).numpy(),
                               rtol=1e-6)
    sixteen_lanes = host().vector_bytes >= 64
    kept = "llvm.loop.vectorize.predicate.enable" in runner.llvm_ir
    assert kept == (sixteen_lanes and size == 10)
