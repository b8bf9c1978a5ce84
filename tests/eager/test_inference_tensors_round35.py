"""Inference tensors, as torch's: what inference_mode makes is one (views and detach() of
one too, views of an ordinary tensor not), and outside inference mode torch's errors for
updating one in place, saving one for backward (an op whose gradient reads its value),
asking its version or making it require grad."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as CF

F = {torch: TF, tc: CF}

MADE_INSIDE = {
    "ones": lambda L, x: L.ones(3), "tensor": lambda L, x: L.tensor([1.0, 2.0]),
    "randn": lambda L, x: L.randn(2), "arange": lambda L, x: L.arange(3.0),
    "empty": lambda L, x: L.empty(2), "zeros_like": lambda L, x: L.zeros_like(x),
    "op_of_ordinary": lambda L, x: x + 1, "clone": lambda L, x: x.clone(),
    "view_of_ordinary": lambda L, x: x[:2], "reshape_of_ordinary": lambda L, x: x.view(3),
    "view_of_inference": lambda L, x: L.ones(3)[1:], "sum": lambda L, x: x.sum(),
    "linear": lambda L, x: F[L].linear(x[None], L.ones(2, 3)),
    "nested_off": lambda L, x: _off(L, lambda: L.ones(2)),
    "no_grad_inside": lambda L, x: _no_grad(L, lambda: L.ones(2)),
}


def _off(L, make):
    with L.inference_mode(False):
        return make()


def _no_grad(L, make):
    with L.no_grad():
        return make()


def _run(fn):
    """fn(L) for torch and tracecomp: its result, or ("RuntimeError", message)."""
    got = []
    for L in (torch, tc):
        try:
            got.append(fn(L))
        except RuntimeError as error:
            got.append(("RuntimeError", str(error)))
    return got


@pytest.mark.parametrize("name", MADE_INSIDE)
def test_what_inference_mode_makes_is_torchs(name):
    def made(L):
        x = L.ones(3)
        with L.inference_mode():
            t = MADE_INSIDE[name](L, x)
        return t.is_inference(), L.is_inference(t), x.is_inference(), t.requires_grad
    want, got = _run(made)
    assert got == want, f"tracecomp={got} | torch={want}"


def _inference(L):
    with L.inference_mode():
        return L.ones(3)


OUTSIDE = {
    "add_": lambda L, a, w: a.add_(1), "mul_scalar_": lambda L, a, w: a.mul_(2),
    "zero_": lambda L, a, w: a.zero_(), "fill_": lambda L, a, w: a.fill_(2),
    "copy_": lambda L, a, w: a.copy_(L.zeros(3)), "setitem": lambda L, a, w: a.__setitem__(0, 1),
    "uniform_": lambda L, a, w: a.uniform_(), "view_add_": lambda L, a, w: a[1:].add_(1),
    "detach_add_": lambda L, a, w: a.detach().add_(1),
    "data_add_": lambda L, a, w: a.data.add_(1),
    "version": lambda L, a, w: a._version, "requires_grad_": lambda L, a, w: a.requires_grad_(),
    "requires_grad_false": lambda L, a, w: a.requires_grad_(False).requires_grad,
    # saved for backward: mul and matmul read a's value for w's gradient, add does not
    "mul": lambda L, a, w: a * w, "rmul": lambda L, a, w: w * a, "matmul": lambda L, a, w: a @ w,
    "add": lambda L, a, w: type((a + w).grad_fn).__name__,
    "exp_then_add": lambda L, a, w: type((a.exp() + w).grad_fn).__name__,
    "clone_then_mul": lambda L, a, w: type((a.clone() * w).grad_fn).__name__,
    "mul_no_grad_operand": lambda L, a, w: (a * w.detach()).is_inference(),
    "copy_from": lambda L, a, w: L.zeros(3).copy_(a).is_inference(),
    "detach_is": lambda L, a, w: (a.detach().is_inference(), a.data.is_inference(),
                                  a.view(3).is_inference(), (a * 2).is_inference()),
}


@pytest.mark.parametrize("name", OUTSIDE)
def test_inference_tensor_outside_inference_mode_is_torchs(name):
    def use(L):
        a, w = _inference(L), L.ones(3, requires_grad=True)
        out = OUTSIDE[name](L, a, w)
        return out if isinstance(out, (bool, int, str, tuple)) else "done"
    want, got = _run(use)
    assert got == want, f"tracecomp={got} | torch={want}"


def test_refused_update_is_written_first_as_torchs():
    """torch refuses when the update bumps the version counter, after writing the values."""
    def update(L):
        a = _inference(L)
        try:
            a.add_(5)
        except RuntimeError:
            pass
        return a.tolist()
    want, got = _run(update)
    assert got == want


def test_inside_inference_mode_updates_and_grad_flags_are_allowed():
    def inside(L):
        x = L.ones(3)
        with L.inference_mode():
            a = L.ones(3)
            a.add_(1)
            x.add_(1)
            a.requires_grad_()
            version = x._version
        return a.tolist(), a.requires_grad, version
    want, got = _run(inside)
    assert got == want


@pytest.mark.parametrize("case", ["view", "view_of_view", "base_changed", "in_no_grad"])
def test_view_of_ordinary_tensor_made_in_inference_mode(case):
    def update(L):
        x = L.ones(3, requires_grad=True) * 1
        with L.inference_mode():
            v = x[:2]
            if case == "base_changed":
                x.mul_(2)
        if case == "view":
            v.add_(1)
        elif case == "view_of_view":
            v[1:].add_(1)
        elif case == "base_changed":
            return type(v.grad_fn).__name__
        else:
            with L.no_grad():
                v.add_(1)
        return v.requires_grad, v.is_inference(), x.tolist()
    want, got = _run(update)
    assert got == want


def test_view_of_inference_tensor_that_requires_grad_updated_outside():
    def update(L):
        with L.inference_mode():
            a = L.ones(3)
            a.requires_grad_()      # allowed inside inference mode
            v = a[:2]
        v.add_(1)
    want, got = _run(update)
    assert want[0] == "RuntimeError" and got == want


def test_nested_inference_mode_false_refuses_saving():
    def nested(L):
        w = L.ones(3, requires_grad=True)
        with L.inference_mode():
            a = L.ones(3)
            with L.inference_mode(False):
                return a * w
    want, got = _run(nested)
    assert want[0] == "RuntimeError" and got == want


def test_module_output_under_inference_mode():
    def forward(L):
        m = L.nn.Linear(2, 2)
        with L.inference_mode():
            out = m(L.ones(1, 2))
            p = L.nn.Parameter(L.ones(2))
        flags = (out.is_inference(), out.requires_grad, p.is_inference(), p.requires_grad)
        try:
            F[L].linear(out, m.weight)
        except RuntimeError as error:
            return flags, str(error)
        return flags, None
    want, got = _run(forward)
    assert got == want


def test_ordinary_tensors_are_unaffected():
    x = tc.ones(3, requires_grad=True)
    with tc.inference_mode():
        pass
    y = (x * 2).sum()
    y.backward()
    assert not x.is_inference() and x._version == 0
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])
