"""torch.autograd.graph.allow_mutation_on_saved_tensors, against torch: inside it a tensor
saved for backward may change in place and backward reads its saved value; after it,
backward through what it recorded is torch's AssertionError; it does not nest. Outside it
the change is torch's version-counter error (test_saved_values.py checks the words)."""
import numpy as np
import pytest
import torch

import tracecomp as tc

CASES = {
    # saved input of mul, changed by add_
    "input_add_": lambda L, a: (lambda b: ((b * b).sum(), b.add_(1)))(a * 1),
    # sin saves its input; setitem and a write through a view change it
    "setitem_and_view": lambda L, a: (lambda b: ((b.sin()).sum(), b.__setitem__(0, 10.0),
                                                 b[1:].mul_(3)))(a.clone()),
    # exp saves its output, which mul_ changes
    "saved_output": lambda L, a: (lambda b: (b, b.mul_(2)))(a.exp()),
    # a tensor without grad read by mul, changed afterwards
    "constant_operand": lambda L, a: (lambda x: ((a * x).sum(), x.mul_(10)))(
        L.tensor([4.0, 5.0, 6.0], dtype=L.float64)),
    # changed under no_grad: copied all the same
    "under_no_grad": lambda L, a: (lambda b: ((b * b).sum(), _no_grad_add(L, b)))(a * 1),
    # changed twice: the first change's copy is kept
    "twice": lambda L, a: (lambda b: ((b * b).sum(), b.add_(1), b.mul_(5)))(a * 1),
    # saved again after the change: each node reads what it saved
    "saved_after_change": lambda L, a: (lambda b: (((b * b).sum(), b.add_(1))[0]
                                                   + (b * b).sum(), b.mul_(2)))(a * 1),
}


def _no_grad_add(L, b):
    with L.no_grad():
        b.add_(1)


def _run(L, name):
    with L.autograd.graph.allow_mutation_on_saved_tensors() as ctx:
        a = L.tensor([1.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
        out = CASES[name](L, a)[0]
        out.sum().backward()
    return a.grad.numpy(), type(ctx).__name__


@pytest.mark.parametrize("name", CASES)
def test_backward_reads_saved_values(name):
    (want, want_ctx), (got, got_ctx) = _run(torch, name), _run(tc, name)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got_ctx == want_ctx


@pytest.mark.parametrize("mutated", [False, True])
def test_backward_after_the_context_is_torchs_error(mutated):
    got = []
    for L in (torch, tc):
        with L.autograd.graph.allow_mutation_on_saved_tensors():
            a = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
            b = a * 1
            c = b * b
        if mutated:
            b.add_(1)
        with pytest.raises(AssertionError) as error:
            c.sum().backward()
        got.append(str(error.value))
    assert got[1] == got[0]


def test_contexts_do_not_nest():
    got = []
    for L in (torch, tc):
        with L.autograd.graph.allow_mutation_on_saved_tensors():
            with pytest.raises(RuntimeError) as error:
                with L.autograd.graph.allow_mutation_on_saved_tensors():
                    pass
        got.append(str(error.value))
        with L.autograd.graph.allow_mutation_on_saved_tensors():   # usable again after
            pass
    assert got[1] == got[0]


def test_outside_the_context_the_change_is_refused():
    for L in (torch, tc):
        a = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = a * 1
        c = b * b
        b.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            c.sum().backward()


def test_custom_function_saved_tensor_changed():
    got = []
    for L in (torch, tc):
        class Square(L.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        with L.autograd.graph.allow_mutation_on_saved_tensors():
            a = L.tensor([1.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
            b = a * 1
            y = Square.apply(b)
            b.mul_(7)
            y.sum().backward()
        got.append(a.grad.numpy())
    np.testing.assert_allclose(got[1], got[0])


def test_compiled_call_inside_the_context_reads_saved_values():
    """A compiled call made inside the context runs eagerly (saved_tensors_hooks' rule), so
    its saved tensors are watched too."""
    f = tc.compile(lambda b: (b * b).sum(), backend="interp")
    got = []
    for L, fn in ((torch, lambda b: (b * b).sum()), (tc, f)):
        with L.autograd.graph.allow_mutation_on_saved_tensors():
            a = L.tensor([1.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
            b = a * 1
            loss = fn(b)
            b.add_(1)
            loss.backward()
        got.append(a.grad.numpy())
    np.testing.assert_allclose(got[1], got[0])
