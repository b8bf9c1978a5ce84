"""A training step that reads its batch from names of its own (a global, a closure
variable) rebound every step: one compiled graph fed from those names (compiler/
bound_tensors.py), through the whole step's fast path (state_call.py), against torch."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.compiler.fast_call import FastCall
from tracecomp.compiler.state_call import StateCall

BATCHES = None      # rebound by the loops below, as a script's loop variable is
X = Y = None


def _data(steps, batch=8):
    rng = np.random.default_rng(3)
    return [(rng.standard_normal((batch, 6)).astype(np.float32),
             rng.integers(0, 3, batch)) for _ in range(steps)]


def _model(lib):
    """The same weights in either library."""
    model = lib.nn.Sequential(lib.nn.Linear(6, 5), lib.nn.ReLU(), lib.nn.Linear(5, 3))
    rng = np.random.default_rng(4)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    return model


def _train_on_globals(lib, compile_fn, data):
    """The loop as a script writes it: `X, Y` globals, the step reads them."""
    global X, Y
    model = _model(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(X), Y)
        loss.backward()
        opt.step()
        return loss
    step = compile_fn(step)
    losses = []
    try:
        for x, y in data:
            X, Y = lib.tensor(x), lib.tensor(y)
            losses.append(step().item())
    finally:
        X = Y = None
    return losses, [p.detach().numpy().copy() for p in model.parameters()], step


def test_a_step_reading_rebound_globals_runs_one_graph_on_the_fast_path():
    data = _data(6)
    got, params, step = _train_on_globals(tc, tc.compile, data)
    want, ref, _ = _train_on_globals(torch, lambda f: f, data)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for p, q in zip(params, ref):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    assert step.compiles == 2      # the first step, then with the gradients as inputs
    assert isinstance(step._fast, StateCall)


def test_a_batch_of_another_size_compiles_again_and_names_the_global():
    data = _data(3) + _data(2, batch=5)
    with pytest.warns(UserWarning, match=r"global\.X"):
        _, _, step = _train_on_globals(
            tc, lambda f: tc.compile(f, recompile_limit=2), data)
    assert step.compiles == 3


def test_a_closure_counter_the_step_updates_in_place_is_written_back():
    count = tc.zeros(())
    total = tc.zeros(3)
    model = _model(tc)

    def step(x):
        count.add_(1)
        total.add_(model(x).detach().sum(0))
        return count * 1

    compiled = tc.compile(step)
    xs = [tc.tensor(x) for x, _ in _data(4)]
    with tc.no_grad():
        out = [compiled(x).item() for x in xs]
        want = sum(model(x).sum(0) for x in xs)
    assert out == [1.0, 2.0, 3.0, 4.0] and count.item() == 4.0
    np.testing.assert_allclose(total.numpy(), want.numpy(), rtol=1e-5)
    assert compiled.compiles == 1


@pytest.mark.parametrize("rebind", ["argument", "parameter"])
def test_a_global_rebound_to_a_tensor_the_step_reads_otherwise_is_read_once(rebind):
    """Rebound to the call's argument or to a module's buffer, the name holds a tensor the
    graph reads already: the fast path misses and the general call lists it once."""
    global BATCHES
    model = tc.nn.Linear(3, 3)
    model.register_buffer("shift", tc.ones(3))

    def f(x):
        return model(x) + BATCHES

    compiled = tc.compile(f)
    x = tc.randn(2, 3)
    with tc.no_grad():
        try:
            for _ in range(3):
                BATCHES = tc.randn(3)
                np.testing.assert_allclose(compiled(x).numpy(), f(x).numpy(), rtol=1e-6)
            BATCHES = x if rebind == "argument" else model.shift
            np.testing.assert_allclose(compiled(x).numpy(), f(x).numpy(), rtol=1e-6)
        finally:
            BATCHES = None


def test_a_plain_function_of_a_global_runs_on_the_fast_path_and_follows_the_name():
    global BATCHES
    compiled = tc.compile(lambda x: x * BATCHES + 1)
    x = tc.randn(4)
    try:
        for k in range(3):
            BATCHES = tc.full((4,), float(k))
            np.testing.assert_allclose(compiled(x).numpy(), x.numpy() * k + 1, rtol=1e-6)
        assert isinstance(compiled._fast, FastCall) and compiled.compiles == 1
        BATCHES.fill_(5.0)          # refilled in place
        np.testing.assert_allclose(compiled(x).numpy(), x.numpy() * 5 + 1, rtol=1e-6)
        BATCHES = x                 # the argument itself: one input, the general call
        np.testing.assert_allclose(compiled(x).numpy(), (x * x + 1).numpy(), rtol=1e-6)
        BATCHES = tc.ones(4, dtype=tc.float64)      # another dtype: compiled again
        np.testing.assert_allclose(compiled(x).numpy(), x.numpy() + 1, rtol=1e-6)
        assert compiled.compiles == 3
    finally:
        BATCHES = None


def _char_mlp_losses(lib, compile_fn, steps=6):
    """A character MLP as lecture code writes it (karpathy's makemore): the dataset and
    the parameters are globals of the script, the step updates `p.data` by hand."""
    rng = np.random.default_rng(5)
    n, vocab = 200, 11
    xs = lib.tensor(rng.integers(0, vocab, (n, 3)))
    ys = lib.tensor(rng.integers(0, vocab, n))
    emb = lib.tensor(rng.standard_normal((vocab, 4)).astype(np.float32), requires_grad=True)
    w1 = lib.tensor(rng.standard_normal((12, 16)).astype(np.float32) * 0.3,
                    requires_grad=True)
    w2 = lib.tensor(rng.standard_normal((16, vocab)).astype(np.float32) * 0.1,
                    requires_grad=True)
    params = [emb, w1, w2]

    def step(ix):
        h = lib.tanh(emb[xs[ix]].view(-1, 12) @ w1)
        loss = lib.nn.functional.cross_entropy(h @ w2, ys[ix])
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data += -0.5 * p.grad
        return loss
    step = compile_fn(step)
    batches = [rng.integers(0, n, 16) for _ in range(steps)]
    losses = [step(lib.tensor(ix)).item() for ix in batches]
    return losses, [p.detach().numpy().copy() for p in params], step


def test_a_lecture_step_over_global_parameters_and_data_matches_torch():
    got, params, step = _char_mlp_losses(tc, tc.compile)
    want, ref, _ = _char_mlp_losses(torch, lambda f: f)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for p, q in zip(params, ref):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    assert step.compiles == 2      # then with the parameters' .grad as inputs


def _plain_object_steps(lib, compile_fn, steps=4):
    """makemore part 5: the model a plain object holding its layers in a list, the update
    over a global list of the same tensors (reached only through those two)."""
    rng = np.random.default_rng(1)

    class Linear:
        def __init__(self):
            self.weight = lib.tensor(rng.standard_normal((3, 2)).astype(np.float32))

        def __call__(self, x):
            return x @ self.weight

    class Sequential:
        def __init__(self, layers):
            self.layers = layers

        def __call__(self, x):
            return self.layers[0](x).tanh()

    model = Sequential([Linear()])
    params = [model.layers[0].weight]
    params[0].requires_grad = True

    def step(x):
        loss = model(x).pow(2).sum()
        for p in params:
            p.grad = None
        loss.backward()
        with lib.no_grad():
            for p in params:
                p.sub_(0.1 * p.grad)
        return loss
    step = compile_fn(step)
    xs = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(steps)]
    return [step(lib.tensor(x)).item() for x in xs], params[0].detach().numpy().copy()


def test_tensors_in_a_global_list_are_inputs_the_step_updates():
    """(it was a TraceError: 'updated a tensor in place that is not one of its inputs')"""
    got, weight = _plain_object_steps(tc, tc.compile)
    want, ref = _plain_object_steps(torch, lambda f: f)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(weight, ref, rtol=1e-5, atol=1e-6)


LOSSES = []


def test_a_list_the_step_appends_its_losses_to_is_no_input():
    """Only parameters are lifted from a list: the tensors a step appends to a global list
    (losses.append(loss.detach()), or with history) stay out of the signature, so the
    growing list compiles nothing again."""
    model = tc.nn.Linear(4, 1)
    opt = tc.optim.SGD(model.parameters(), lr=0.1)

    def step(x, keep_history):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        LOSSES.append(loss if keep_history else loss.detach())
        return loss
    for keep_history in (False, True):
        LOSSES.clear()
        compiled = tc.compile(step)
        for k in range(6):
            compiled(tc.full((3, 4), 0.1 * k), keep_history)
        assert compiled.compiles <= 2 and len(LOSSES) == 6
