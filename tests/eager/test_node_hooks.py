"""Hooks on autograd nodes (y.grad_fn.register_hook / register_prehook, node_hooks.py) and
torch's deprecated non-full module hook built on them (Module.register_backward_hook),
against torch: what each hook sees, what replacing a gradient does, torch's warnings."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import with_torch_weights

X = np.random.default_rng(1).standard_normal((2, 2, 9, 9)).astype(np.float32)


def _arrays(grads):
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def _assert_same(got, want):
    assert len(got) == len(want)
    for u, v in zip(got, want):
        assert (u is None) == (v is None), f"tracecomp={u} | torch={v}"
        if u is not None:
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def _node_hooks(lib):
    """A conv (one torch node over our product and bias add), a relu whose pre-hook adds 1
    and hook doubles, a linear (AddmmBackward0: bias, input, weight.T)."""
    torch.manual_seed(0)
    conv, lin = torch.nn.Conv2d(2, 3, 3), torch.nn.Linear(3, 2)
    if lib is tc:
        conv = with_torch_weights(tc.nn.Conv2d(2, 3, 3), conv)
        lin = with_torch_weights(tc.nn.Linear(3, 2), lin)
    x = lib.from_numpy(X.copy()).requires_grad_()
    log = []
    y = conv(x)
    y.grad_fn.register_hook(lambda gi, go: log.append(_arrays(gi) + _arrays(go)))
    z = y.relu()
    z.grad_fn.register_hook(lambda gi, go: (gi[0] * 2,))
    z.grad_fn.register_prehook(lambda go: (go[0] + 1,))
    h = lin(z.mean((2, 3)))
    h.grad_fn.register_hook(lambda gi, go: log.append(_arrays(gi) + _arrays(go)))
    (h * h).sum().backward()
    return log, _arrays([x.grad, conv.weight.grad, conv.bias.grad, lin.weight.grad])


def test_node_hooks_see_and_replace_gradients_as_in_torch():
    log, grads = _node_hooks(tc)
    want_log, want_grads = _node_hooks(torch)
    assert len(log) == len(want_log) == 2
    for got, want in zip(log, want_log):        # addmm's (bias, input, weight.T), then conv's
        _assert_same(got, want)
    _assert_same(grads, want_grads)


def _features(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(4, 3, 3, bias=False), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3, 2))


def _guided(lib, x_requires_grad):
    """pytorch-cnn-visualizations' guided backprop: the first conv's hook keeps grad_in,
    each ReLU's hook returns its clamped grad_in, masked by the forward's output."""
    torch.manual_seed(0)
    model = _features(torch)
    if lib is tc:
        model = with_torch_weights(_features(tc), model)
    seen, outputs = [], []
    model[0].register_backward_hook(lambda m, gi, go: seen.append(_arrays(gi) + _arrays(go)))
    for relu in (model[1], model[4]):
        relu.register_forward_hook(lambda m, i, o: outputs.append(o))
        relu.register_backward_hook(
            lambda m, gi, go: ((outputs.pop() > 0).float() * lib.clamp(gi[0], min=0.0),))
    x = lib.from_numpy(X.copy()).requires_grad_(x_requires_grad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(x)[:, 1].sum().backward()
    said = [str(w.message) for w in caught if w.category is FutureWarning]
    return seen, _arrays([model[0].weight.grad, model[3].weight.grad]), said


@pytest.mark.parametrize("x_requires_grad", [True, False])
def test_register_backward_hook_sees_the_output_nodes_inputs_as_torch(x_requires_grad):
    seen, grads, said = _guided(tc, x_requires_grad)
    want_seen, want_grads, want_said = _guided(torch, x_requires_grad)
    assert len(seen) == len(want_seen) == 1
    _assert_same(seen[0], want_seen[0])     # conv: (input, weight, bias) grads, grad_output
    _assert_same(grads, want_grads)
    assert said == want_said                # "the forward contains multiple autograd Nodes"


def test_full_and_non_full_hooks_on_one_module_are_refused_as_torch():
    for lib in (torch, tc):
        conv = lib.nn.Conv2d(2, 2, 1)
        conv.register_full_backward_hook(lambda m, gi, go: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and "
                                               "full backward hooks on a single Module"):
            conv.register_backward_hook(lambda m, gi, go: None)


def test_a_hook_returning_the_wrong_count_is_refused_as_torch():
    def hook(m, gi, go):
        return (gi[0],)
    texts = []
    for lib in (torch, tc):
        conv = lib.nn.Conv2d(2, 2, 1)
        conv.register_backward_hook(hook)
        x = lib.from_numpy(X.copy()).requires_grad_()
        with pytest.warns(FutureWarning), pytest.raises(RuntimeError) as info:
            conv(x).sum().backward()
        texts.append(str(info.value))
    assert "has returned an incorrect number of values (got 1, but expected 3)" in texts[0]
    assert texts[1] == texts[0]


def test_compiling_a_module_with_a_non_full_hook_is_refused_clearly():
    model = _features(tc)
    model[0].register_backward_hook(lambda m, gi, go: None)
    with pytest.raises(tc.TraceError, match="register_backward_hook"):
        tc.compile(model, fullgraph=True)(tc.from_numpy(X))


def _split_call(lib):
    """A custom Function with two outputs: one node to torch, a group of two here; hooks on
    the second output's node see both outputs' gradients and replace the input's."""
    class Split(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(w)
            return x * w, x + w

        @staticmethod
        def backward(ctx, ga, gb):
            (w,) = ctx.saved_tensors
            return ga * w + gb, (ga + gb).sum() * 0.0 + gb
    x = lib.from_numpy(X[0, 0].copy()).requires_grad_()
    w = lib.from_numpy(X[1, 1].copy()).requires_grad_()
    a, b = Split.apply(x, w)
    log = []
    b.grad_fn.register_prehook(lambda go: log.append(_arrays(go)) or (go[0], go[1] * 3))
    b.grad_fn.register_hook(lambda gi, go: log.append(_arrays(gi)) or (gi[0] * 2, gi[1]))
    ((a * a).sum() + b.sum()).backward()
    return log, _arrays([x.grad, w.grad])


def test_hooks_on_a_functions_node_are_the_calls_as_in_torch():
    log, grads = _split_call(tc)
    want_log, want_grads = _split_call(torch)
    assert len(log) == len(want_log) == 2
    for got, want in zip(log, want_log):
        _assert_same(got, want)
    _assert_same(grads, want_grads)


def test_a_non_full_hook_on_a_compiled_model_sees_its_output_node_as_torchs_eager():
    torch.manual_seed(0)
    ref = _features(torch)
    model = with_torch_weights(_features(tc), ref)
    got, want = [], []
    compiled = tc.compile(model)
    compiled.register_backward_hook(lambda m, gi, go: got.append(_arrays(go)))
    ref.register_backward_hook(lambda m, gi, go: want.append(_arrays(go)))
    with pytest.warns(FutureWarning):
        compiled(tc.from_numpy(X)).sum().backward()
    with pytest.warns(FutureWarning):
        ref(torch.from_numpy(X)).sum().backward()
    assert len(got) == len(want) == 1
    _assert_same(got[0], want[0])
    _assert_same(_arrays([p.grad for p in model.parameters()]),
                 _arrays([p.grad for p in ref.parameters()]))
