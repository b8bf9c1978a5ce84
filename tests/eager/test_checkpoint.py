"""torch.utils.checkpoint (both variants) against torch: values, gradients of inputs and of
closed-over parameters, RNG replay for dropout, warnings and errors, autograd.grad and double
backward (non-reentrant), memory (the inner graph is dropped), compiled code (a plain call);
and torch.utils.hooks.RemovableHandle."""
import gc
import warnings
import weakref
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.utils.checkpoint as torch_ck
import torch.utils.hooks as torch_hooks

import tracecomp as tc
from tracecomp.utils import checkpoint as tc_ck
from tracecomp.utils import hooks as tc_hooks

from helpers import assert_close

_RNG = np.random.default_rng(0)
_X, _W, _B = _RNG.standard_normal((4, 5)), _RNG.standard_normal((5, 5)), _RNG.standard_normal(5)


def _block(lib):
    """A Linear layer with fixed weights and a function closing over it."""
    lin = lib.nn.Linear(5, 5).double()
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(_W))
        lin.bias.copy_(lib.tensor(_B))

    def f(a, scale=2.0):
        h = lin(a).tanh()
        return (h * scale).sin(), h.sum()
    return lin, f


def _run(lib, ck, use_reentrant, x_requires_grad=True, **kwargs):
    lin, f = _block(lib)
    x = lib.tensor(_X, requires_grad=x_requires_grad)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        y, s = ck.checkpoint(f, x, use_reentrant=use_reentrant, **kwargs)
        loss = (y ** 2).sum() + s
        if loss.requires_grad:
            loss.backward()
    return (loss, x.grad, lin.weight.grad, lin.bias.grad), [str(w.message) for w in record]


@pytest.mark.parametrize("use_reentrant,x_requires_grad", [(True, True), (False, True),
                                                             (False, False), (True, False),
                                                             (None, True)])
def test_checkpoint_matches_torch(use_reentrant, x_requires_grad):
    got, got_w = _run(tc, tc_ck, use_reentrant, x_requires_grad)
    want, want_w = _run(torch, torch_ck, use_reentrant, x_requires_grad)
    assert got_w == want_w
    for name, g, w in zip(("loss", "x.grad", "weight.grad", "bias.grad"), got, want):
        assert (g is None) == (w is None), f"{name}: tracecomp={g} | torch={w}"
        if w is not None:
            assert_close(g, w, what=name)


def test_non_reentrant_keyword_arguments():
    got, _ = _run(tc, tc_ck, False, scale=3.0)
    want, _ = _run(torch, torch_ck, False, scale=3.0)
    for g, w in zip(got, want):
        assert_close(g, w)


@pytest.mark.parametrize("kwargs", [{"use_reentrant": True, "scale": 3.0},
                                    {"use_reentrant": True, "debug": True},
                                    {"use_reentrant": True, "context_fn": lambda: (None, None)},
                                    {"use_reentrant": False, "determinism_check": "strict"}])
def test_checkpoint_argument_errors_match_torch(kwargs):
    with pytest.raises(ValueError) as want:
        torch_ck.checkpoint(_block(torch)[1], torch.tensor(_X), **kwargs)
    with pytest.raises(ValueError, match=str(want.value).replace("(", r"\(").replace(
            ")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        tc_ck.checkpoint(_block(tc)[1], tc.tensor(_X), **kwargs)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_dropout_masks_are_replayed(use_reentrant):
    tc.manual_seed(0)
    x = tc.ones(2000, requires_grad=True)
    y = tc_ck.checkpoint(lambda a: tc.nn.functional.dropout(a, 0.5, True) * 3, x,
                         use_reentrant=use_reentrant)
    y.sum().backward()
    kept = y.detach().numpy() != 0
    assert 800 < kept.sum() < 1200
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, 6.0, 0.0))


