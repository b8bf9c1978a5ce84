"""torch.func.grad, grad_and_value and vjp against torch.func 2.13: values, pytrees,
argnums, has_aux, nesting (no perturbation confusion), requires_grad of the results and
torch's errors."""
import pytest
import torch
from twin import both, randn

import tracecomp as tc


def cube_sum(lib, x):
    return (lib.sin(x) * x ** 2).sum()


def test_grad_matches_torch():
    both(lambda lib, x: lib.func.grad(lambda x: cube_sum(lib, x))(x), randn(5))


def test_vmap_is_func_vmap():
    assert tc.vmap is tc.func.vmap


def test_grad_argnums_and_pytrees():
    def f(lib, x, d, lst):
        return (x * d["a"] + d["b"].exp() * lst[0] - lst[1] ** 3).sum()
    args = (randn(3), {"a": randn(3, seed=1), "b": randn(3, seed=2)}, [randn(3, seed=3),
                                                                      randn(3, seed=4)])
    for argnums in (0, 1, 2, (0, 1), (2, 0), -1):
        both(lambda lib, *a, n=argnums: lib.func.grad(lambda *b: f(lib, *b), argnums=n)(*a),
             *args)


def test_grad_and_value_has_aux_and_kwargs():
    def run(lib, x, y):
        def f(x, scale=1.0):
            loss = (x.tanh() * scale).sum()
            return loss, {"double": loss * 2, "x": x}
        return lib.func.grad_and_value(f, has_aux=True)(x, scale=3.0), \
            lib.func.grad(f, has_aux=True)(y)
    both(run, randn(4), randn(2, 2))


def test_unused_input_gives_zeros():
    both(lambda lib, x, y: lib.func.grad(lambda x, y: (y * 2).sum(), argnums=(0, 1))(x, y),
         randn(3), randn(2))


@pytest.mark.parametrize("depth", [2, 3])
def test_nested_grad(depth):
    def run(lib, x):
        f = lambda x: (x ** 4).sum()  # noqa: E731
        g = f
        for _ in range(depth - 1):
            g = (lambda h: lambda x: lib.func.grad(h)(x).sum())(g)
        return lib.func.grad(g)(x)
    both(run, randn(4))


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x * y)] = d/dx x^2 = 2x: the inner grad must not see the outer x
    both(lambda lib, x: lib.func.grad(lambda x: (x * lib.func.grad(
        lambda y: (x * y).sum())(x)).sum())(x), randn(3))


def test_results_keep_history_only_when_an_outer_tensor_requires_grad():
    def run(lib, x, w):
        w = w.requires_grad_()
        plain = lib.func.grad(lambda x: (x ** 2).sum())(x)
        closed = lib.func.grad(lambda x: (x * w).sin().sum())(x)
        (closed.sum()).backward()       # through grad into the user's own autograd
        with lib.no_grad():
            off = lib.func.grad(lambda x: (x * w).sin().sum())(x)
        return plain, closed, w.grad, off
    both(run, randn(3), randn(3, seed=1))


def test_vjp_pytree_and_has_aux():
    def run(lib, x, y, cx, cy):
        def f(x, y):
            return {"s": x.sin() * y, "p": (x @ y).unsqueeze(0)}, x.cos()
        out, vjp_fn, aux = lib.func.vjp(f, x, y, has_aux=True)
        first = vjp_fn({"s": cx, "p": cy})
        return out, aux, first, vjp_fn({"s": cx * 2, "p": cy})     # called twice
    both(run, randn(3), randn(3, seed=1), randn(3, seed=2), randn(1, seed=3))


def test_vjp_fn_result_follows_a_cotangent_that_requires_grad():
    def run(lib, x, v):
        v.requires_grad_()
        _, fn = lib.func.vjp(lambda z: z.sin() * 3, x)
        (g,) = fn(v)
        (g * g).sum().backward()
        return g, v.grad
    both(run, randn(4), randn(4, seed=1))


def test_grad_of_vjp():
    def run(lib, x, v):
        def f(x):
            _, fn = lib.func.vjp(lambda z: z.sin() * z, x)
            return (fn(v)[0] ** 2).sum()
        return lib.func.grad(f)(x)
    both(run, randn(4), randn(4, seed=1))


ERRORS = [
    ("non-scalar output", lambda lib: lib.func.grad(lambda x: x * 2)(lib.ones(3)),
     RuntimeError, "Expected f(*args) to return a scalar Tensor, got tensor with 1 dims"),
    ("non-tensor output", lambda lib: lib.func.grad(lambda x: 3.0)(lib.ones(3)),
     RuntimeError, "Expected f(*args) to return a Tensor, got <class 'float'>"),
    ("argnums out of range", lambda lib: lib.func.grad(lambda x, y: x.sum(), argnums=2)(
        lib.ones(1), lib.ones(1)), RuntimeError, "Got argnum=2, but only 2 positional inputs"),
    ("argnums type", lambda lib: lib.func.grad(lambda x: x.sum(), argnums=[0])(lib.ones(1)),
     RuntimeError, "argnums must be int or Tuple[int, ...], got: <class 'list'>"),
    ("argnums repeated", lambda lib: lib.func.grad(lambda x: x.sum(), argnums=(0, 0))(
        lib.ones(1)), RuntimeError, "argnums elements must be unique, got (0, 0)"),
    ("has_aux without a pair", lambda lib: lib.func.grad(lambda x: x.sum(), has_aux=True)(
        lib.ones(1)), RuntimeError, "output of function f should be a tuple: (output, aux)"),
    ("non-tensor input", lambda lib: lib.func.grad(lambda x: x)(3.0),
     ValueError, "Thing passed to transform API must be Tensor, got <class 'float'>"),
    ("vjp of an int output", lambda lib: lib.func.vjp(lambda x: x.argmax(), lib.ones(2)),
     RuntimeError, "All outputs of f must be floating-point or complex Tensors"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_match_torch(case):
    _, call, kind, text = case
    for lib in (torch, tc):
        with pytest.raises(kind) as info:
            call(lib)
        assert text in str(info.value), f"{lib.__name__}: {info.value}"
