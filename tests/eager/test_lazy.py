"""Lazy modules against torch 2.13: placeholders before the first call (repr, state_dict,
errors), materialization from the first input (shapes, class change, init bounds), an
optimizer built before the first call, loading a checkpoint into a lazy module, and
compiling after the eager first call."""
import copy

import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn

from helpers import assert_close, to_tc

RTOL, ATOL = 1e-5, 1e-6

LAZY = [
    ("linear", lambda n: n.LazyLinear(3), (4, 5)),
    ("linear_nobias", lambda n: n.LazyLinear(3, bias=False), (2, 4, 5)),
    ("conv1d", lambda n: n.LazyConv1d(4, 3, padding=1), (2, 3, 7)),
    ("conv2d", lambda n: n.LazyConv2d(4, 3, stride=2, groups=1), (2, 3, 6, 6)),
    ("conv2d_unbatched", lambda n: n.LazyConv2d(2, 2), (3, 5, 5)),
    ("conv_transpose1d", lambda n: n.LazyConvTranspose1d(2, 3, stride=2), (2, 4, 5)),
    ("conv_transpose2d", lambda n: n.LazyConvTranspose2d(2, 3, stride=2), (2, 4, 3, 3)),
    ("batchnorm1d", lambda n: n.LazyBatchNorm1d(), (6, 4)),
    ("batchnorm2d", lambda n: n.LazyBatchNorm2d(momentum=0.2), (3, 4, 2, 2)),
]


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name,factory,shape", LAZY, ids=[c[0] for c in LAZY])
def test_lazy_module_materializes_like_torch(name, factory, shape):
    tm, m = factory(torch.nn), factory(nn)
    assert repr(m) == repr(tm)
    before, tbefore = m.state_dict(), tm.state_dict()
    assert list(before) == list(tbefore)
    assert [repr(v) for v in before.values()] == [repr(v) for v in tbefore.values()]
    assert m.has_uninitialized_params()
    x = _x(shape)
    tm(torch.tensor(x))
    m(tc.tensor(x))
    assert type(m).__name__ == type(tm).__name__          # LazyLinear became Linear
    assert repr(m) == repr(tm)
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert tuple(v.shape) == tuple(tv.shape), k
    # torch's numbers from here on: the same weights give the same outputs and gradients
    m.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})
    xt = torch.tensor(_x(shape, 1), requires_grad=True)
    xc = to_tc(xt).requires_grad_()
    yt, yc = tm(xt), m(xc)
    assert_close(yc, yt, 1e-4, 1e-5, f"{name} forward")
    yt.sum().backward()
    yc.sum().backward()
    assert_close(xc.grad, xt.grad, 1e-4, 1e-5, f"{name} input grad")
    for (k, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, tp.grad, 1e-4, 1e-5, f"{name} grad of {k}")


def test_lazy_linear_init_follows_the_inferred_fan_in():
    m = nn.LazyLinear(200)
    m(tc.zeros(2, 50))
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    bound = 1 / np.sqrt(50)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound and w.std() > 0.5 * bound / np.sqrt(3)


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_optimizer_built_before_the_first_call_trains_the_materialized_parameters(opt):
    kwargs = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 0.01}
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.LazyLinear(6), torch.nn.ReLU(), torch.nn.LazyLinear(2))
    m = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(2))
    topt = getattr(torch.optim, opt)(tm.parameters(), **kwargs)
    copt = getattr(tc.optim, opt)(m.parameters(), **kwargs)
    x = _x((5, 3))
    tm(torch.tensor(x))
    m(tc.tensor(x))
    m.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})
    assert copt.param_groups[0]["params"][0] is m[0].weight
    for step in range(3):
        xs = _x((5, 3), step)
        for model, o, lib in ((m, copt, tc), (tm, topt, torch)):
            o.zero_grad()
            (model(lib.tensor(xs)) ** 2).mean().backward()
            o.step()
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert_close(v, tv, 1e-4, 1e-5, f"{k} after three {opt} steps")


