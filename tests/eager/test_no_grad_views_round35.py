"""Views made under no_grad of a tensor that requires grad, as torch's: they require grad
(their base does) with no history, gradients reaching them go nowhere, and updating them in
place with grad mode on, or using them after they or their base changed in place, is
torch's error."""
import numpy as np
import pytest
import torch

import tracecomp as tc

VIEWS = {
    "index": lambda x: x[0], "slice": lambda x: x[1:, :2], "view": lambda x: x.view(12),
    "t": lambda x: x.t(), "unsqueeze": lambda x: x[None], "expand": lambda x: x.expand(2, 3, 4),
    "unbind": lambda x: x.unbind()[1], "split": lambda x: x.split(2, 1)[0],
    "iter": lambda x: list(x)[2], "reshape": lambda x: x.reshape(2, 6),
    "diagonal": lambda x: x.diagonal(), "unfold": lambda x: x.unfold(1, 2, 2),
    "view_of_view": lambda x: x[1:][0],
}


def _leaf(lib, rows=3):
    return lib.tensor(np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) / 7,
                      requires_grad=True)


def _both(fn):
    """fn(lib) for torch and tracecomp: (result or (error type name, message)) each."""
    got = []
    for lib in (torch, tc):
        try:
            got.append(fn(lib))
        except RuntimeError as error:
            got.append(("RuntimeError", str(error)))
    return got


@pytest.mark.parametrize("name", VIEWS)
def test_no_grad_view_requires_grad_without_history(name):
    def facts(lib):
        x = _leaf(lib)
        with lib.no_grad():
            v = VIEWS[name](x)
        y = v * 2
        return (v.requires_grad, v.is_leaf, v.grad_fn is None, y.requires_grad,
                type(y.grad_fn).__name__, y.grad_fn.next_functions[0][0] is None)
    want, got = _both(facts)
    assert got == want, f"tracecomp={got} | torch={want}"


def test_gradients_do_not_reach_a_no_grad_view_or_its_base():
    def grads(lib):
        x, w = _leaf(lib), _leaf(lib)
        with lib.no_grad():
            v = x[0]
        ((v * w[0]).sum() + (v * 3).sum()).backward()
        return v.grad, x.grad, w.grad.numpy().tolist()
    want, got = _both(grads)
    assert got == want


def test_autograd_grad_with_respect_to_a_no_grad_view_is_torchs_error():
    def grad(lib):
        x = _leaf(lib)
        with lib.no_grad():
            v = x[0]
        return lib.autograd.grad((v * 2).sum(), v)
    want, got = _both(grad)
    assert got == want


@pytest.mark.parametrize("name", ["index", "slice", "view", "split", "iter", "view_of_view"])
@pytest.mark.parametrize("base_has_history", [False, True])
def test_in_place_on_no_grad_view_in_grad_mode_is_torchs_error(name, base_has_history):
    def update(lib):
        x = _leaf(lib)
        base = x * 1 if base_has_history else x
        with lib.no_grad():
            v = VIEWS[name](base)
        v.mul_(2)
        return "no error"
    want, got = _both(update)
    assert want[0] == "RuntimeError" and got == want


@pytest.mark.parametrize("view_op", ["view", "unsqueeze", "slice"])
def test_in_place_on_grad_mode_view_of_a_no_grad_view_names_the_op(view_op):
    make = {"view": lambda v: v.view(2, 2), "unsqueeze": lambda v: v.unsqueeze(0),
            "slice": lambda v: v[1:]}[view_op]

    def update(lib):
        x = _leaf(lib)
        with lib.no_grad():
            v = x[0]
        make(v).add_(1)
        return "no error"
    want, got = _both(update)
    assert want[0] == "RuntimeError" and got == want


def test_in_place_inside_no_grad_is_allowed():
    def update(lib):
        x = _leaf(lib)
        with lib.no_grad():
            v = x[0]
            v.mul_(2)
        return x.detach().numpy().tolist()
    want, got = _both(update)
    assert got == want


@pytest.mark.parametrize("where", ["base", "view", "base_no_grad"])
@pytest.mark.parametrize("read", ["grad_fn", "use"])
def test_using_a_stale_no_grad_view_is_torchs_error(where, read):
    def stale(lib):
        x = _leaf(lib) * 1
        with lib.no_grad():
            v = x[:2]
            if where == "view":
                v.mul_(2)
            elif where == "base_no_grad":
                x.mul_(2)
        if where == "base":
            x.mul_(2)
        if read == "grad_fn":
            return v.grad_fn
        return type((v * 2).grad_fn).__name__
    want, got = _both(stale)
    assert want[0] == "RuntimeError" and got == want


def test_views_of_tensors_without_grad_are_unchanged():
    def facts(lib):
        z = lib.zeros(3, 4)
        with lib.no_grad():
            v = z[0]
            d = _leaf(lib).detach()[0]
            i = _leaf(lib).view(lib.int32)
            # a leaf that requires grad but is a view of one that does not: torch asks
            # the base that owns the memory
            r = lib.arange(12.0).reshape(3, 4).requires_grad_()[1]
        v.add_(1)
        return (v.requires_grad, d.requires_grad, i.requires_grad, r.requires_grad,
                z.sum().item())
    want, got = _both(facts)
    assert got == want
