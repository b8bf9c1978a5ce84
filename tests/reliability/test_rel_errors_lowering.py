"""The llvm lowering never shows a user an internal exception from valid code.

- Kernel emission does not recurse per fused member: a 3,000-op chain compiles (forward
  and backward) when the caller is already ~700 frames deep and only 300 more are allowed.
- An llvmlite error (or any non-tracecomp exception) raised while lowering or compiling a
  graph reaches the user as a LoweringError (a TracecompError and a RuntimeError) that names
  the kernel's nodes, says it is a tracecomp bug and names the interp workaround, with the
  original chained as __cause__.
- The TRACECOMP_LLVM_RUNNER=steps runner gives each Python step's result its node's dtype
  before a kernel reads it (a float64 matmul result read as float32 was garbage).
"""
import sys

import numpy as np
import pytest
from llvmlite import ir as llvm_ir

import tracecomp as tc
from tracecomp import nn
from tracecomp.codegen.llvm import backend
from tracecomp.codegen.llvm.lower import kernels
from tracecomp.errors import LoweringError, TracecompError

CALLER_DEPTH = 700      # frames the user's code already stands on
HEADROOM = 300          # frames allowed above that


def _depth():
    frame, n = sys._getframe(), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def _nested(k, fn):
    """fn() called from k frames deeper than the caller."""
    return fn() if k == 0 else _nested(k - 1, fn)


def _chain(n):
    def deep(a):
        for _ in range(n):
            a = a * 1.0001 + 0.0001
        return a.sum()
    return deep


def _deep_chain_under_tight_limit():
    deep = _chain(3000)
    data = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    x = tc.tensor(data, requires_grad=True)
    f = tc.compile(deep, backend="llvm")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + HEADROOM)
    try:
        y = f(x)
        y.backward()
    finally:
        sys.setrecursionlimit(old)
    return y.item(), x.grad.numpy()


def test_deep_chain_compiles_from_a_deep_stack_under_a_tight_limit():
    value, grad = _nested(CALLER_DEPTH, _deep_chain_under_tight_limit)
    x = tc.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    ref = _chain(3000)(x)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-4)
    # d/da of the chain is 1.0001**3000 for every element
    np.testing.assert_allclose(grad, np.full((2, 3), 1.0001 ** 3000), rtol=1e-3)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-4)


def test_a_long_chain_of_views_compiles_from_a_deep_stack():
    """Views (permute, reshape, slice, expand, pad) are index maps walked the same way."""
    def views(a):
        for _ in range(60):
            a = a.permute(1, 0).reshape(2, 3)
            a = tc.nn.functional.pad(a, (1, 1))[:, 1:4].unsqueeze(0).expand(2, 2, 3)[1]
            a = a * 1.01
        return a
    x = tc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 7)
    f = tc.compile(views, backend="llvm")
    old = sys.getrecursionlimit()

    def run():
        sys.setrecursionlimit(_depth() + HEADROOM)
        try:
            return f(x).numpy()
        finally:
            sys.setrecursionlimit(old)
    np.testing.assert_allclose(_nested(CALLER_DEPTH, run), views(x).numpy(), rtol=1e-5)


def _model_step(x):
    return tc.relu(x * 2.0 + 1.0) - x.exp()


def _mismatched_types(module, group, name, ranged=False):
    """The real emitter, then an instruction llvmlite refuses (an i32 + i64 add)."""
    fn = kernels.elementwise_kernel(module, group, name, ranged)
    block = fn.append_basic_block("bad")
    b = llvm_ir.IRBuilder(block)
    b.add(llvm_ir.Constant(llvm_ir.IntType(32), 1), llvm_ir.Constant(llvm_ir.IntType(64), 1))
    return fn


