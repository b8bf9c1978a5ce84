"""gradcheck / gradgradcheck: the backward's Jacobian against central finite differences.

gradcheck builds, for every (output, input) pair, the numerical Jacobian (each input
element moved by +-eps in place, func re-run) and the analytical one (one backward per
output element, twice, to check the backward is deterministic to nondet_tol), and
compares them with |a - n| <= atol + rtol |n|, as torch does. fast_mode compares one
random projection u^T J v instead of whole Jacobians. gradgradcheck runs gradcheck on the
function x, g -> d(func)/dx . g, so second derivatives are checked too. Use float64 inputs:
with float32, eps=1e-6 drowns in rounding (torch warns the same way).

check_forward_ad=True compares the forward-mode Jacobian (forward_ad.py: one dual input per
element, or one random direction in fast_mode) with the same finite differences.
Not supported (they raise NotImplementedError naming the flag): check_batched_grad,
check_batched_forward_grad (vmap). check_undefined_grad
is accepted and has no effect: tracecomp always hands backward functions materialized
(zero) gradients, so there is no undefined-gradient path to test.
"""
import warnings

import numpy as np

from ..creation import rand
from ..tensor import Tensor
from ..user_code import user_stacklevel
from .engine import grad as autograd_grad


class GradcheckError(RuntimeError):
    """gradcheck found a mismatch (torch.autograd.gradcheck.GradcheckError)."""


def _as_tuple(x):
    return x if isinstance(x, (tuple, list)) else (x,)


def _differentiable_outputs(x):
    return tuple(o for o in _as_tuple(x) if isinstance(o, Tensor) and o.requires_grad)


def _positions(x):
    """Where the differentiable outputs sit among all of func's outputs."""
    return [k for k, o in enumerate(_as_tuple(x)) if isinstance(o, Tensor) and o.requires_grad]


def _unsupported(**flags):
    for name, value in flags.items():
        if value:
            raise NotImplementedError(f"gradcheck({name}=True) is not supported by tracecomp "
                                      f"(it needs vmap or forward-mode AD)")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """True when the analytical and numerical Jacobians of func at inputs agree."""
    _unsupported(check_batched_grad=check_batched_grad,
                 check_batched_forward_grad=check_batched_forward_grad)
    inputs = tuple(_as_tuple(inputs))
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            warnings.warn(f"Input #{i} requires gradient and is not a double precision "
                          f"floating point or complex. This check will likely fail if all the "
                          f"inputs are not of double precision floating point or complex. ",
                          stacklevel=user_stacklevel())
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of the them have requires_grad=True.")
    try:
        result = func(*inputs)
        check = _fast if fast_mode else _slow
        for o, k in enumerate(_positions(result) if check_backward_ad else ()):
            check(func, inputs, diff, (o, k), _as_tuple(result)[k], eps, atol, rtol,
                  nondet_tol, check_grad_dtypes)
        if check_forward_ad:
            _forward(func, inputs, diff, _positions(result), eps, atol, rtol, fast_mode)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _evaluate(func, inputs, o):
    """Differentiable output o = (its number, its position among func's outputs) at the
    current input values, as a float64 array."""
    out = _as_tuple(func(*inputs))[o[1]]
    return np.asarray(out.detach()._data, np.float64)


def _numerical(func, inputs, i, o, eps, direction=None):
    """d(output o)/d(input i) by central differences: a (n_in, n_out) matrix, or with a
    direction, the (n_out,) directional derivative."""
    data = inputs[i]._data
    if not data.flags.writeable:            # moved in place below: work on a private copy
        inputs[i]._data = data = data.copy()
    if direction is not None:
        data += eps * direction
        plus = _evaluate(func, inputs, o)
        data -= 2 * eps * direction
        minus = _evaluate(func, inputs, o)
        data += eps * direction
        return ((plus - minus) / (2 * eps)).reshape(-1)
    rows = []
    for k in range(data.size):
        at = np.unravel_index(k, data.shape)
        old = data[at]
        data[at] = old + eps
        plus = _evaluate(func, inputs, o)
        data[at] = old - eps
        minus = _evaluate(func, inputs, o)
        data[at] = old
        rows.append(((plus - minus) / (2 * eps)).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, 0))


def _analytical(inputs, diff, out, cot, check_grad_dtypes):
    """The gradients of every differentiable input for cotangent cot (zeros if unused)."""
    grads = autograd_grad((out,), [inputs[i] for i in diff], (Tensor._make(cot),),
                          retain_graph=True, allow_unused=True)
    result = {}
    for i, g in zip(diff, grads):
        if g is not None and check_grad_dtypes and g.dtype != inputs[i].dtype:
            raise GradcheckError(f"Gradient has dtype mismatch: input {i} is "
                                 f"{inputs[i].dtype} but its gradient is {g.dtype}")
        result[i] = (np.zeros(inputs[i].shape) if g is None
                     else np.asarray(g.detach()._data, np.float64))
    return result


