"""Valid code that once failed inside the compiler compiles and gives torch's numbers.

- `autograd.grad` inside a compiled function (it raised an internal AttributeError):
  first and second order, create_graph False and True, non-leaf inputs, allow_unused,
  a MAML-style inner step whose result is differentiated by the compiled backward, and
  autograd.functional built on it;
- pooling and reductions over an empty batch (compiled max-pool raised from argmax's shape
  rule);
- class-index targets of other integer dtypes (an llvmlite type error leaked): torch's
  dtype error where torch refuses them, torch's numbers where it takes them;
- binary_cross_entropy / nn.BCELoss, forward and backward.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

RNG = np.random.default_rng(0)
X3 = np.array([0.3, -0.7, 1.2], dtype=np.float32)


def _both(fn, *arrays):
    """fn(lib, *tensors) under torch and compiled tracecomp."""
    want = fn(torch, *[torch.tensor(a) for a in arrays])
    got = tc.compile(lambda *t: fn(tc, *t))(*[tc.tensor(a) for a in arrays])
    return got, want


# --- autograd.grad inside compiled code ---------------------------------------------------
def _square_grad(lib, a):
    a.requires_grad_()
    y = (a * a).sum()
    return lib.autograd.grad(y, a)[0]


def _second_order(lib, a):
    a.requires_grad_()
    y = (a.sin() * a).sum()
    g = lib.autograd.grad(y, a, create_graph=True)[0]
    return lib.autograd.grad((g * g).sum(), a)[0]


def _through_hidden(lib, a):
    a.requires_grad_()
    h = a.exp() * 2
    y = (h * a).sum()
    gh, ga = lib.autograd.grad(y, [h, a])
    return gh + ga


def _grad_outputs(lib, a):
    a.requires_grad_()
    y = a.tanh() * a
    return lib.autograd.grad(y, a, grad_outputs=lib.ones(3) * 0.5)[0]


def _unused(lib, a):
    a.requires_grad_()
    b = a.detach().clone().requires_grad_()
    y = (a * 3).sum()
    ga, gb = lib.autograd.grad(y, [a, b], allow_unused=True, materialize_grads=True)
    return ga + gb


AUTOGRAD = [_square_grad, _second_order, _through_hidden, _grad_outputs, _unused]


@pytest.mark.parametrize("fn", AUTOGRAD, ids=lambda f: f.__name__)
def test_autograd_grad_compiled(fn):
    got, want = _both(fn, X3)
    assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not got.requires_grad       # create_graph=False: a constant to later gradients
    eager = fn(tc, tc.tensor(X3))
    assert_close(eager, want, rtol=1e-5, atol=1e-6, what="eager")


def test_autograd_grad_unused_input_is_an_error_as_eager():
    def f(lib, a):
        a.requires_grad_()
        b = lib.ones(3, requires_grad=True)
        return lib.autograd.grad((a * 2).sum(), [a, b])[0]
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        f(torch, torch.tensor(X3))
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        tc.compile(lambda a: f(tc, a))(tc.tensor(X3))


def _inner_step(lib, model, x, y, create_graph):
    loss = ((model(x) - y) ** 2).mean()
    gw, gb = lib.autograd.grad(loss, [model.weight, model.bias], create_graph=create_graph)
    out = lib.nn.functional.linear(x, model.weight - 0.1 * gw, model.bias - 0.1 * gb)
    return ((out - y) ** 2).mean()


@pytest.mark.parametrize("create_graph", [False, True])
def test_inner_step_gradient_reaches_parameters(create_graph):
    """A gradient penalty / MAML step: grad inside, then backward outside the compiled call."""
    w = RNG.standard_normal((3, 4)).astype(np.float32) * 0.5
    b = RNG.standard_normal(3).astype(np.float32) * 0.1
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    y = RNG.standard_normal((5, 3)).astype(np.float32)
    tm = torch.nn.Linear(4, 3)
    tm.weight.data, tm.bias.data = torch.tensor(w), torch.tensor(b)
    want = _inner_step(torch, tm, torch.tensor(x), torch.tensor(y), create_graph)
    want.backward()
    cm = tc.nn.Linear(4, 3)
    cm.weight.data, cm.bias.data = tc.tensor(w), tc.tensor(b)
    step = tc.compile(lambda x_, y_: _inner_step(tc, cm, x_, y_, create_graph))
    for _ in range(2):          # the second call runs the cached artifact
        cm.weight.grad = cm.bias.grad = None
        got = step(tc.tensor(x), tc.tensor(y))
        got.backward()
        assert_close(got, want, rtol=1e-5)
        assert_close(cm.weight.grad, tm.weight.grad, rtol=1e-4, atol=1e-6, what="weight.grad")
        assert_close(cm.bias.grad, tm.bias.grad, rtol=1e-4, atol=1e-6, what="bias.grad")


def test_backward_with_inputs_compiled_fills_only_those_grads():
    """`loss.backward(inputs=[w])` in a compiled step: only w.grad is set, as in torch."""
    w = RNG.standard_normal((2, 3)).astype(np.float32)
    b = RNG.standard_normal(2).astype(np.float32)
    x = RNG.standard_normal((4, 3)).astype(np.float32)

    def step(lib, model, x_):
        loss = model(x_).pow(2).sum()
        loss.backward(inputs=[model.weight])
        return loss
    tm = torch.nn.Linear(3, 2)
    tm.weight.data, tm.bias.data = torch.tensor(w), torch.tensor(b)
    step(torch, tm, torch.tensor(x))
    cm = tc.nn.Linear(3, 2)
    cm.weight.data, cm.bias.data = tc.tensor(w), tc.tensor(b)
    compiled = tc.compile(lambda x_: step(tc, cm, x_))
    for k in (1, 2):            # the second call accumulates, as torch's would
        compiled(tc.tensor(x))
        assert cm.bias.grad is None
        assert_close(cm.weight.grad, tm.weight.grad * k, rtol=1e-5, what=f"call {k}")


FUNCTIONAL = {
    "jacobian": lambda lib, a: lib.autograd.functional.jacobian(lambda z: z.sin() * z, a),
    "hessian": lambda lib, a: lib.autograd.functional.hessian(lambda z: (z.sin() * z).sum(), a),
    "vjp": lambda lib, a: lib.autograd.functional.vjp(lambda z: z.exp() * z, a, lib.ones(3))[1],
    "hvp": lambda lib, a: lib.autograd.functional.hvp(lambda z: (z.exp() * z).sum(), a,
                                                      lib.ones(3))[1],
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_autograd_functional_compiled(name):
    got, want = _both(FUNCTIONAL[name], X3)
    assert_close(got, want, rtol=1e-5, atol=1e-6)


# --- empty batches ----------------------------------------------------------------------
def _pool_cases():
    F = "nn.functional"
    return [
        ("max_pool2d", (0, 1, 4, 4), lambda m, a: _f(m, F).max_pool2d(a, 2)),
        ("max_pool2d_indices", (0, 1, 4, 4),
         lambda m, a: _f(m, F).max_pool2d(a, 2, return_indices=True)[1]),
        ("avg_pool2d", (0, 1, 4, 4), lambda m, a: _f(m, F).avg_pool2d(a, 2)),
        ("avg_pool2d_padded", (0, 1, 4, 4),
         lambda m, a: _f(m, F).avg_pool2d(a, 3, padding=1, count_include_pad=False)),
        ("adaptive_avg_pool2d", (0, 1, 4, 4), lambda m, a: _f(m, F).adaptive_avg_pool2d(a, 3)),
        ("adaptive_max_pool2d", (0, 1, 4, 4), lambda m, a: _f(m, F).adaptive_max_pool2d(a, 3)),
        ("max_pool1d", (0, 1, 4), lambda m, a: _f(m, F).max_pool1d(a, 2)),
        ("avg_pool1d", (0, 1, 4), lambda m, a: _f(m, F).avg_pool1d(a, 2)),
        ("adaptive_max_pool1d", (0, 1, 4), lambda m, a: _f(m, F).adaptive_max_pool1d(a, 3)),
        ("softmax", (0, 5), lambda m, a: _f(m, F).softmax(a, -1)),
        ("log_softmax", (0, 5), lambda m, a: _f(m, F).log_softmax(a, -1)),
        ("layer_norm", (0, 5), lambda m, a: _f(m, F).layer_norm(a, (5,))),
        ("batch_norm_eval", (0, 5), lambda m, a: _f(m, F).batch_norm(
            a, m.zeros(5), m.ones(5), training=False)),
        ("max_dim", (0, 5), lambda m, a: a.max(1)[0]),
        ("argmax_dim", (0, 5), lambda m, a: a.argmax(1)),
        ("amax_dim", (0, 5), lambda m, a: a.amax(1)),
        ("logsumexp", (0, 5), lambda m, a: m.logsumexp(a, 1)),
        ("mean_all", (0, 5), lambda m, a: a.mean()),
        ("cross_entropy_mean", (0, 5), lambda m, a: _f(m, F).cross_entropy(
            a, m.zeros(0, dtype=m.int64))),
        ("cross_entropy_sum", (0, 5), lambda m, a: _f(m, F).cross_entropy(
            a, m.zeros(0, dtype=m.int64), reduction="sum")),
        ("nll_none", (0, 5), lambda m, a: _f(m, F).nll_loss(
            a, m.zeros(0, dtype=m.int64), reduction="none")),
    ]


def _f(lib, path):
    for part in path.split("."):
        lib = getattr(lib, part)
    return lib


@pytest.mark.parametrize("shape,fn", [pytest.param(s, f, id=n) for n, s, f in _pool_cases()])
def test_empty_batch_eager_and_compiled_match_torch(shape, fn):
    a = np.ones(shape, dtype=np.float32)
    want = fn(torch, torch.tensor(a))
    assert_close(fn(tc, tc.tensor(a)), want, what="eager")
    got, _ = _both(fn, a)
    assert_close(got, want, what="compiled")


def test_empty_batch_backward_compiled():
    a = tc.ones(0, 1, 4, 4, requires_grad=True)
    y = tc.compile(lambda x: tc.nn.functional.max_pool2d(x, 2).sum())(a)
    y.backward()
    assert tuple(a.grad.shape) == (0, 1, 4, 4) and float(y) == 0.0


# --- integer dtypes of class indices and gather indices -------------------------------------
INDEX_OPS = {
    "cross_entropy": lambda m, a, t: m.nn.functional.cross_entropy(a, t),
    "cross_entropy_smoothing": lambda m, a, t: m.nn.functional.cross_entropy(
        a, t, label_smoothing=0.1, ignore_index=1),
    "nll_loss": lambda m, a, t: m.nn.functional.nll_loss(a.log_softmax(1), t),
    "embedding": lambda m, a, t: m.nn.functional.embedding(t, a),
    "gather": lambda m, a, t: a.gather(1, t.reshape(3, 1)),
    "index_select": lambda m, a, t: a.index_select(1, t),
    "getitem": lambda m, a, t: a[t],
    "scatter_add": lambda m, a, t: m.zeros(3, 4).scatter_add(1, t.reshape(3, 1), a[:, :1]),
    "index_add": lambda m, a, t: m.zeros(3, 4).index_add(0, t, a),
}


@pytest.mark.parametrize("dtype", ["int32", "uint8", "int64"])
@pytest.mark.parametrize("op", sorted(INDEX_OPS))
def test_index_dtypes_compiled_match_torch(op, dtype):
    """Where torch takes the index dtype, compiled gives its numbers; where it refuses it,
    the same class of error (never an llvmlite error)."""
    fn = INDEX_OPS[op]
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    t = np.array([0, 1, 2], dtype=dtype)
    if op == "getitem" and dtype == "uint8":
        pytest.skip("a uint8 index is a boolean mask: data-dependent shape, not compiled")
    try:
        want = fn(torch, torch.tensor(a), torch.tensor(t))
    except RuntimeError as refused:
        with pytest.raises(RuntimeError) as info:
            _both(fn, a, t)
        assert "Operands must be" not in str(info.value) and "LLVM" not in str(info.value)
        assert str(refused).split(",")[0] in str(info.value)
        return
    got, want = _both(fn, a, t)
    assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_uint8_class_targets_past_127_compiled():
    x = RNG.standard_normal((4, 256)).astype(np.float32)
    t = np.array([200, 5, 255, 128], dtype=np.uint8)
    got, want = _both(lambda m, a, b: m.nn.functional.cross_entropy(a, b), x, t)
    assert_close(got, want, rtol=1e-5)


# --- binary cross entropy -------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("module", [False, True])
def test_binary_cross_entropy_compiled_forward_backward(reduction, weighted, module):
    p = RNG.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    p[0, 0], p[0, 1] = 0.0, 1.0             # torch clamps the logs at -100
    t = RNG.uniform(0, 1, (4, 3)).astype(np.float32)
    w = RNG.uniform(0.5, 2, (4, 3)).astype(np.float32) if weighted else None

    def loss(lib, a, b):
        weight = None if w is None else lib.tensor(w)
        if module:
            return lib.nn.BCELoss(weight=weight, reduction=reduction)(a, b).sum()
        return lib.nn.functional.binary_cross_entropy(a, b, weight=weight,
                                                      reduction=reduction).sum()
    ta = torch.tensor(p, requires_grad=True)
    want = loss(torch, ta, torch.tensor(t))
    want.backward()
    ca = tc.tensor(p, requires_grad=True)
    got = tc.compile(lambda a, b: loss(tc, a, b))(ca, tc.tensor(t))
    got.backward()
    assert_close(got, want, rtol=1e-5)
    assert_close(ca.grad, ta.grad, rtol=1e-4, atol=1e-5, what="grad")
