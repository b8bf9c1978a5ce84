"""Recurrent layers fed sequences of varying length under tracecomp.compile. A first trace
unrolls the time steps (compiled kernels per step); once a call's tensors changed only in
size, the layers trace as one rnn_scan node (ops/rnn_scan.py), whose graph generalizes to
a dynamic one (compiler/dynamic.py): a few compiles for any number of lengths, where an
unrolled graph is one per length. Losses and weights must follow the eager step's."""
import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn.functional as F

LENGTHS = [2, 3, 9, 6, 12, 8, 10, 11]


class Tagger(tc.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = getattr(tc.nn, cell)(6, 8, 2, batch_first=True, bidirectional=True)
        self.head = tc.nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


def _pair(cell):
    tc.manual_seed(0)
    eager = Tagger(cell)
    compiled = Tagger(cell)
    compiled.load_state_dict(eager.state_dict())
    return eager, compiled


def _batches():
    rng = np.random.RandomState(0)
    return [(tc.tensor(rng.randn(3, n, 6).astype(np.float32)),
             tc.tensor(rng.randint(0, 3, (3 * n,)))) for n in LENGTHS]


def _stepper(model):
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, 3), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_whole_step_over_varying_lengths(cell):
    eager, model = _pair(cell)
    eager_step, step = _stepper(eager), tc.compile(_stepper(model))
    for k, (x, y) in enumerate(_batches()):
        want, got = eager_step(x, y).item(), step(x, y).item()
        assert got == pytest.approx(want, rel=2e-5), f"{cell} step {k}: {got} | eager {want}"
    for (name, a), b in zip(eager.named_parameters(), model.parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)
    # the first length unrolled, the second added the optimizer's state, the third traced
    # rnn_scan, the fourth made it dynamic: the other lengths ran that graph
    assert step.compiles == 4, step.compiles


def test_whole_step_over_varying_batches_and_lengths():
    """Batch and length both change: one dynamic graph in two symbols serves them (the
    flat gradient of the LSTM's packed weights is 96*s0*s1 + 48*s0 + ...: three terms, a
    third size pins it down)."""
    eager, model = _pair("LSTM")
    eager_step, step = _stepper(eager), tc.compile(_stepper(model))
    rng = np.random.RandomState(2)
    for k, (b, n) in enumerate([(3, 2), (3, 3), (4, 9), (2, 6), (5, 12), (6, 4), (3, 10)]):
        x = tc.tensor(rng.randn(b, n, 6).astype(np.float32))
        y = tc.tensor(rng.randint(0, 3, (b * n,)))
        want, got = eager_step(x, y).item(), step(x, y).item()
        assert got == pytest.approx(want, rel=2e-5), f"step {k}: {got} | eager {want}"
    for (name, a), b in zip(eager.named_parameters(), model.parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)
    # as above to the fourth (at 2 x 6, s0 and s1 from two sizes); the fifth corrects
    # what two sizes guessed: the last two ran that graph (before: a compile each)
    assert step.compiles == 5, step.compiles


def test_compiled_module_over_varying_lengths():
    eager, model = _pair("LSTM")
    compiled = tc.compile(model)
    for x, _ in _batches():
        np.testing.assert_allclose(compiled(x).detach().numpy(), eager(x).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert compiled._compiled.compiles <= 3, compiled._compiled.compiles


def test_a_fixed_length_still_unrolls():
    """The same length every call: the steps unroll (kernels per step), one compile."""
    _, model = _pair("GRU")
    compiled = tc.compile(model)
    x = _batches()[0][0]
    for _ in range(3):
        compiled(x)
    assert compiled._compiled.compiles == 1
    ops = {n.op for n in compiled._compiled.graphs["simplified"].nodes}
    assert "rnn_scan" not in ops and "matmul" in ops


def test_packed_sequences_of_new_lengths_trace_rnn_scan():
    """A PackedSequence's batch sizes are sizes: once they change, the layer traces as one
    rnn_scan node instead of unrolling every time step again (on a bidirectional LSTM over
    ~30 steps, 2 s a compile unrolled, 0.14 s with rnn_scan). Gradients follow eager's."""
    from tracecomp.nn.utils.rnn import pack_padded_sequence
    eager, model = _pair("LSTM")
    compiled = tc.compile(model.rnn)
    rng = np.random.RandomState(1)
    for k, lengths in enumerate([[3, 2, 1], [5, 5, 3], [7, 3, 1], [4, 2, 2]]):
        x = rng.randn(3, lengths[0], 6).astype(np.float32)
        outs = []
        for layer in (eager.rnn, compiled):
            packed = pack_padded_sequence(tc.tensor(x, requires_grad=True), lengths,
                                          batch_first=True)
            out, (h, c) = layer(packed)
            (out.data.square().sum() + h.sum()).backward()
            outs.append(out.data.detach().numpy())
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6, err_msg=str(k))
    for a, b in zip(eager.rnn.parameters(), model.rnn.parameters()):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-5)
    ops = {n.op for n in compiled._compiled.graphs["simplified"].nodes}
    assert "rnn_scan" in ops, sorted(ops)