def _slow(func, inputs, diff, o, out, eps, atol, rtol, nondet_tol, check_grad_dtypes):
    n_out = out.nelement()
    analytical = {i: np.zeros((inputs[i].nelement(), n_out)) for i in diff}
    for j in range(n_out):
        cot = np.zeros(n_out, out._data.dtype)
        cot[j] = 1
        cot = cot.reshape(out.shape)
        first = _analytical(inputs, diff, out, cot, check_grad_dtypes)
        again = _analytical(inputs, diff, out, cot, False)
        for i in diff:
            if not np.allclose(first[i], again[i], rtol=0, atol=nondet_tol):
                raise GradcheckError(f"Backward is not reentrant, i.e., running backward with "
                                     f"same input and grad_output multiple times gives "
                                     f"different values, although analytical gradient matches "
                                     f"numerical gradient.The tolerance for nondeterminism was "
                                     f"{nondet_tol}.")
            analytical[i][:, j] = first[i].reshape(-1)
    for i in diff:
        numerical = _numerical(func, inputs, i, o, eps)
        _compare(analytical[i], numerical, i, o[0], atol, rtol)


def _compare(a, n, i, o, atol, rtol):
    bad = ~(np.abs(a - n) <= atol + rtol * np.abs(n))
    if bad.any():
        k, j = (int(v) for v in np.argwhere(bad)[0])
        raise GradcheckError(f"Jacobian mismatch for output {o} with respect to input {i},\n"
                             f"numerical:{n}\nanalytical:{a}\n"
                             f"first mismatch: d(output {o}, flat element {j}) / d(input {i}, "
                             f"flat element {k}): analytical={a[k, j]!r} | "
                             f"numerical={n[k, j]!r} (atol={atol}, rtol={rtol})")


def _fast(func, inputs, diff, o, out, eps, atol, rtol, nondet_tol, check_grad_dtypes):
    """u^T J v for random u (over the output) and v (over the inputs)."""
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, out.shape).astype(out._data.dtype)
    vs = {i: rng.uniform(-1, 1, inputs[i].shape) for i in diff}
    grads = _analytical(inputs, diff, out, u, check_grad_dtypes)
    for i in diff:
        analytical = float(np.sum(grads[i] * vs[i]))
        numerical = float(np.dot(_numerical(func, inputs, i, o, eps, vs[i]),
                                 u.reshape(-1).astype(np.float64)))
        if not abs(analytical - numerical) <= atol + rtol * abs(numerical):
            raise GradcheckError(f"Jacobian mismatch for output {o[0]} with respect to input "
                                 f"{i} (fast mode, u^T J v for random u, v),\n"
                                 f"numerical:{numerical!r}\nanalytical:{analytical!r}\n")


def _forward(func, inputs, diff, positions, eps, atol, rtol, fast_mode):
    """The forward-mode Jacobian columns (J e_k, or J v in fast mode) of every output
    position against central differences."""
    from .forward_ad import dual_level, make_dual, unpack_dual
    rng = np.random.default_rng(0)
    for i in diff:
        x = inputs[i]
        directions = [rng.uniform(-1, 1, x.shape)] if fast_mode else \
            [np.eye(x.nelement())[k].reshape(x.shape) for k in range(x.nelement())]
        for v in directions:
            with dual_level():
                dual = make_dual(x.detach(), Tensor._make(v.astype(x._data.dtype)))
                outs = _as_tuple(func(*inputs[:i], dual, *inputs[i + 1:]))
                tangents = [unpack_dual(outs[k]).tangent for k in positions]
            for o, (k, t) in enumerate(zip(positions, tangents)):
                got = np.zeros(outs[k].nelement()) if t is None else \
                    np.asarray(t.detach()._data, np.float64).reshape(-1)
                want = _numerical(func, inputs, i, (o, k), eps, v)
                bad = ~(np.abs(got - want) <= atol + rtol * np.abs(want))
                if bad.any():
                    j = int(np.argwhere(bad)[0][0])
                    raise GradcheckError(
                        f"Jacobian mismatch for output {o} with respect to input {i} "
                        f"(forward mode AD),\nnumerical:{want}\nanalytical:{got}\n"
                        f"first mismatch at output element {j}: analytical={got[j]!r} | "
                        f"numerical={want[j]!r} (atol={atol}, rtol={rtol})")


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """gradcheck of the gradient: checks second derivatives against finite differences."""
    _unsupported(check_batched_grad=check_batched_grad, check_fwd_over_rev=check_fwd_over_rev)
    inputs = tuple(_as_tuple(inputs))
    if grad_outputs is None:
        grad_outputs = tuple((rand(*x.shape, dtype=x.dtype) * 2 - 1).requires_grad_()
                             for x in _differentiable_outputs(func(*inputs)))
    else:
        grad_outputs = tuple(_as_tuple(grad_outputs))
    n = len(grad_outputs)
    diff_inputs = {i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad}

    def new_func(*args):
        outputs = _differentiable_outputs(func(*args[:-n]))
        diff_args = [x for i, x in enumerate(args[:-n]) if i in diff_inputs]
        grads = autograd_grad(outputs, diff_args, args[-n:], create_graph=True,
                              allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(new_func, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad,
                     check_grad_dtypes=check_grad_dtypes, fast_mode=fast_mode,
                     check_backward_ad=check_rev_over_rev)
