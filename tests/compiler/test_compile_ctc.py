"""ctc_loss under tracecomp.compile, on every CPU backend. It is one primitive whose numpy
impl runs as a host step between native calls (as rnn_scan's does): its lengths may be
tensors the compiled graph takes as inputs, so new lengths reuse the compiled code, and
their values are checked when it runs. Values and gradients must be torch's."""
import numpy as np
import pytest
import torch

import tracecomp as tc

RNG = np.random.default_rng(0)


T, N, C = 10, 3, 5
TARGETS = RNG.integers(1, C, (N, 4))
# each call's (input_lengths, target_lengths); the last cannot align sequence 1 (infinite)
LENGTHS = [([10, 8, 9], [4, 2, 3]), ([7, 10, 3], [1, 4, 0]), ([10, 2, 6], [4, 4, 2])]


def _ctc(lib, reduction, zero_infinity):
    def loss(x, targets, il, tl):
        return lib.nn.functional.ctc_loss(x.log_softmax(2), targets, il, tl,
                                          reduction=reduction, zero_infinity=zero_infinity)
    return loss


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_loss_compiled_matches_torch_for_new_lengths_without_recompiling(backend,
                                                                              reduction):
    compiled = tc.compile(_ctc(tc, reduction, True), backend=backend)
    for k, (il, tl) in enumerate(LENGTHS):
        logits = RNG.standard_normal((T, N, C)).astype(np.float32)
        x, xt = tc.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        got = compiled(x, tc.tensor(TARGETS), tc.tensor(il), tc.tensor(tl))
        want = _ctc(torch, reduction, True)(xt, torch.tensor(TARGETS), torch.tensor(il),
                                            torch.tensor(tl))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=str(k))
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=str(k))
    assert compiled.compiles == 1
    ops = {n.op for n in compiled.graphs["simplified"].nodes}
    assert "ctc_loss" in ops, sorted(ops)


def test_ctc_loss_with_sequence_lengths_compiles_them_as_constants(backend):
    compiled = tc.compile(lambda x, t: tc.nn.functional.ctc_loss(
        x.log_softmax(2), t, (10, 8, 9), (4, 2, 3), reduction="sum"), backend=backend)
    logits = RNG.standard_normal((T, N, C)).astype(np.float32)
    x, xt = tc.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    got = compiled(x, tc.tensor(TARGETS))
    want = torch.nn.functional.ctc_loss(xt.log_softmax(2), torch.tensor(TARGETS), (10, 8, 9),
                                        (4, 2, 3), reduction="sum")
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    got.backward()
    want.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_compiled_ctc_loss_checks_the_lengths_when_it_runs(backend):
    compiled = tc.compile(_ctc(tc, "mean", False), backend=backend)
    x = tc.tensor(RNG.standard_normal((T, N, C)).astype(np.float32))
    compiled(x, tc.tensor(TARGETS), tc.tensor([10, 8, 9]), tc.tensor([4, 2, 3]))
    with pytest.raises(RuntimeError, match=r"Expected input_lengths to have value at most 10, "
                                           r"but got value 11"):
        compiled(x, tc.tensor(TARGETS), tc.tensor([10, 11, 9]), tc.tensor([4, 2, 3]))
    with pytest.raises(RuntimeError, match=r"Expected tensor to have size at least 5 at "
                                           r"dimension 1, but got size 4 for argument #2"):
        compiled(x, tc.tensor(TARGETS), tc.tensor([10, 8, 9]), tc.tensor([4, 5, 3]))


def test_a_compiled_ctc_training_step_follows_eager_over_varying_lengths():
    """A frame classifier trained with CTC on sequences of several lengths: the compiled
    step's losses and weights follow the eager step's."""
    def build():
        tc.manual_seed(0)
        return tc.nn.Linear(4, C)

    def stepper(model):
        opt = tc.optim.SGD(model.parameters(), lr=0.1)

        def step(x, targets, il, tl):
            opt.zero_grad()
            loss = tc.nn.functional.ctc_loss(model(x).log_softmax(2), targets, il, tl)
            loss.backward()
            opt.step()
            return loss
        return step

    eager, model = build(), build()
    eager_step, step = stepper(eager), tc.compile(stepper(model))
    for k, steps in enumerate([8, 8, 11, 9, 12]):
        x = tc.tensor(RNG.standard_normal((steps, N, 4)).astype(np.float32))
        args = (x, tc.tensor(TARGETS), tc.tensor([steps, steps - 1, steps - 3]),
                tc.tensor([4, 3, 2]))
        want, got = eager_step(*args).item(), step(*args).item()
        assert got == pytest.approx(want, rel=2e-5), f"step {k}: {got} | eager {want}"
    for a, b in zip(eager.parameters(), model.parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-4,
                                   atol=1e-6)
