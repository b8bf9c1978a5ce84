"""`.item()` inside compiled code (tracing/number.py's item_number): a training step that
returns loss.item(), computes an accuracy from .item() or appends loss.item() to a list
works as eagerly (torch.compile breaks the graph there; here the number is computed in the
graph and given as a Python number after the call). A use that needs the value while
tracing (a branch, a format, an index) is a TraceError naming the line."""
import numpy as np
import pytest
import torch

import tracecomp as tc


def _trainer(lib):
    model = lib.nn.Linear(3, 2)
    with lib.no_grad():
        model.weight.copy_(lib.tensor([[0.1, -0.2, 0.3], [0.5, 0.1, -0.4]]))
        model.bias.fill_(0.05)
    opt = lib.optim.SGD(model.parameters(), 0.1)
    losses = []

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        loss = lib.nn.functional.cross_entropy(out, y)
        loss.backward()
        opt.step()
        correct = (out.argmax(1) == y).sum().item()
        losses.append(loss.item())
        return loss.item(), correct / len(y), {"correct": correct, "twice": loss.item() * 2}
    return step, losses


def test_a_step_returns_and_stores_item_numbers_as_eagerly():
    x = np.arange(12.0, dtype=np.float32).reshape(4, 3) / 10
    y = np.array([0, 1, 1, 0])
    eager, eager_losses = _trainer(torch)
    want = [eager(torch.tensor(x), torch.tensor(y)) for _ in range(4)]
    step, losses = _trainer(tc)
    compiled = tc.compile(step)
    got = [compiled(tc.tensor(x), tc.tensor(y)) for _ in range(4)]
    for g, w in zip(got, want):
        assert type(g[0]) is float and type(g[2]["correct"]) is int
        np.testing.assert_allclose(g[0], w[0], rtol=1e-6)
        assert g[1] == w[1] and g[2]["correct"] == w[2]["correct"]
        np.testing.assert_allclose(g[2]["twice"], w[2]["twice"], rtol=1e-6)
    assert all(type(v) is float for v in losses)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    assert compiled.compiles == 2     # the first call's parameters have no .grad yet;
    # the list the step appends to changes every call by the step's own doing: no guard


def test_item_of_each_dtype_gives_its_python_type():
    f = tc.compile(lambda x: (x.sum().item(), x.long().max().item(), (x > 1).any().item(),
                              x.double().mean().item() + 1))
    got = f(tc.arange(4.0))
    assert [type(v) for v in got] == [float, int, bool, float]
    assert got == (6.0, 3, True, 2.5)


def test_item_times_a_fed_number_is_fed_too():
    f = tc.compile(lambda x, beta: x.sum().item() * beta)
    got = [f(tc.ones(3), beta) for beta in (0.5, 0.25, 2.0, 4.0)]
    assert got == [1.5, 0.75, 6.0, 12.0]
    assert f.compiles <= 2      # the first value compiled in, then fed


@pytest.mark.parametrize("use", [
    lambda x: 1 if x.sum().item() > 1 else 0,
    lambda x: f"{x.sum().item():.3f}",
    lambda x: x[x.argmax().item()],
    lambda x: int(x.sum().item()),
    lambda x: tc.full((2,), x.sum().item()),
], ids=["branch", "format", "index", "int", "fill"])
def test_a_use_of_the_value_is_a_trace_error_naming_it(use):
    with pytest.raises(tc.TraceError, match=r"number \.item\(\) gave inside compiled code "
                                            r"as a value.*test_item_numbers\.py"):
        tc.compile(use, fullgraph=True)(tc.arange(4.0))


def test_fallback_eager_still_runs_such_code():
    with pytest.warns(UserWarning, match="running .*<lambda> eagerly"):
        f = tc.compile(lambda x: x * 2 if x.sum().item() > 1 else x, fallback="eager")
        assert f(tc.arange(4.0)).tolist() == [0.0, 2.0, 4.0, 6.0]
