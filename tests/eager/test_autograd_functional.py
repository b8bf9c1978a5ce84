"""torch.autograd's functional surface against torch: autograd.functional (jacobian,
hessian, vjp, jvp, hvp, vhp), gradcheck / gradgradcheck, Variable, grad()/backward()
keyword arguments, anomaly detection and the grad_mode module."""
import warnings

import numpy as np
import pytest
import torch
import torch.autograd.functional as TF

import tracecomp as tc
import tracecomp.autograd.functional as AF

from helpers import assert_close, to_torch

LIBS = {"tc": (tc, AF), "torch": (torch, TF)}


def _inputs(lib, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(lib.tensor(rng.standard_normal(s).astype(np.float64)) for s in shapes)


def _compare(got, want, what="result"):
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            _compare(g, w, f"{what}[{k}]")
    else:
        assert_close(got, want, rtol=1e-6, atol=1e-8, what=what)


def both(fn_of_lib):
    return fn_of_lib("tc"), fn_of_lib("torch")


def _lib(name):
    return LIBS[name][0]


def _f_single(lib):
    return lambda x: (x.sin() * x.exp()).reshape(2, 3)


def _f_multi(lib):
    return lambda x, y: ((x * y).sum(), lib.tanh(x @ y.reshape(3, 1)), x * 0 + 1)


def _scalar(lib):
    return lambda x, y: (x.pow(3) * y.sum() + (x * x).sum() * y.sin().sum()).sum()


@pytest.mark.parametrize("create_graph", [False, True])
def test_jacobian(create_graph):
    def run(name):
        lib, F = LIBS[name]
        (x,) = _inputs(lib, (6,))
        x2, y2 = _inputs(lib, (2, 3), (3,), seed=1)
        single = F.jacobian(_f_single(lib), x, create_graph=create_graph)
        multi = F.jacobian(_f_multi(lib), (x2, y2), create_graph=create_graph)
        return single, multi
    got, want = both(run)
    _compare(got, want)


def test_hessian_single_and_tuple_inputs():
    def run(name):
        lib, F = LIBS[name]
        x, y = _inputs(lib, (2,), (3,))
        return (F.hessian(lambda t: (t.pow(3) * t.sin()).sum(), x),
                F.hessian(_scalar(lib), (x, y)))
    got, want = both(run)
    _compare(got, want)


@pytest.mark.parametrize("fn", ["vjp", "jvp", "vhp", "hvp"])
def test_products(fn):
    def run(name):
        lib, F = LIBS[name]
        x, y = _inputs(lib, (2,), (3,))
        vx, vy = _inputs(lib, (2,), (3,), seed=5)
        if fn == "vjp":
            x2, y2 = _inputs(lib, (2, 3), (3,), seed=2)
            v = _inputs(lib, (), (2, 1), (2, 3), seed=3)
            out = F.vjp(_f_multi(lib), (x2, y2), v)
            single = F.vjp(lambda t: (t * t).sum(), x)
            return out, single
        if fn == "jvp":
            return (F.jvp(lambda a, b: (a.sin() * b[:2], b.exp()), (x, y), (vx, vy)),
                    F.jvp(lambda t: t * 3, lib.tensor([2.0], dtype=lib.float64)))
        return getattr(F, fn)(_scalar(lib), (x, y), (vx, vy))
    got, want = both(run)
    _compare(got, want)


def test_create_graph_results_are_differentiable():
    for lib, F in LIBS.values():
        x = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        jac = F.jacobian(lambda t: t.pow(3), x, create_graph=True)
        (g,) = lib.autograd.grad(jac.sum(), x)
        assert jac.requires_grad
        assert np.allclose(np.asarray(g.detach()), 6 * np.asarray(x.detach()))
        plain = F.jacobian(lambda t: t.pow(3), x)
        assert not plain.requires_grad


def test_strict_mode_and_argument_errors_match_torch():
    cases = [
        lambda lib, F: F.jacobian(lambda a, b: a * 2, _inputs(lib, (2,), (2,)), strict=True),
        lambda lib, F: F.vjp(lambda a: a.detach() * 2, _inputs(lib, (2,)), strict=True),
        lambda lib, F: F.vjp(lambda a: a * 2, _inputs(lib, (2,))),
        lambda lib, F: F.jacobian(lambda a: a, [1.0, 2.0]),
        lambda lib, F: F.jacobian(lambda a: 3, _inputs(lib, (2,))),
        lambda lib, F: F.vjp(lambda a: a * 2, _inputs(lib, (2,)), lib.ones(3)),
        lambda lib, F: F.hessian(lambda a: a * 2, _inputs(lib, (2,))),
        lambda lib, F: F.jvp(lambda a, b: a * b, _inputs(lib, (2,), (2,)), (lib.ones(2),)),
    ]
    for case in cases:
        outcome = {}
        for name, (lib, F) in LIBS.items():
            with pytest.raises((RuntimeError, TypeError)) as info:
                case(lib, F)
            outcome[name] = (type(info.value).__mro__[0].__name__,
                             str(info.value).replace("torch.Size", "Size")
                             .replace("tracecomp.Size", "Size").replace("tracecomp.", "torch."))
        assert outcome["tc"] == outcome["torch"]


def _two_in_two_out(lib):
    return lambda a, b: ((a * b).sin(), (a ** 2).sum() * b.exp())


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_vectorized_and_forward_mode_jacobians_match_torch(strategy):
    def run(name):
        lib, F = LIBS[name]
        a, b = _inputs(lib, (3,), (3,))
        return (F.jacobian(_two_in_two_out(lib), (a, b), vectorize=True, strategy=strategy),
                F.jacobian(lambda t: t.tanh() * 2, a, vectorize=True, strategy=strategy),
                F.hessian(lambda t, u: (t.sin() * u).sum(), (a, b), vectorize=True,
                          outer_jacobian_strategy=strategy))
    got, want = both(run)
    # torch's forward-mode Hessian comes out requiring grad (its inputs are made to, inside
    # vmap); ours does not: compare the values
    _compare(got, torch.utils._pytree.tree_map(lambda t: t.detach(), want))
    assert not got[1].requires_grad


VECTORIZE_ERRORS = [
    ("strict with vectorize", dict(vectorize=True, strict=True), RuntimeError,
     "`strict=True` and `vectorized=True` are not supported together"),
    ("forward-mode without vectorize", dict(strategy="forward-mode"), NotImplementedError,
     "only implemented for `vectorize=True`"),
    ("forward-mode with create_graph", dict(strategy="forward-mode", vectorize=True,
                                            create_graph=True), NotImplementedError,
     '`create_graph=True` and `strategy="forward-mode"` are not supported together'),
    ("forward-mode strict", dict(strategy="forward-mode", vectorize=True, strict=True),
     RuntimeError, '`strict=True` and `strategy="forward-mode"` are not supported together'),
    ("unknown strategy", dict(strategy="sideways"), AssertionError,
     'Expected strategy to be either "forward-mode" or "reverse-mode". Hint:'),
]


@pytest.mark.parametrize("case", VECTORIZE_ERRORS, ids=[c[0] for c in VECTORIZE_ERRORS])
def test_vectorize_and_strategy_errors_match_torch(case):
    _, kwargs, kind, text = case
    for name in LIBS:
        lib, F = LIBS[name]
        (x,) = _inputs(lib, (2,))
        with pytest.raises(kind) as info:
            F.jacobian(lambda t: t * 2, x, **kwargs)
        assert text in str(info.value), f"{name}: {info.value}"


# --- gradcheck --------------------------------------------------------------------------------
class _WrongBackward(tc.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x                 # should be 2 * x * g


def test_gradcheck_passes_and_fails_like_torch():
    x = tc.tensor([0.5, -1.2, 2.0], dtype=tc.float64, requires_grad=True)
    y = tc.tensor([[0.3, 0.1, -0.7]], dtype=tc.float64, requires_grad=True)
    good = lambda a, b: (a.sin() * b, (a * a).sum())  # noqa: E731
    assert tc.autograd.gradcheck(good, (x, y))
    assert tc.autograd.gradcheck(good, (x, y), fast_mode=True)
    assert tc.autograd.gradgradcheck(good, (x, y))
    with pytest.raises(RuntimeError, match="Jacobian mismatch for output 0 with respect to "
                                           "input 0") as info:
        tc.autograd.gradcheck(_WrongBackward.apply, (x,))
    assert "analytical=" in str(info.value) and "numerical=" in str(info.value)
    assert tc.autograd.gradcheck(_WrongBackward.apply, (x,), raise_exception=False) is False
    assert tc.autograd.gradcheck(_WrongBackward.apply, (x,), fast_mode=True,
                                 raise_exception=False) is False
    tx = to_torch(x)

    class TWrong(torch.autograd.Function):
        forward = staticmethod(lambda ctx, t: (ctx.save_for_backward(t), t * t)[1])
        backward = staticmethod(lambda ctx, g: g * ctx.saved_tensors[0])
    assert torch.autograd.gradcheck(TWrong.apply, (tx,), raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class Cube(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x.detach() ** 2 * g      # right value, but its history is cut

    x = tc.tensor([0.5, -1.2], dtype=tc.float64, requires_grad=True)
    assert tc.autograd.gradcheck(Cube.apply, (x,))
    assert not tc.autograd.gradgradcheck(Cube.apply, (x,), raise_exception=False)


def test_gradcheck_warns_on_float32_and_refuses_unsupported_checks():
    x = tc.tensor([0.5], requires_grad=True)
    with pytest.warns(UserWarning, match="not a double precision"):
        tc.autograd.gradcheck(lambda t: t * 2, (x,), atol=1e-2, rtol=1e-2)
    with pytest.raises(NotImplementedError, match="check_batched_grad"):
        tc.autograd.gradcheck(lambda t: t, (x,), check_batched_grad=True)


# --- Variable, grad() and backward() keywords, anomaly mode, grad_mode -------------------------
def test_variable_is_the_tensor_type():
    from tracecomp.autograd import Variable
    x = tc.tensor([1.0, 2.0])
    v = Variable(x, requires_grad=True)
    assert v is not x and v.requires_grad and not x.requires_grad and v.is_leaf
    assert isinstance(x, Variable) and not isinstance(3, Variable)
    assert Variable().shape == (0,)
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        Variable([1.0])
    with pytest.warns(UserWarning, match="volatile was removed"):
        Variable(x, volatile=True)
    (v * v).sum().backward()
    assert v.grad.tolist() == [2.0, 4.0]


def test_grad_keywords_match_torch():
    for lib in (tc, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0], requires_grad=True)
        ga, gb = lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True)
        assert ga.tolist() == [2.0, 2.0] and gb.tolist() == [0.0, 0.0]
        with pytest.raises(ValueError, match="Expected allow_unused to be True"):
            lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True,
                              allow_unused=False)
        with pytest.raises(RuntimeError, match="The differentiated Tensor at index 1 appears "
                                               "to not have been used"):
            lib.autograd.grad((a * 2).sum(), [a, b])
        with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
            lib.autograd.grad((a * 2).sum(), [a], only_inputs=False)
        lib.autograd.backward([(a * a).sum(), (b * 3).sum()], grad_variables=None, inputs=[a])
        assert a.grad.tolist() == [2.0, 4.0] and b.grad is None
    a = tc.tensor([1.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="is_grads_batched"):
        tc.autograd.grad(a * 2, a, tc.ones(3, 1), is_grads_batched=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_detect_anomaly_finds_nan_gradients():
    x = tc.tensor([-1.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with tc.autograd.detect_anomaly():
            assert tc.autograd.is_anomaly_enabled()
            with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan "
                                                   "values in its 0th output."):
                x.sqrt().sum().backward()
    assert not tc.autograd.is_anomaly_enabled()
    x.sqrt().sum().backward()               # off again: NaN gradients pass, as in torch
    assert np.isnan(x.grad.numpy()[0])
    with tc.autograd.set_detect_anomaly(True, check_nan=False):
        assert tc.autograd.is_anomaly_enabled() and not tc.autograd.is_anomaly_check_nan_enabled()
        x.sqrt().sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tc.autograd.set_detect_anomaly(False)


def test_grad_mode_module_and_missing_names():
    from tracecomp.autograd.grad_mode import no_grad, set_grad_enabled
    x = tc.tensor([1.0], requires_grad=True)
    with no_grad():
        assert not (x * 2).requires_grad
    with set_grad_enabled(False):
        assert not tc.autograd.grad_mode.is_grad_enabled()
    assert tc.autograd.no_grad is tc.no_grad
    with pytest.raises(NotImplementedError, match="torch.autograd.profiler_util is not "
                                                  "supported"):
        tc.autograd.profiler_util  # noqa: B018
    assert not hasattr(tc.autograd, "no_such_name")