def test_an_llvmlite_error_in_a_kernel_emitter_is_a_lowering_error(monkeypatch):
    monkeypatch.setitem(backend.BUILDERS, "elementwise", _mismatched_types)
    monkeypatch.setitem(backend.RANGED, "elementwise", _mismatched_types)
    x = tc.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4))
    with pytest.raises(LoweringError) as info:
        tc.compile(_model_step, backend="llvm")(x)
    err = info.value
    assert isinstance(err, TracecompError) and isinstance(err, RuntimeError)
    assert isinstance(err.__cause__, ValueError)
    assert "Operands must be the same type, got (i32, i64)" in str(err.__cause__)
    text = str(err)
    first = text.splitlines()[0]
    assert "while emitting kernel" in first, text
    assert "ValueError: Operands must be the same type, got (i32, i64)" in first, text
    # the kernel's nodes, one line each, as the IR prints them, with the user's line
    assert "The kernel computes:" in text, text
    assert any("= mul(" in line and "f32[3,4]" in line for line in text.splitlines()), text
    assert "test_rel_errors_lowering.py" in text, text
    assert "bug in tracecomp" in text and 'backend="interp"' in text, text
    # the workaround it names runs
    got = tc.compile(_model_step, backend="interp")(x)
    np.testing.assert_allclose(got.numpy(), _model_step(x).numpy(), rtol=1e-6)


def test_an_llvm_parse_error_is_a_lowering_error(monkeypatch):
    """IR that LLVM's parser refuses (llvmlite raises RuntimeError) while compiling the
    module: the message says so and shows the graph."""
    real = backend.cache.compile_module

    def corrupted(module, names, *args, **kwargs):
        return real(str(module).replace("fmul", "fmull"), names, *args, **kwargs)
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    monkeypatch.setattr(backend.cache, "compile_module", corrupted)
    x = tc.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4))
    with pytest.raises(LoweringError) as info:
        tc.compile(_model_step, backend="llvm")(x)
    text = str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert not isinstance(info.value.__cause__, TracecompError)
    assert "while compiling the LLVM module" in text.splitlines()[0], text
    assert "The graph has" in text and "= mul(" in text, text
    assert 'backend="interp"' in text, text


def test_a_tracecomp_error_from_lowering_passes_through_unchanged(monkeypatch):
    own = LoweringError("llvm: no lowering for this node (a test)")

    def refuse(module, group, name, ranged=False):
        raise own
    monkeypatch.setitem(backend.BUILDERS, "elementwise", refuse)
    monkeypatch.setitem(backend.RANGED, "elementwise", refuse)
    x = tc.tensor(np.ones((3, 4), np.float32))
    with pytest.raises(LoweringError) as info:
        tc.compile(_model_step, backend="llvm")(x)
    assert info.value is own


def test_steps_runner_gives_a_python_steps_result_its_node_dtype(monkeypatch):
    """A matmul step (np.matmul in the steps runner) whose result came back float64 for a
    float32 node: the bias add kernel after it must read float32, not float64's bytes."""
    real = backend._matmul

    def widened(group):
        run = real(group)
        return lambda env: run(env).astype(np.float64)
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", "steps")
    monkeypatch.setattr(backend, "_matmul", widened)
    tc.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    x = tc.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    got = tc.compile(model, backend="llvm")(x)
    want = model(x)
    assert got.dtype == want.dtype == tc.float32
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_int64_linear_under_the_steps_runner_raises_as_eager(monkeypatch):
    """Issue 10's repro (int64 input to a float32 nn.Linear): the same DTypeError as eager
    and torch (matmul takes one dtype), never garbage, under the steps runner too."""
    monkeypatch.setenv("TRACECOMP_LLVM_RUNNER", "steps")
    model = nn.Linear(3, 2)
    x = tc.ones(2, 3, dtype=tc.int64)
    with pytest.raises(RuntimeError) as eager:
        model(x)
    with pytest.raises(RuntimeError) as compiled:
        tc.compile(model, backend="llvm")(x)
    assert type(compiled.value) is type(eager.value)
    assert "same dtype" in str(compiled.value)
