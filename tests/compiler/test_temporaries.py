"""Tensors compiled code makes and then fills in place (`scores = zeros(n); scores[i] = ...`):
a temporary, whose updates are part of the graph. Its .detach(), .data or Variable(...)
(old code: hunkim's seq2seq attention wraps its zeros in Variable) is a temporary too; it
was taken for a tensor from outside, and the update refused as one that would be lost. So
was a Parameter made over a temporary (a layer built inside forward), whose init fills it,
and a tensor from a legacy constructor (torch.FloatTensor(n), torch.Tensor(n))."""
import numpy as np
import pytest
import torch

import tracecomp as tc
from tracecomp.autograd import Variable

from helpers import with_torch_weights


def _attention(lib, wrap):
    class Scores(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(4, 4)

        def forward(self, h, enc):
            scores = wrap(lib.zeros(len(enc)))
            for i in range(len(enc)):
                scores[i] = h.dot(self.lin(enc[i]))
            return lib.nn.functional.softmax(scores, dim=0)

    return Scores()


@pytest.mark.parametrize("wrap", ["detach", "data", "Variable"])
def test_a_temporary_filled_through_its_detached_twin_matches_torch(wrap):
    torch.manual_seed(0)
    ref = _attention(torch, lambda t: t)
    how = {"detach": lambda t: t.detach(), "data": lambda t: t.data, "Variable": Variable}
    compiled = tc.compile(with_torch_weights(_attention(tc, how[wrap]), ref))
    rng = np.random.default_rng(0)
    for _ in range(2):
        h, enc = rng.standard_normal(4).astype(np.float32), \
            rng.standard_normal((5, 4)).astype(np.float32)
        want = ref(torch.tensor(h), torch.tensor(enc))
        got = compiled(tc.tensor(h), tc.tensor(enc))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        got.sum().backward()
        want.sum().backward()
    np.testing.assert_allclose(compiled._orig_mod.lin.weight.grad.numpy(),
                               ref.lin.weight.grad.numpy(), rtol=1e-4, atol=1e-6)


class _LayerMadeInForward(tc.nn.Module):
    """graykode's BERT: `nn.Linear(n_heads * d_v, d_model)(context)` inside forward."""

    def __init__(self):
        super().__init__()
        self.lin = tc.nn.Linear(4, 4)

    def forward(self, x):
        return tc.nn.LayerNorm(4)(tc.nn.Linear(4, 4)(self.lin(x)))


def _losses_and_grads(model, x, seed):
    tc.manual_seed(seed)
    out = []
    for _ in range(3):
        loss = model(x).pow(3).sum()
        loss.backward()
        out.append((loss.item(), x.grad.numpy().copy()))
        x.grad = None
    return out


def test_a_layer_made_in_forward_draws_its_init_on_every_call_as_eager():
    # its Parameter wraps a temporary, so the init's random fill of it is traced: each call
    # draws new weights, the draws eager code makes from the same seed (torch.compile's too)
    tc.manual_seed(0)
    model = _LayerMadeInForward()
    x = tc.tensor(np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32),
                  requires_grad=True)
    want = _losses_and_grads(model, x, seed=1)
    got = _losses_and_grads(tc.compile(model), x, seed=1)
    assert want[0][0] != want[1][0]
    for (gl, gg), (wl, wg) in zip(got, want):
        np.testing.assert_allclose(gl, wl, rtol=1e-5)
        np.testing.assert_allclose(gg, wg, rtol=1e-4, atol=1e-5)


_LEGACY = {"size": lambda lib, n: lib.FloatTensor(n).zero_(),
           "data": lambda lib, n: lib.FloatTensor([0.0] * n),
           "Tensor": lambda lib, n: lib.Tensor(n).zero_()}


@pytest.mark.parametrize("make", sorted(_LEGACY))
def test_a_legacy_constructor_makes_a_temporary(make):
    # old attention code builds its scores with torch.FloatTensor(n) or torch.Tensor(n) and
    # fills them one by one: under compile that tensor is the code's own, as zeros(n) is
    def scores(lib, h, enc):
        out = _LEGACY[make](lib, len(enc))
        for i in range(len(enc)):
            out[i] = h.dot(enc[i])
        return lib.nn.functional.softmax(out, dim=0)

    compiled = tc.compile(lambda h, enc: scores(tc, h, enc))
    rng = np.random.default_rng(1)
    for _ in range(2):
        h, enc = rng.standard_normal(4).astype(np.float32), \
            rng.standard_normal((5, 4)).astype(np.float32)
        got_h, want_h = tc.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)
        got, want = compiled(got_h, tc.tensor(enc)), scores(torch, want_h, torch.tensor(enc))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        (got * got).sum().backward()
        (want * want).sum().backward()
        np.testing.assert_allclose(got_h.grad.numpy(), want_h.grad.numpy(), rtol=1e-4,
                                   atol=1e-6)


def test_a_from_numpy_tensor_filled_in_place_is_refused_naming_from_numpy():
    # not a temporary: it shares an array's memory, which the compiled call would not write
    # (the message spoke of module buffers, which had nothing to do with it)
    def fill(x):
        out = tc.from_numpy(np.zeros(2, np.float32))
        out[1] = x.sum()
        return out * 2

    with pytest.raises(tc.TraceError, match="from_numpy made.*torch.tensor\\(array\\)"):
        tc.compile(fill, fullgraph=True)(tc.arange(4.0))
