"""The fast path of a compiled call (compiler/fast_call.py): a plain function of tensors
called again as last time skips the general call. Whatever could make the latest call's
artifact wrong (a new shape, dtype or requires_grad, a .grad, grad mode, a module bound
to a global it reads) must take the general call, and every result is eager's."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn


def _same(got, want):
    np.testing.assert_allclose(np.asarray(got.detach().numpy()),
                               np.asarray(want.detach().numpy()), rtol=1e-6)


def test_a_repeated_call_takes_the_fast_path_and_gives_fresh_results():
    f = tc.compile(lambda x, y: x * y + 1)
    x, y = tc.randn(5), tc.randn(5)
    first = f(x, y)
    assert f._fast is not None
    calls = f.compiles
    second = f(x, y)
    assert second is not first and second.numpy() is not first.numpy()
    _same(second, x * y + 1)
    second.add_(100)                    # the caller owns it: the next call is unaffected
    _same(f(x, y), x * y + 1)
    assert f.compiles == calls


CHANGES = {
    "shape": lambda x: (tc.randn(6),),
    "dtype": lambda x: (x.double(),),
    "requires_grad": lambda x: (x.detach().requires_grad_(),),
    "a .grad": lambda x: (_with_grad(x),),
    "two arguments": lambda x: (x, x),
}


def _with_grad(x):
    x = x.detach().requires_grad_()
    x.grad = tc.ones(5)
    return x


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_call_takes_the_general_path(change):
    f = tc.compile(lambda x, *rest: x.exp() * 2)
    x = tc.randn(5)
    f(x), f(x)
    args = CHANGES[change](x)
    got = f(*args)
    _same(got, args[0].exp() * 2)
    if args[0].requires_grad:
        got.sum().backward()            # the general call bridged the backward
        _same(args[0].grad, (2 * args[0].exp()) + (1 if change == "a .grad" else 0))


def test_grad_mode_is_part_of_the_fast_check():
    f = tc.compile(lambda x: x.sin())
    x = tc.randn(4, requires_grad=True)
    with tc.no_grad():
        f(x), f(x)
    out = f(x)                          # grad mode on: a graph to differentiate
    assert out.requires_grad
    out.sum().backward()
    _same(x.grad, x.cos())


SCALE = None


def _scaled(x):
    return x * 2 if SCALE is None else SCALE(x)


def test_a_module_bound_to_a_global_since_is_read():
    global SCALE
    f = tc.compile(_scaled)
    x = tc.randn(3, 3)
    f(x), f(x)
    try:
        SCALE = nn.Linear(3, 3)
        _same(f(x), SCALE(x))
    finally:
        SCALE = None


def test_an_output_that_is_an_input_is_a_copy():
    f = tc.compile(lambda x: x * 1)
    x = tc.randn(4)
    f(x)
    out = f(x)
    assert out.numpy() is not x.numpy()
    out.add_(1)
    assert not np.allclose(out.numpy(), x.numpy())


def test_compiled_functions_and_modules_inside_a_compiled_call_are_inlined():
    inner = tc.compile(lambda x: x * 2)
    layer = nn.Linear(3, 2)
    compiled_layer = tc.compile(layer)
    x = tc.randn(4, 3)
    inner(x), inner(x), compiled_layer(x)       # compiled, and fast, on their own

    @tc.compile
    def outer(y):
        return compiled_layer(inner(y)).sum()

    _same(outer(x), layer(x * 2).sum())
    assert outer.compiles == 1
    assert "matmul" in str(outer.graphs["traced"])     # the layer is in the outer graph


def _quick_runner(f, x):
    """f's fast path runner after two calls, which must be one that quick() serves."""
    f(x), f(x)
    runner = f._fast.runner
    assert runner._plain
    return runner


def test_the_quick_runner_copies_a_strided_input_as_the_general_call_does():
    f = tc.compile(lambda x: x * 2 + 1)
    x = tc.randn(6, 6)
    _quick_runner(f, x)
    xt = x.t()                          # same shape and dtype: the fast path, not contiguous
    _same(f(xt), xt * 2 + 1)
    _same(f(x), x * 2 + 1)


def test_the_quick_runner_runs_a_graph_with_intermediates_in_an_arena():
    f = tc.compile(lambda x: (x.exp().sum(1, keepdim=True) * x).tanh())
    x = tc.randn(16, 40)
    runner = _quick_runner(f, x)
    assert runner._peak > 0             # the row sums live in the arena between the loops
    for _ in range(3):
        x = tc.randn(16, 40)
        _same(f(x), (x.exp().sum(1, keepdim=True) * x).tanh())


def test_a_busy_quick_runner_leaves_the_call_to_the_general_one():
    f = tc.compile(lambda x: x.sin() + x)
    x = tc.randn(9)
    runner = _quick_runner(f, x)
    held = f(x)
    with runner._lock:                  # as while another thread runs it
        got = f(x)
    _same(got, x.sin() + x)
    assert got.numpy() is not held.numpy()
    _same(held, x.sin() + x)


@pytest.mark.parametrize("batch, width", [(32, 40), (128, 300)])
def test_a_models_inference_forward_is_served_by_the_quick_runner(batch, width):
    """The small model is one native function, the larger one a run of the native pool
    (where the machine has threads for it); both call the BLAS on one thread."""
    model = nn.Sequential(nn.Linear(width, 64), nn.ReLU(), nn.Linear(64, 8))
    compiled = tc.compile(model)
    with tc.no_grad():
        x = tc.randn(batch, width)
        compiled(x), compiled(x)
        assert compiled._fast.runner._plain
        for _ in range(3):
            x = tc.randn(batch, width)   # products summed in another order than eager's
            np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-5,
                                       atol=1e-5)


def test_the_quick_runner_keeps_the_buffers_it_is_told_to_keep_later():
    """keep_spares after the runner was built (lowering does so for outputs written back
    into kept tensors) holds for quick() too: a small output's buffer is then reused."""
    f = tc.compile(lambda x: x * 3)
    x = tc.randn(100)                   # 400 bytes: not kept unless told
    runner = _quick_runner(f, x)
    assert not runner._spare[0]
    runner.keep_spares([0])
    first = f(x)                        # its buffer is kept ...
    kept = runner._spare[0][0].ctypes.data      # (its address: a reference would hold it)
    assert first.numpy().ctypes.data == kept
    del first                           # ... free once dropped, and given out again
    second = f(x)
    assert second.numpy().ctypes.data == kept
    _same(second, x * 3)


def test_a_repeated_training_call_takes_the_fast_path_and_bridges_the_backward():
    # loss = f(x, w); loss.backward(), as a step written as a function does: the fast path
    # runs the forward alone and the tape reaches the compiled backward (bridge.py)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((8, 6)).astype(np.float32) for _ in range(3)]
    w0 = rng.standard_normal((6, 4)).astype(np.float32)
    f = tc.compile(lambda x, w: (x @ w).relu().sum())
    w, tw = tc.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    for k, x in enumerate(xs):
        w.grad, tw.grad = None, None
        loss = f(tc.tensor(x), w)
        if k:
            assert f._fast is not None and f._fast.backward is not None
        loss.backward()
        want = (torch.tensor(x) @ tw).relu().sum()
        want.backward()
        np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-6)
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)
    assert f.compiles == 1
    with tc.no_grad():      # grad mode is part of the check: a tensor off the tape
        assert not f(tc.tensor(xs[0]), w.detach().requires_grad_()).requires_grad
