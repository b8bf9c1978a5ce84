"""Chunk loops (passes/chunks.py): a large batch's convolution columns are made, multiplied
and folded a chunk of samples at a time, so no compiled step holds the whole batch's
im2col. Every result against torch; the memory claims as exact properties of the plan."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp.ops.conv import CHUNK_BYTES, chunk_samples

from helpers import assert_close, native_runners, train_step, with_torch_weights


def _lenet(lib):
    lib.manual_seed(0)
    n = lib.nn
    return n.Sequential(n.Conv2d(1, 6, 5, padding=2), n.ReLU(), n.MaxPool2d(2),
                        n.Conv2d(6, 16, 5), n.ReLU(), n.MaxPool2d(2), n.Flatten(),
                        n.Linear(400, 10))


def _data(batch):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch, 1, 28, 28)).astype(np.float32),
            rng.integers(0, 10, batch))


def _torch_steps(x, y, steps):
    ref = _lenet(torch)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
    return ref


def _runners(compiled):
    """The latest compiled call's runners (forward, and backward where there is one)."""
    return native_runners(getattr(compiled, "_compiled", compiled).last)


def _loops(runner):
    return [s.loop for s in runner.layout.program if s.kind == "chunks"]


def test_chunks_divide_the_batch_and_fit_the_bound():
    for n in (64, 50, 48, 7, 1000):
        for sample in (60_000, 78_400, 300_000, 3_000_000):
            c = chunk_samples(n, sample)
            assert n % c == 0
            if c < n:
                assert c == 1 or c * sample <= CHUNK_BYTES
                # the largest such divisor
                assert not any(n % d == 0 and d * sample <= CHUNK_BYTES
                               for d in range(c + 1, n))
            else:
                assert n * sample <= 2 * CHUNK_BYTES
    assert chunk_samples(3, 78_400) == 3            # small batches: one product, as before


def test_a_whole_step_trains_as_torch_and_never_holds_the_batch_columns():
    x, y = _data(64)
    ref = _torch_steps(x, y, 3)
    model = with_torch_weights(_lenet(tc), _lenet(torch))
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    step = tc.compile(train_step(model, opt))
    for _ in range(3):
        step(tc.tensor(x), tc.tensor(y))
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p, q, rtol=2e-4, atol=2e-5, what=name)
    (runner,) = _runners(step)
    loops = _loops(runner)
    # each convolution's forward and weight-gradient products, and conv2's input gradient
    assert sum(any(g.kind == "unfold" for g in lp.makers) for lp in loops) == 4
    assert sum(lp.consumer is not None and lp.consumer.kind == "fold" for lp in loops) == 1
    # each weight gradient: the slots' partial sums, added up by a step of their own
    assert sum(lp.summed is not None for lp in loops) == 2
    assert sum(s.kind == "sum" for s in runner.layout.program) == 2
    conv1_columns = 64 * 25 * 784 * 4
    assert runner.memory_plan.peak < conv1_columns, runner.memory_plan.peak


@pytest.mark.parametrize("threads", ["1", "2"])
def test_compile_model_gradients_match_torch(monkeypatch, threads):
    """The forward saves no columns (the backward makes them again a chunk at a time), and
    conv2's input gradient is folded chunk by chunk: the gradient of conv1 went through it
    (a plan that let the fold's output overlap the product's operand broke it)."""
    monkeypatch.setenv("TRACECOMP_THREADS", threads)
    x, y = _data(64)
    ref = _lenet(torch)
    model = with_torch_weights(_lenet(tc), ref)
    compiled = tc.compile(model)
    for _ in range(2):      # the second call runs the cached graphs
        model.zero_grad()
        tc.nn.functional.cross_entropy(compiled(tc.tensor(x)), tc.tensor(y)).backward()
    ref.zero_grad()
    torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what=name)
    forward, backward = _runners(compiled)
    saved = forward.graph.outputs[1:]
    assert not any(o.op in ("unfold", "permute") and o.size >= 64 * 25 * 784 for o in saved)
    assert any(lp.consumer is not None and lp.consumer.kind == "fold" for lp in _loops(backward))
    assert sum(any(g.kind == "unfold" for g in lp.makers) for lp in _loops(backward)) == 2


@pytest.mark.parametrize("slots", [1, 3])
def test_any_number_of_slots_gives_torch_gradients(monkeypatch, slots):
    """One slot (a one-CPU host: no partial sums to add) and three (32 chunks split
    unevenly, three partials) against torch."""
    from tracecomp.codegen.llvm.runtime import parallel
    monkeypatch.setattr(parallel, "chunk_slots", lambda: slots)
    x, y = _data(64)
    ref = _lenet(torch)
    model = with_torch_weights(_lenet(tc), ref)
    compiled = tc.compile(model)
    tc.nn.functional.cross_entropy(compiled(tc.tensor(x)), tc.tensor(y)).backward()
    torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, what=name)
    assert {lp.slots for r in _runners(compiled) for lp in _loops(r)} == {slots}


