"""A compiled forward that replaces one of its module's parameters with a new nn.Parameter
(zalandoresearch/pytorch-vq-vae's VectorQuantizerEMA: `self._ema_w = nn.Parameter(self._ema_w
* decay + (1 - decay) * dw)` and `self._embedding.weight = nn.Parameter(...)` while training).

torch.compile breaks the graph at `nn.Parameter(...)` there. Here too: with fullgraph=False
the call warns of a graph break and the module ends each call holding the new parameters,
with torch's numbers; fullgraph=True raises a TraceError naming the parameter. Before, the
trace left a Parameter holding a graph value in the module, and the next read of it failed
with "reading `.flags` of a traced tensor's data"."""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _ema_quantizer(lib):
    """VectorQuantizerEMA's update, shortened: the codebook moves toward the inputs it
    takes, with the cluster sizes kept in a rebound buffer."""
    nn = lib.nn

    class EMA(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(5, 3)
            self.register_buffer("size", lib.ones(5))
            self.ema_w = nn.Parameter(lib.ones(5, 3))

        def forward(self, x):
            d = (x ** 2).sum(1, keepdim=True) + (self.embedding.weight ** 2).sum(1) - \
                2 * x @ self.embedding.weight.t()
            enc = lib.zeros(x.shape[0], 5).scatter_(1, d.argmin(1).unsqueeze(1), 1)
            quantized = enc @ self.embedding.weight
            if self.training:
                self.size = self.size * 0.9 + 0.1 * enc.sum(0)
                self.ema_w = nn.Parameter(self.ema_w * 0.9 + 0.1 * (enc.t() @ x))
                self.embedding.weight = nn.Parameter(self.ema_w / self.size.unsqueeze(1))
            return ((quantized.detach() - x) ** 2).mean(), quantized
    return EMA()


def _state(model):
    return {k: np.asarray(v.detach().numpy()) for k, v in model.state_dict().items()}


def test_a_replaced_parameter_breaks_the_graph_and_matches_torch():
    ref = _ema_quantizer(torch)
    model = _ema_quantizer(tc)
    model.load_state_dict({k: tc.tensor(v) for k, v in _state(ref).items()})
    compiled = tc.compile(model)
    rng = np.random.default_rng(0)
    for step in range(3):
        x = rng.standard_normal((6, 3)).astype(np.float32)
        if step == 0:
            with pytest.warns(UserWarning, match="replaced the parameter `ema_w`"):
                got = compiled(tc.tensor(x))
        else:
            got = compiled(tc.tensor(x))
        want = ref(torch.tensor(x))
        for g, w in zip(got, want):
            assert_close(g, w.detach(), rtol=1e-5, atol=1e-6)
        for k, w in _state(ref).items():
            assert_close(model.state_dict()[k], w, rtol=1e-5, atol=1e-6)
        assert isinstance(model.ema_w, tc.nn.Parameter) and model.ema_w.requires_grad


def test_fullgraph_refuses_a_replaced_parameter_and_leaves_the_module_as_it_was():
    model = _ema_quantizer(tc)
    before = _state(model)
    with pytest.raises(tc.TraceError, match="replaced the parameter `ema_w`"):
        tc.compile(model, fullgraph=True)(tc.ones(4, 3))
    for k, v in _state(model).items():          # readable: no graph value left in it
        np.testing.assert_array_equal(v, before[k])
    model.eval()                                # no replacement: compiles whole
    out = tc.compile(model, fullgraph=True)(tc.ones(4, 3))
    assert out[1].shape == (4, 3)