def test_non_reentrant_grad_double_backward_and_params():
    x = tc.tensor([0.3, 0.7], requires_grad=True)
    w = tc.tensor([1.5, -0.5], requires_grad=True)
    y = tc_ck.checkpoint(lambda a: (a * w).sin(), x, use_reentrant=False).sum()
    gx, gw = tc.autograd.grad(y, [x, w], create_graph=True)
    g2, = tc.autograd.grad(gx.sum(), x)
    xt = torch.tensor([0.3, 0.7], requires_grad=True)
    wt = torch.tensor([1.5, -0.5], requires_grad=True)
    yt = torch_ck.checkpoint(lambda a: (a * wt).sin(), xt, use_reentrant=False).sum()
    gxt, gwt = torch.autograd.grad(yt, [xt, wt], create_graph=True)
    g2t, = torch.autograd.grad(gxt.sum(), xt)
    for g, t in ((gx, gxt), (gw, gwt), (g2, g2t)):
        assert_close(g, t)


def test_non_reentrant_nested_outputs_and_closed_over_non_leaf():
    base = tc.tensor([1.0, 2.0], requires_grad=True)
    hidden = base * 3                               # a non-leaf used inside, not an argument
    x = tc.tensor([0.5, -1.0], requires_grad=True)
    out = tc_ck.checkpoint(lambda a: {"p": [a * hidden], "n": 7}, x, use_reentrant=False)
    assert out["n"] == 7 and isinstance(out["p"], list)
    out["p"][0].sum().backward()
    assert base.grad.tolist() == [1.5, -3.0] and x.grad.tolist() == [3.0, 6.0]
    same, made = tc_ck.checkpoint(lambda a: (a, hidden, a.exp()), x, use_reentrant=False)[::2]
    assert same is x and made.grad_fn is not None   # an argument comes back as it is


def test_non_reentrant_drops_the_inner_graph():
    x = tc.randn(3, 4, requires_grad=True)
    inner = []

    def f(a):
        h = a.exp()
        inner.append(weakref.ref(h._node))
        return h.sin()
    y = tc_ck.checkpoint(f, x, use_reentrant=False)
    gc.collect()
    assert inner[0]() is None                       # nothing of f's graph is kept
    y.sum().backward()
    e = np.exp(x.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), np.cos(e) * e, rtol=1e-5)


def test_checkpoint_is_a_plain_call_in_compiled_code():
    tc.manual_seed(0)

    class Net(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = tc.nn.Linear(4, 8), tc.nn.Linear(8, 3)

        def forward(self, x):
            h = tc_ck.checkpoint(lambda t: self.a(t).relu(), x, use_reentrant=False)
            return self.b(h)
    net, x = Net(), tc.randn(5, 4)
    compiled = tc.compile(net)
    compiled(x).sum().backward()
    got = [p.grad.clone() for p in net.parameters()]
    assert "custom_vjp" not in str(compiled.graphs["traced"])
    net.zero_grad()
    net(x).sum().backward()
    for g, p in zip(got, net.parameters()):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_checkpoint_sequential_matches_torch():
    def run(lib, ck):
        lib.manual_seed(0)
        seq = lib.nn.Sequential(*[lib.nn.Linear(3, 3).double() for _ in range(4)])
        with lib.no_grad():
            for k, p in enumerate(seq.parameters()):
                p.copy_(lib.tensor(np.linspace(-1, 1, p.numel()).reshape(p.shape) / (k + 1)))
        x = lib.tensor(_X[:, :3], requires_grad=True)
        y = ck.checkpoint_sequential(seq, 2, x, use_reentrant=False)
        y.pow(2).sum().backward()
        return y, x.grad, seq[0].weight.grad
    for g, w in zip(run(tc, tc_ck), run(torch, torch_ck)):
        assert_close(g, w)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: bogus"):
        tc_ck.checkpoint_sequential([abs], 1, tc.ones(1), use_reentrant=False, bogus=1)


def test_removable_handle_as_torch():
    for lib_hooks in (tc_hooks, torch_hooks):
        hooks, extra = OrderedDict(), OrderedDict()
        h1 = lib_hooks.RemovableHandle(hooks, extra_dict=extra)
        hooks[h1.id], extra[h1.id] = "f", "x"
        h2 = lib_hooks.RemovableHandle(hooks)
        hooks[h2.id] = "g"
        assert h2.id == h1.id + 1
        h1.remove()
        h1.remove()                                 # twice is harmless
        assert list(hooks.values()) == ["g"] and not extra
        with h2:
            pass
        assert not hooks
