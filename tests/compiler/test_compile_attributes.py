"""Module state that compiled code assigns, and the ways torch programs call compile.

A forward that rebinds a module attribute or a buffer (`self.stat = 0.9 * self.stat + ...`)
leaves the module holding the computed tensor after every compiled call, exactly as an
eager call does; the next call (any batch size) reads it. Python numbers, strings and
tuples a compiled forward sets (a counter, a cache position, a shape, a loss's .item()) are
set after every call as eagerly; an object it makes is refused with a TraceError that names
the attribute. `@compile` on a
module class compiles every instance's forward; torch.compile's tuning keywords are
accepted.
"""
import logging

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn as nn

from helpers import assert_close


class RunningStat(nn.Module):
    """A statistic kept as a plain attribute, and one kept as a buffer but rebound."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.stat = tc.zeros(4)
        self.register_buffer("count", tc.zeros(()))

    def forward(self, x):
        self.stat = 0.9 * self.stat + 0.1 * x.mean(0)
        self.count = self.count + 1
        return self.lin(x) + self.stat.sum()


def _twins(cls):
    eager, twin = cls(), cls()
    twin.load_state_dict(eager.state_dict())
    for name, v in vars(eager).items():
        if isinstance(v, tc.Tensor):
            setattr(twin, name, v.clone())
    return eager, twin


def test_rebound_attribute_and_buffer_follow_eager_across_batch_sizes(backend):
    eager, twin = _twins(RunningStat)
    compiled = tc.compile(twin, backend=backend)
    for b in (8, 8, 5, 8):
        x = tc.randn(b, 4)
        assert_close(compiled(x), eager(x), what=f"output at batch {b}")
        assert isinstance(twin.stat._data, np.ndarray), "a graph value leaked into the module"
        assert_close(twin.stat, eager.stat, what="attribute stat")
        assert_close(twin.count, eager.count, what="buffer count")
    assert "count" in dict(twin.named_buffers()), "a rebound buffer stays a buffer"
    assert float(twin.count) == 4.0


class KeepsState(nn.Module):
    """An RNN-style state tuple kept between calls, detached as language models do."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(6, 3)
        self.state = None

    def forward(self, x):
        h = self.state[0] if self.state is not None else tc.zeros(x.shape[0], 3)
        h = tc.tanh(self.cell(tc.cat([x, h], 1)))
        self.state = (h.detach(), None)
        return h


def test_tuple_state_attribute_is_carried_between_calls():
    eager, twin = _twins(KeepsState)
    compiled = tc.compile(twin)
    for step in range(4):
        x = tc.randn(2, 3)
        assert_close(compiled(x), eager(x), what=f"step {step}")
        assert twin.state[1] is None and not twin.state[0].requires_grad
        assert_close(twin.state[0], eager.state[0], what=f"state after step {step}")


class KeepsPair(nn.Module):
    """An RNN tutorial's `self.hidden = (h, c)`: a tuple of two tensors, then one more"""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.hidden = (tc.zeros(2, 3), tc.zeros(2, 3))

    def forward(self, x):
        h = self.lin(x + self.hidden[0]).tanh()
        self.hidden = (h, self.hidden[1] + h * 2)
        self.last = h.sum()
        return h.sum(1)


def test_tuple_of_tensors_and_a_later_attribute_are_written_back():
    eager, twin = _twins(KeepsPair)
    compiled = tc.compile(twin)
    for step in range(3):
        x = tc.randn(2, 3)
        with tc.no_grad():
            assert_close(compiled(x), eager(x), what=f"step {step}")
        for k in range(2):
            assert_close(twin.hidden[k], eager.hidden[k], what=f"hidden[{k}], step {step}")
        assert_close(twin.last, eager.last, what=f"last, step {step}")


class KeepsActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        self.hidden = self.lin(x).relu()        # kept for a later loss, with its history
        return self.hidden.sum(1)


def test_assigned_tensor_keeps_its_gradient():
    eager, twin = _twins(KeepsActivation)
    compiled = tc.compile(twin)
    x = tc.randn(5, 3)
    compiled(x)
    eager(x)
    assert twin.hidden.requires_grad
    (twin.hidden * 3).sum().backward()
    (eager.hidden * 3).sum().backward()
    for (name, p), q in zip(twin.named_parameters(), eager.parameters()):
        assert_close(p.grad, q.grad, what=f"{name}.grad")


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * 2


def test_a_python_counter_the_forward_increments_keeps_counting():
    model = Counter()
    compiled = tc.compile(model)
    for k in range(1, 4):
        assert_close(compiled(tc.ones(2)), tc.full((2,), 2.0))
        assert model.calls == k


