"""jacrev, jacfwd, hessian, jvp and linearize against torch.func 2.13: shapes and
structures for pytrees and argnums, has_aux, nesting (jacfwd(jacrev), jacrev(jacrev),
vmap(jacrev)), requires_grad of results, and torch's errors."""
import pytest
import torch
from twin import both, randn

import tracecomp as tc


def two_outputs(lib, x, y):
    return {"a": (x[:, None] * y).sin(), "b": (x ** 2).sum() * y}


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1,)])
def test_jacobian_structure_and_values(jac, argnums):
    both(lambda lib, x, y: getattr(lib.func, jac)(lambda x, y: two_outputs(lib, x, y),
                                                  argnums=argnums)(x, y),
         randn(3), randn(2, seed=1))


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobian_of_dict_input_and_has_aux(jac):
    def run(lib, w, b, x):
        def f(p):
            out = (x @ p["w"] + p["b"]).tanh()
            return out, out.sum()
        return getattr(lib.func, jac)(f, has_aux=True)({"w": w, "b": b})
    both(run, randn(3, 2), randn(2, seed=1), randn(4, 3, seed=2))


@pytest.mark.parametrize("outer", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("inner", ["jacrev", "jacfwd"])
def test_second_order_nesting(outer, inner):
    both(lambda lib, x: getattr(lib.func, outer)(getattr(lib.func, inner)(
        lambda x: (x.sin() * x.prod()))) (x), randn(3))


def test_hessian_argnums_and_vmap_of_jacrev():
    def run(lib, x, y):
        f = lambda x, y: (x.exp() * y.sum() + x * y[0] ** 3).sum()  # noqa: E731
        return (lib.func.hessian(f)(x, y), lib.func.hessian(f, argnums=(0, 1))(x, y),
                lib.vmap(lib.func.jacrev(lambda v: v.sin() * v.sum()))(x.reshape(2, 2)))
    both(run, randn(4), randn(3, seed=1))


def test_jvp_and_linearize():
    def run(lib, x, y, tx, ty):
        f = lambda x, y: ((x * y).sin(), {"s": x.sum() * y})  # noqa: E731
        out, tangent = lib.func.jvp(f, (x, y), (tx, ty))
        out2, jvp_fn = lib.func.linearize(f, x, y)
        aux = lib.func.jvp(lambda x: (x.cos(), x * 2), (x,), (tx,), has_aux=True)
        return out, tangent, out2, jvp_fn(tx, ty), jvp_fn(ty, tx), aux
    both(run, randn(3), randn(3, seed=1), randn(3, seed=2), randn(3, seed=3))


def test_jvp_result_follows_a_tangent_that_requires_grad():
    def run(lib, x, t):
        t.requires_grad_()
        _, out = lib.func.jvp(lambda z: z.exp() * z, (x,), (t,))
        (out ** 2).sum().backward()
        return out, t.grad
    both(run, randn(3), randn(3, seed=1))


def test_jvp_of_grad_is_hessian_vector_product():
    def run(lib, x, v):
        f = lambda x: (x.sin() * x ** 2).sum()  # noqa: E731
        return lib.func.jvp(lib.func.grad(f), (x,), (v,))
    both(run, randn(5), randn(5, seed=1))


def test_results_follow_outer_autograd():
    def run(lib, x, w):
        w.requires_grad_()
        jac = lib.func.jacrev(lambda x: (x * w).sin())(x)
        jac.sum().backward()
        return jac, w.grad, lib.func.jacfwd(lambda x: x.sin())(x)
    both(run, randn(3), randn(3, seed=1))


def test_jacfwd_randomness_error():
    for lib in (torch, tc):
        with pytest.raises(RuntimeError, match="randomness error mode"):
            lib.func.jacfwd(lambda x, lib=lib: x * lib.rand(2))(lib.ones(2))


ERRORS = [
    ("jvp primals not a tuple", lambda lib: lib.func.jvp(lib.sin, lib.ones(2), lib.ones(2)),
     "Expected primals to be a tuple. E.g. it should be valid to call f(*primals)."),
    ("jvp structures differ", lambda lib: lib.func.jvp(lib.add, (lib.ones(2), lib.ones(2)),
                                                       (lib.ones(2),)),
     "Expected primals and tangents to have the same python structure"),
    ("jacrev chunk_size", lambda lib: lib.func.jacrev(lib.sin, chunk_size=0),
     "jacrev: `chunk_size` should be greater than 0."),
    ("jacrev argnums", lambda lib: lib.func.jacrev(lib.sin, argnums=1)(lib.ones(2)),
     "Got argnum=1, but only 1 positional inputs"),
    ("vjp_fn cotangent structure", lambda lib: lib.func.vjp(lib.sin, lib.ones(2))[1](
        (lib.ones(2), lib.ones(2))), "Expected pytree structure of cotangents to be the same "
     "as pytree structure of outputs to the function"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_match_torch(case):
    _, call, text = case
    for lib in (torch, tc):
        with pytest.raises((RuntimeError, ValueError)) as info:
            call(lib)
        assert text in str(info.value), f"{lib.__name__}: {info.value}"
