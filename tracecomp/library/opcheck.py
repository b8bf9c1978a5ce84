"""torch.library.opcheck: tests that a custom operator keeps its registrations' promises.

Each test runs the operator on copies of the example inputs (so one test's writes do not
feed the next) and answers 'SUCCESS' or raises OpCheckError naming the test, as torch's:
- test_schema: arguments outside mutates_args keep their values; no output is an input.
- test_autograd_registration: with inputs that require grad, every floating output
  carries a grad_fn (a backward reaches the registered formula, or torch's error).
- test_faketensor: the fake implementation exists and gives the kernel's shapes and dtypes.
- test_aot_dispatch_dynamic: tracecomp.compile of a call gives eager's outputs and, with
  an autograd formula, eager's input gradients.
"""
import warnings

import numpy as np

from .. import grad_mode
from ..autograd import grad as autograd_grad
from ..tensor import Tensor
from .custom_ops import _op, _tensors

DEFAULT_TEST_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor",
                      "test_aot_dispatch_dynamic")


class OpCheckError(Exception):
    """A custom operator failed one of opcheck's tests."""


def _copy(value, requires_grad=None):
    if isinstance(value, Tensor):
        copy = value.detach().clone()
        want = value.requires_grad if requires_grad is None else requires_grad
        return copy.requires_grad_(want and copy.dtype.is_floating_point)
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v, requires_grad) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v, requires_grad) for k, v in value.items()}
    return value


def _outputs(result):
    return list(_tensors([result]))


def _test_schema(op, args, kwargs, rtol, atol):
    args, kwargs = _copy(args), _copy(kwargs)
    bound = op._signature.bind(*args, **kwargs)
    before = {name: [t.detach().numpy().copy() for t in _tensors([v])]
              for name, v in bound.arguments.items()}
    with grad_mode.no_grad():
        op(*args, **kwargs)
    for name, value in bound.arguments.items():
        if name in op._mutated:
            continue
        now = [t.detach().numpy() for t in _tensors([value])]
        if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(before[name], now)):
            raise AssertionError(f"Argument {name} is not defined as mutable but was mutated")


def _test_autograd_registration(op, args, kwargs, rtol, atol):
    args, kwargs = _copy(args, True), _copy(kwargs, True)
    if not any(t.requires_grad for t in _tensors([args, list(kwargs.values())])):
        return
    with grad_mode.enable_grad():
        outputs = _outputs(op(*args, **kwargs))
    for i, out in enumerate(outputs):
        if out.dtype.is_floating_point and out.grad_fn is None:
            raise AssertionError(f"output {i} of {op._qualname} has no grad_fn although an "
                                 f"input requires grad")


def _test_faketensor(op, args, kwargs, rtol, atol):
    fake_fn = op._abstract_fn
    if fake_fn is None and op._signature.return_annotation is None:
        fake_fn = op._no_outputs     # an op that only mutates: torch makes its fake itself
    if fake_fn is None:
        raise RuntimeError(f"There was no fake impl registered for {op!r}. This is necessary "
                           f"for torch.compile/export/fx tracing to work. Please use "
                           f"`{op._name}.register_fake` to add an fake impl.")
    with grad_mode.no_grad():
        real = _outputs(op(*_copy(args), **_copy(kwargs)))
        fake = _outputs(fake_fn(*_copy(args), **_copy(kwargs)))
    if len(real) != len(fake):
        raise AssertionError(f"the fake impl of {op._qualname} returns {len(fake)} tensors, "
                             f"the kernel {len(real)}")
    for i, (r, f) in enumerate(zip(real, fake)):
        if tuple(r.shape) != tuple(f.shape) or r.dtype != f.dtype:
            raise AssertionError(f"When comparing the output {i} of {op._qualname} on fake and "
                                 f"concrete tensors: the fake impl gives {tuple(f.shape)} "
                                 f"{f.dtype}, the kernel {tuple(r.shape)} {r.dtype}")


def _run(fn, args, kwargs):
    """fn's outputs and the gradients of their sum of squares for the inputs needing them."""
    out = _outputs(fn(*args, **kwargs))
    leaves = [t for t in _tensors([args, list(kwargs.values())]) if t.requires_grad]
    differentiable = [o for o in out if o.requires_grad]
    if not (leaves and differentiable):
        return out, []
    total = sum((o * o).sum() for o in differentiable)
    grads = autograd_grad(total, leaves, allow_unused=True)
    return out, [g for g in grads if g is not None]


def _test_aot_dispatch_dynamic(op, args, kwargs, rtol, atol):
    from ..compiler.api import compile as compile_fn
    want, want_grads = _run(op, _copy(args, op._backward_fn is not None), _copy(kwargs))
    with warnings.catch_warnings():     # a kernel reading values is a graph break: eager
        warnings.simplefilter("ignore")
        got, got_grads = _run(compile_fn(lambda *a, **k: op(*a, **k)),
                              _copy(args, op._backward_fn is not None), _copy(kwargs))
    for what, a, b in (("output", got, want), ("gradient", got_grads, want_grads)):
        for i, (x, y) in enumerate(zip(a, b)):
            if not np.allclose(x.detach().numpy(), y.detach().numpy(), rtol=rtol, atol=atol,
                               equal_nan=True):
                raise AssertionError(f"compiled {op._qualname}: {what} {i} differs from eager's")


_TESTS = {"test_schema": _test_schema,
          "test_autograd_registration": _test_autograd_registration,
          "test_faketensor": _test_faketensor,
          "test_aot_dispatch_dynamic": _test_aot_dispatch_dynamic}


def opcheck(op, args, kwargs=None, *, test_utils=DEFAULT_TEST_UTILS, raise_exception=True,
            rtol=None, atol=None):
    """Run the tests named in test_utils on op(*args, **kwargs); a dict test -> 'SUCCESS'
    (or the exception, with raise_exception=False)."""
    op = _op(op)
    names = [test_utils] if isinstance(test_utils, str) else list(test_utils)
    unknown = sorted(set(names) - set(_TESTS))
    if unknown:
        raise ValueError(f"opcheck: unknown test_utils {unknown}; valid: {sorted(_TESTS)}")
    if (rtol is None) != (atol is None):
        raise ValueError("opcheck: rtol and atol must both be given, or neither")
    rtol, atol = (1.3e-6, 1e-5) if rtol is None else (rtol, atol)
    results = {}
    for name in names:
        try:
            _TESTS[name](op, tuple(args), dict(kwargs or {}), rtol, atol)
            results[name] = "SUCCESS"
        except Exception as error:
            if raise_exception:
                raise OpCheckError(f"opcheck(op, ...): {name} failed with {error} (scroll up "
                                   f"for stack trace)") from error
            results[name] = error
    return results