def kv_cache(lib):
    """A cache written at a Python position the forward moves on (LLM generation code),
    built on lib (tracecomp or torch)."""

    class KVCache(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = lib.nn.Linear(4, 4)
            self.register_buffer("keys", lib.zeros(16, 4))
            self.pos = 0
            self.last_shape = None

        def forward(self, x):
            n = x.shape[0]
            self.keys[self.pos:self.pos + n] = self.proj(x)
            self.pos += n
            self.last_shape = x.shape
            return self.keys[:self.pos].sum(0)

    return KVCache()


def test_a_position_the_forward_moves_on_follows_torch():
    import torch as pt
    ours, theirs = kv_cache(tc), kv_cache(pt)
    ours.load_state_dict({k: tc.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    compiled = tc.compile(ours)
    with tc.no_grad(), pt.no_grad():
        for n in (2, 1, 3, 2):
            x = np.random.default_rng(n).standard_normal((n, 4)).astype(np.float32)
            assert_close(compiled(tc.tensor(x)), theirs(pt.tensor(x)).numpy(), atol=1e-5)
            assert ours.pos == theirs.pos
            assert tuple(ours.last_shape) == tuple(theirs.last_shape)
    assert_close(ours.keys, theirs.keys.numpy(), atol=1e-6)


class LastLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.last_loss = None

    def forward(self, x):
        loss = self.lin(x).pow(2).mean()
        self.last_loss = loss.item()
        return loss


def test_a_number_item_gave_kept_as_an_attribute_is_each_calls():
    eager, twin = _twins(LastLoss)
    compiled = tc.compile(twin)
    for _ in range(3):
        x = tc.randn(5, 3)
        compiled(x).backward()
        eager(x).backward()
        assert isinstance(twin.last_loss, float)
        assert twin.last_loss == pytest.approx(eager.last_loss, rel=1e-6)
    assert_close(twin.lin.weight.grad, eager.lin.weight.grad, atol=1e-5)


class Config:
    pass


class MakesAnObject(nn.Module):
    def forward(self, x):
        self.cfg = Config()
        return x * 2


def test_an_object_the_forward_makes_is_refused_with_its_name():
    model = MakesAnObject()
    with pytest.raises(tc.TraceError, match=r"attribute `cfg` from nothing"):
        tc.compile(model, fullgraph=True)(tc.randn(2))
    assert not hasattr(model, "cfg"), "tracing must not leave its changes behind"


class Clears(nn.Module):
    def __init__(self):
        super().__init__()
        self.cache = tc.ones(2)

    def forward(self, x):
        out = x + self.cache
        self.cache = None
        return out


def test_attribute_set_to_none_is_replayed():
    model = Clears()
    out = tc.compile(model)(tc.zeros(2))
    assert model.cache is None
    assert_close(out, tc.ones(2))


def test_attribute_shape_change_recompiles_with_the_reason(caplog, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "1")

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = tc.ones(3)

        def forward(self, x):
            return x * self.w

    model = Scale()
    compiled = tc.compile(model)
    with caplog.at_level(logging.INFO, logger="tracecomp"):
        assert_close(compiled(tc.ones(3)), tc.ones(3))
        model.w = tc.full((3,), 2.0)            # a new value: read, no recompile
        assert_close(compiled(tc.ones(3)), tc.full((3,), 2.0))
        assert compiled._compiled.compiles == 1
        model.w = tc.ones(1)
        assert_close(compiled(tc.ones(3)), tc.ones(3))
    assert compiled._compiled.compiles == 2
    assert any("w dim 0: 3 -> 1" in r.getMessage() for r in caplog.records)


# --- compile on a class, and torch.compile's keywords --------------------------------------
def _net_class():
    class Net(nn.Module):
        def __init__(self, n=4):
            super().__init__()
            self.fc = nn.Linear(n, 2)

        def forward(self, x):
            return self.fc(x).relu()

    return Net


def test_compile_on_a_class_compiles_each_instance():
    Net = _net_class()
    plain = Net()
    Compiled = tc.compile(Net, fullgraph=True)
    assert Compiled is Net
    a, b = Net(), Net(3)
    assert a is not b and b.fc.in_features == 3
    a.load_state_dict(plain.state_dict())
    x = tc.randn(5, 4)
    assert_close(a(x), Net.forward(plain, x))
    assert b(tc.randn(2, 3)).shape == (2, 2)

    def peek(self, x):
        return x * float(x.sum())          # needs a value: only a traced forward refuses
    Net.forward = peek
    with pytest.raises(tc.TraceError):
        Net()(tc.randn(2))


def test_compiled_class_inside_a_compiled_model_is_traced_inline():
    Net = tc.compile(_net_class())
    outer = nn.Sequential(Net(), nn.Linear(2, 1))
    eager = nn.Sequential(_net_class()(), nn.Linear(2, 1))
    eager.load_state_dict(outer.state_dict())
    x = tc.randn(3, 4)
    assert_close(tc.compile(outer)(x), eager(x))


def test_torch_compile_keywords():
    model = nn.Linear(3, 2)
    x = tc.randn(4, 3)
    fast = tc.compile(model, mode="max-autotune", fullgraph=True, dynamic=False)
    assert_close(fast(x), model(x))
    assert tc.compile(model, disable=True) is model
    with pytest.raises(TypeError, match="unexpected keyword argument 'mdoe'"):
        tc.compile(model, mdoe="reduce-overhead")


def test_changing_a_tuple_hyperparameter_recompiles_the_step():
    """Adam's betas live in a tuple; a scheduler (OneCycleLR) changes them every step."""
    def make():
        model = nn.Linear(3, 1)
        return model, tc.optim.Adam(model.parameters(), lr=0.1)

    eager_model, eager_opt = make()
    model, opt = make()
    model.load_state_dict(eager_model.state_dict())
    x, y = tc.randn(8, 3), tc.randn(8, 1)

    def step(m, o):
        o.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        o.step()
        return loss

    compiled = tc.compile(lambda: step(model, opt))
    for k in range(4):
        for o in (opt, eager_opt):
            o.param_groups[0]["betas"] = (0.9 - 0.1 * k, 0.99)
        assert_close(compiled(), step(eager_model, eager_opt), what=f"loss at step {k}")
    assert_close(model.weight, eager_model.weight, rtol=1e-5, atol=1e-6)


def _kept_weights(lib, how):
    """d2l's attention models keep each block's weights for a plot, in a list the forward
    builds first and then fills (TransformerEncoder), appends to (Bahdanau's decoder), or
    nests (TransformerDecoder)."""
    class Att(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(4, 4)

        def forward(self, x):
            self.weights = self.lin(x).softmax(-1)
            return self.weights @ x

    class Model(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.blks = lib.nn.Sequential(Att(), Att())

        def forward(self, x):
            if how == "filled":
                self.kept = [None] * len(self.blks)
            elif how == "appended":
                self.kept = []
            else:
                self.kept = [[None] * len(self.blks) for _ in range(2)]
            for i, blk in enumerate(self.blks):
                x = blk(x)
                if how == "filled":
                    self.kept[i] = blk.weights
                elif how == "appended":
                    self.kept.append(blk.weights)
                else:
                    self.kept[0][i] = self.kept[1][i] = blk.weights
            return x
    return Model()


@pytest.mark.parametrize("how", ["filled", "appended", "nested"])
@pytest.mark.parametrize("eager_first", [False, True])
def test_a_list_attribute_the_forward_builds_and_fills(how, eager_first):
    """Reading back what the forward itself put there is no read from outside (it was
    guarded, so every call recompiled: 'compiled 4 times in one call'), and a nested list
    of tensors is written back as a flat one is; each call's weights are eager's."""
    torch = pytest.importorskip("torch")
    ours, theirs = _kept_weights(tc, how), _kept_weights(torch, how)
    ours.load_state_dict({k: tc.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    compiled = tc.compile(ours)
    for step in range(4):
        x = np.random.default_rng(step).standard_normal((2, 4, 4)).astype(np.float32)
        if eager_first and step == 0:
            ours(tc.tensor(x))
        assert_close(compiled(tc.tensor(x)), theirs(torch.tensor(x)), rtol=1e-5, atol=1e-6)
        flat = (lambda k: [w for row in k for w in row]) if how == "nested" else list
        for a, b in zip(flat(ours.kept), flat(theirs.kept)):
            assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)
    # the weights' new tensors are read from the second call on: one compile more, no loop
    assert compiled._compiled.compiles <= 2


class Policy(nn.Module):
    """pytorch/examples' reinforce: the caller appends each step's log-probability to a
    list on the module, which the forward never reads (the loss outside does)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.saved_log_probs = []

    def forward(self, x):
        return self.fc(x).softmax(1)


def test_a_list_attribute_the_forward_never_reads_does_not_compile_again():
    eager, twin = _twins(Policy)
    compiled = tc.compile(twin)
    for _ in range(10):
        x = tc.randn(1, 4)
        for model, run in ((eager, eager), (twin, compiled)):
            probs = run(x)
            model.saved_log_probs.append(probs.log()[0, 0])
    assert compiled._compiled.compiles <= 2, "one more for the list's first tensor at most"
    loss = sum(twin.saved_log_probs)
    loss.backward()
    sum(eager.saved_log_probs).backward()
    assert_close(twin.fc.weight.grad, eager.fc.weight.grad, atol=1e-5)


class Memory(nn.Module):
    """A list attribute the forward does read: its latest tensor is each call's."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.memory = []

    def forward(self, x):
        out = self.fc(x)
        if self.memory:
            out = out + self.memory[-1]
        return out


def test_a_list_attribute_the_forward_reads_is_read_each_call():
    eager, twin = _twins(Memory)
    compiled = tc.compile(twin)
    for k in range(4):
        x = tc.randn(2, 3)
        assert_close(compiled(x), eager(x), atol=1e-6)
        for model in (eager, twin):
            model.memory.append(tc.full((2, 3), float(k)))
