"""Dtype discipline at the Python steps of compiled code (issue 10 item 4): native code
reads a step's result through a raw pointer as the node's dtype and shape, so a float64
numpy result (np.matmul of int64 and float32) must never be read as float32 memory.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp import nn
from tracecomp.codegen.llvm.runtime.runner import conform
from tracecomp.errors import IRError
from tracecomp.ir import Graph


def _node(shape, dtype):
    return Graph("g").add_input("x", shape, np.dtype(dtype))


def test_conform_casts_to_the_node_dtype():
    node = _node((2, 3), np.float32)
    out = conform(np.arange(6, dtype=np.float64).reshape(2, 3), node, {node: "%x"})
    assert out.dtype == np.float32 and out.shape == (2, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3))


def test_conform_makes_a_transposed_result_contiguous():
    node = _node((3, 2), np.float32)
    src = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = conform(src.T, node, {node: "%x"})
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, src.T)


def test_conform_strict_refuses_another_dtype():
    node = _node((2, 3), np.float32)
    with pytest.raises(IRError, match=r"float64\[2, 3\] where the graph says float32\[2, 3\]"):
        conform(np.zeros((2, 3)), node, {node: "%x"}, strict=True)


def test_conform_refuses_another_size_always():
    """Native code would read past a smaller array: never cast, always an error."""
    node = _node((2, 3), np.float32)
    with pytest.raises(IRError, match="disagree"):
        conform(np.zeros(5, np.float32), node, {node: "%x"})


def _float64_matmul(monkeypatch, epilogue=True):
    """The llvm backend's numpy matmul step made to return float64 for float32 operands,
    as np.matmul does for int64 and float32 ones. A batched matmul that is not gemm-shaped
    (batch (2,) against (1,)) runs as that Python step between native calls."""
    from tracecomp.codegen.llvm import backend
    numpy_matmul = backend._matmul
    monkeypatch.setattr(backend, "_matmul",
                        lambda group: lambda env: numpy_matmul(group)(env).astype(np.float64))
    a = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((1, 4, 5)).astype(np.float32)
    if epilogue:        # native code reads the step's result
        return tc.compile(lambda a, b: (a @ b) * 2 + 1), a, b, np.matmul(a, b) * 2 + 1
    return tc.compile(lambda a, b: a @ b), a, b, np.matmul(a, b)   # the result is the output


def test_verifier_catches_a_python_step_of_the_wrong_dtype(monkeypatch):
    """With TRACECOMP_VERIFY=1 (the tests), an impl whose result disagrees with its dtype
    rule is an error, not a silent cast."""
    f, a, b, _ = _float64_matmul(monkeypatch)
    with pytest.raises(IRError, match=r"(?s)float64\[2, 3, 5\] where the graph says "
                                      r"float32\[2, 3, 5\].*matmul"):
        f(tc.tensor(a), tc.tensor(b))


@pytest.mark.parametrize("epilogue", [True, False], ids=["read_natively", "as_output"])
def test_python_step_result_cast_without_the_verifier(monkeypatch, epilogue):
    """Without the verifier the float64 result is cast: not read as float32 memory, and not
    returned as float64 where eager returns float32."""
    monkeypatch.setenv("TRACECOMP_VERIFY", "0")      # read when the runner is built
    f, a, b, want = _float64_matmul(monkeypatch, epilogue)
    got = f(tc.tensor(a), tc.tensor(b))
    assert got.dtype == tc.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_mixed_dtype_matmul_matches_eager_without_the_verifier(monkeypatch):
    monkeypatch.setenv("TRACECOMP_VERIFY", "0")
    a = tc.tensor(np.arange(6).reshape(2, 3))
    b = tc.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2))
    try:
        want = a @ b
    except RuntimeError:
        pytest.skip("eager matmul refuses mixed dtypes (as torch): nothing to match")
    got = tc.compile(lambda a, b: a @ b)(a, b)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_linear_on_int64_input_raises_as_torch(compiled):
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.nn.Linear(3, 2)(torch.ones(2, 3, dtype=torch.long))
    lin = nn.Linear(3, 2)
    f = tc.compile(lin) if compiled else lin
    with pytest.raises(RuntimeError, match="same dtype"):
        f(tc.ones(2, 3, dtype=tc.int64))
