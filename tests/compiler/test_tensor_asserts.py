"""`assert <tensor>` inside compiled code (tracing/asserts.py): as torch.compile does, the
assert becomes a run-time guard instead of a TraceError. It must pass where eager passes,
raise torch.compile's RuntimeError with the assert's message where it fails, on the same
compiled code (no recompile), and keep every other truth test on a tensor a TraceError.

PYTEST_DONT_REWRITE: pytest rewrites a test module's asserts into other bytecode, and the
asserts under test here must stay Python's own."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.errors import TraceError


def _checked_sum(lib):
    def f(a, b):
        assert (a == b).all(), "inputs differ"
        assert not (a < -100).any(), "too small"
        return (a * b + 1).sum()
    return f


def test_assert_passes_and_fails_as_in_torch_compile():
    f = tc.compile(_checked_sum(tc))
    ft = torch.compile(_checked_sum(torch), backend="eager")
    x = np.arange(4, dtype=np.float32)
    assert f(tc.tensor(x), tc.tensor(x)).item() == ft(torch.tensor(x), torch.tensor(x)).item()
    for b, message in ((x + 1, "inputs differ"), (x - 200, "inputs differ")):
        with pytest.raises(RuntimeError, match=message):
            ft(torch.tensor(x), torch.tensor(b))
        with pytest.raises(RuntimeError, match=message):
            f(tc.tensor(x), tc.tensor(b))
    small = x - 200
    with pytest.raises(RuntimeError, match="too small"):
        f(tc.tensor(small), tc.tensor(small))
    assert f.compiles == 1          # the guard runs in the compiled code, every call
    assert f(tc.tensor(x), tc.tensor(x)).item() == pytest.approx(float((x * x + 1).sum()))


def test_a_message_that_is_not_a_constant_names_the_line():
    @tc.compile
    def f(a):
        assert a.sum() > 0, f"sum is {a.sum()}"     # not evaluated in the trace
        return a * 2

    assert f(tc.ones(3)).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match=r"assertion failed at .*test_tensor_asserts.py"):
        f(-tc.ones(3))


def test_assert_in_a_trained_module():
    """A forward that checks its input (seq2seq models check their lengths): the guard
    sits in the forward graph, and the backward is unchanged."""
    class Net(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tc.nn.Linear(3, 2)

        def forward(self, x):
            assert (x.abs() < 10).all(), "input out of range"
            return self.fc(x)

    torch.manual_seed(0)
    net = Net()
    compiled = tc.compile(net)
    x = tc.tensor(np.random.RandomState(0).randn(4, 3).astype(np.float32))
    compiled(x).sum().backward()
    want = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    net(x).sum().backward()
    for a, b in zip(want, net.parameters()):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="input out of range"):
        compiled(x * 100)


def test_other_truth_tests_stay_trace_errors():
    @tc.compile(fullgraph=True)
    def branch(a):
        if (a > 0).all():
            return a
        return -a

    with pytest.raises(TraceError, match="Python bool"):
        branch(tc.ones(2))

    @tc.compile(fullgraph=True)
    def ambiguous(a):
        assert a > 0
        return a

    with pytest.raises(RuntimeError, match="ambiguous"):
        ambiguous(tc.ones(2))