@pytest.mark.parametrize("shape, conv", [
    ((50, 3, 30, 30), dict(out_channels=8, kernel_size=3, padding=1)),
    ((7, 2, 64, 64), dict(out_channels=4, kernel_size=5, stride=2, padding=2)),
    ((24, 4, 33, 29), dict(out_channels=5, kernel_size=3, dilation=2)),
])
def test_odd_geometries_and_batches_match_torch(shape, conv):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    ref = torch.nn.Conv2d(shape[1], **conv)
    model = with_torch_weights(tc.nn.Conv2d(shape[1], **conv), ref)
    samples = shape[1] * conv["kernel_size"] ** 2 * 4 * (shape[2] * shape[3])
    assert chunk_samples(shape[0], samples) < shape[0] or samples * shape[0] > CHUNK_BYTES

    def loss(m, t):
        return (m(t).tanh() * m(t)).sum()     # the columns read by two products and more
    want_x = torch.tensor(x, requires_grad=True)
    loss(ref, want_x).backward()
    got_x = tc.tensor(x, requires_grad=True)
    fn = tc.compile(lambda t: loss(model, t))
    fn(got_x).backward()
    assert_close(got_x.grad, want_x.grad, rtol=1e-4, atol=1e-5, what="input grad")
    assert_close(model.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-3, what="weight grad")
    assert any(_loops(r) for r in _runners(fn))


def test_no_chunks_below_the_bound():
    """A small batch keeps one product over the whole batch (what it was before)."""
    model = nn.Conv2d(1, 6, 5, padding=2)
    fn = tc.compile(model)
    fn(tc.randn(3, 1, 28, 28))
    assert not any(_loops(r) for r in _runners(fn))


def test_an_attention_softmax_is_made_a_batch_item_at_a_time():
    """Any batched product whose operand an elementwise kernel makes for it alone runs as a
    chunk loop: attention's softmax (J, T, T) @ V, each item's probabilities made right
    before its product. Empty and single-item batches keep the plain product."""
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((6, 40, 16)).astype(np.float32) for _ in range(3))

    def attention(lib, q, k, v):
        return lib.softmax(q @ k.transpose(1, 2) / 4.0, dim=-1) @ v
    want = attention(torch, *map(torch.tensor, (q, k, v)))
    fn = tc.compile(lambda q, k, v: attention(tc, q, k, v))
    assert_close(fn(*map(tc.tensor, (q, k, v))), want, rtol=1e-5, atol=1e-6)
    (runner,) = _runners(fn)
    assert any(g.kind == "elementwise" for lp in _loops(runner) for g in lp.makers)
    for batch in (0, 1):
        small = [tc.tensor(a[:batch]) for a in (q, k, v)]
        assert_close(fn(*small), attention(torch, *(torch.tensor(a[:batch])
                                                      for a in (q, k, v))))
        assert not _loops(_runners(fn)[0])


def _fast_weights_step(lib, key, value, beta):
    """labml's fast weights attention's first update, from zero fast weights: the backward's
    kernel that makes the batched product's operand also stores value's gradient."""
    weights = key.new_zeros((2, 2, 3, 4))
    existing = lib.einsum('bhvk,bhk->bhv', weights, key[0])
    return lib.einsum('bhv,bhk->bhvk', beta[0] * (value[0] - existing), key[0])


def _stored_beside_the_operand(lib, a, b, x):
    """A product's consumer reads a value that a kernel after the product stores beside
    its root (t, a graph output, is stored by -t's kernel)."""
    product = lib.bmm(a, b)
    t = x * 2
    return t, -t, product + t


@pytest.mark.parametrize("fn, shapes", [
    (_fast_weights_step, [(2, 2, 2, 4), (2, 2, 2, 3), (2, 2, 2, 1)]),
    (_stored_beside_the_operand, [(4, 3, 5), (4, 5, 2), (4, 3, 2)])])
def test_kernels_move_to_a_product_only_after_every_value_they_read(fn, shapes):
    """A kernel moved next to a batched product must still come after the kernel that
    stores what it reads (Group.stores), and before those that read its stores; the fast
    weights' value gradient was read before it was written."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    results = {}
    for lib in (torch, tc):
        args = [lib.tensor(a, requires_grad=True) for a in arrays]
        run = tc.compile(lambda *a: fn(tc, *a)) if lib is tc else (lambda *a: fn(torch, *a))
        outs = run(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = sum((o * lib.arange(o.numel()).reshape(o.shape)).sum() for o in outs)
        total.backward()
        results[lib] = list(outs) + [a.grad for a in args]
    for k, (got, want) in enumerate(zip(results[tc], results[torch])):
        assert_close(got, want, rtol=1e-4, atol=1e-4, what=f"result {k}")