def test_load_state_dict_materializes_a_lazy_module():
    torch.manual_seed(0)
    src = torch.nn.Linear(4, 3)
    m = nn.LazyLinear(3)
    m.load_state_dict({k: to_tc(v) for k, v in src.state_dict().items()})
    assert not m.has_uninitialized_params() and tuple(m.weight.shape) == (3, 4)
    assert_close(m(tc.ones(2, 4)), src(torch.ones(2, 4)), RTOL, ATOL, "loaded lazy linear")
    assert type(m).__name__ == "Linear"


def test_uninitialized_parameters_refuse_use_with_torch_messages():
    for lib in (torch, tc):
        w = lib.nn.LazyLinear(3).weight
        with pytest.raises(ValueError) as use:
            w + 1
        assert "Attempted to use an uninitialized parameter" in str(use.value)
        with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
            _ = w.shape
    with pytest.raises(RuntimeError) as want:
        torch.nn.LazyConv2d(2, 3)(torch.zeros(2, 3))
    with pytest.raises(RuntimeError) as got:
        nn.LazyConv2d(2, 3)(tc.zeros(2, 3))
    assert str(got.value).split("size:")[0] == str(want.value).split("size:")[0]


def test_dtype_conversion_before_the_first_call():
    m = nn.LazyLinear(2).double()
    assert m.weight.dtype == tc.float64 and m.has_uninitialized_params()
    m(tc.zeros(1, 3, dtype=tc.float64))
    assert m.weight.dtype == tc.float64 and tuple(m.weight.shape) == (2, 3)


def test_compiled_lazy_module_initializes_on_its_first_call():
    """As torch.compile does, the first call of a compiled lazy module runs eagerly (its
    parameters take their shapes), and later calls run compiled with those parameters."""
    m = nn.Sequential(nn.LazyConv2d(3, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    twin = copy.deepcopy(m)
    compiled = tc.compile(m)
    x = tc.tensor(_x((2, 1, 5, 5)))
    first = compiled(x)
    assert tuple(m[0].weight.shape) == (3, 1, 3, 3) and tuple(m[3].weight.shape) == (2, 27)
    assert compiled._compiled.compiles == 0, "the initializing call runs eagerly"
    twin.load_state_dict(m.state_dict())
    assert_close(first, twin(x), RTOL, ATOL, "first (initializing) call")
    assert_close(compiled(x), twin(x), RTOL, ATOL, "compiled after the first call")
    assert compiled._compiled.compiles == 1


def test_compiled_function_with_an_uninitialized_lazy_module_initializes_it_eagerly():
    """A compiled function whose module is still lazy runs its first call eagerly (as
    torch.compile initializes lazy modules), then compiles with the parameters' shapes."""
    m = nn.Sequential(nn.LazyLinear(4), nn.Tanh(), nn.LazyLinear(2))
    twin = copy.deepcopy(m)
    f = tc.compile(lambda x: m(x).sum())
    x = tc.tensor(_x((3, 5)))
    first = f(x)
    assert tuple(m[0].weight.shape) == (4, 5) and f.compiles == 0
    twin.load_state_dict(m.state_dict())
    assert_close(first, twin(x).sum(), RTOL, ATOL, "first (initializing) call")
    assert_close(f(x), twin(x).sum(), RTOL, ATOL, "compiled after the first call")
    assert f.compiles == 1


def test_deepcopy_before_the_first_call_stays_lazy():
    m = nn.LazyBatchNorm2d()
    c = copy.deepcopy(m)
    assert c.has_uninitialized_params() and repr(c.state_dict()["running_var"]) == \
        "<UninitializedBuffer>"
    c(tc.ones(2, 3, 2, 2))
    assert type(c).__name__ == "BatchNorm2d" and tuple(c.running_var.shape) == (3,)
    assert m.has_uninitialized_params()
