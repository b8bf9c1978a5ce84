"""Complex values in training and under tracecomp.compile.

An FNO-style model (Linear lift -> SpectralConv2d: rfft2, complex einsum with complex
weights, irfft2, beside a 1x1 conv -> Linear) trains for 3 Adam steps with torch's
weights and matches torch's losses, gradients and weights, eagerly and under
compile(model): compiled code has no FFT (complex values elsewhere compile as pairs of reals:
tests/complex/test_complex_compiled.py), so the spectral layer breaks the
graph (with a warning, as torch.compile's graph breaks) and the modules around it still
compile. fullgraph=True turns that into a TraceError naming the op and the dtype.
"""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close


def _fno(lib):
    nn = lib.nn

    class SpectralConv2d(nn.Module):
        def __init__(self, cin, cout, m1, m2):
            super().__init__()
            self.m1, self.m2, self.cout = m1, m2, cout
            scale = 1 / (cin * cout)
            self.w1 = nn.Parameter(scale * lib.rand(cin, cout, m1, m2, dtype=lib.cfloat))
            self.w2 = nn.Parameter(scale * lib.rand(cin, cout, m1, m2, dtype=lib.cfloat))

        def forward(self, x):
            b, _, h, w = x.shape
            xf = lib.fft.rfft2(x)
            out = lib.zeros(b, self.cout, h, w // 2 + 1, dtype=lib.cfloat)
            m1, m2 = self.m1, self.m2
            out[:, :, :m1, :m2] = lib.einsum("bixy,ioxy->boxy", xf[:, :, :m1, :m2], self.w1)
            out[:, :, -m1:, :m2] = lib.einsum("bixy,ioxy->boxy", xf[:, :, -m1:, :m2], self.w2)
            return lib.fft.irfft2(out, s=(h, w))

    class FNO(nn.Module):
        def __init__(self, width=8, modes=3):
            super().__init__()
            self.lift = nn.Linear(3, width)
            self.spec = SpectralConv2d(width, width, modes, modes)
            self.pw = nn.Conv2d(width, width, 1)
            self.proj = nn.Linear(width, 1)

        def forward(self, x):           # x: (batch, h, w, 3)
            x = self.lift(x).permute(0, 3, 1, 2)
            x = lib.nn.functional.gelu(self.spec(x) + self.pw(x))
            return self.proj(x.permute(0, 2, 3, 1))

    return FNO()


def _train(lib, model, forward, x, y, steps=3):
    opt = lib.optim.Adam(model.parameters(), lr=1e-2)
    losses, grads = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((forward(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
        loss.backward()
        grads.append({k: p.grad.detach().clone() for k, p in model.named_parameters()})
        opt.step()
        losses.append(loss.item())
    return losses, grads


@pytest.mark.parametrize("compiled", [False, True])
def test_fno_trains_as_torch(compiled):
    torch.manual_seed(0)
    ref = _fno(torch)
    model = _fno(tc)
    model.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    y = rng.standard_normal((2, 8, 8, 1)).astype(np.float32)
    want_losses, want_grads = _train(torch, ref, ref, x, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forward = tc.compile(model) if compiled else model
        got_losses, got_grads = _train(tc, model, forward, x, y)
    np.testing.assert_allclose(got_losses, want_losses, rtol=2e-5)
    for step, (got, want) in enumerate(zip(got_grads, want_grads)):
        for name in want:
            assert_close(got[name], want[name], rtol=1e-4, atol=1e-6,
                         what=f"step {step} grad of {name}")
    for name, p in ref.named_parameters():
        assert_close(dict(model.named_parameters())[name], p, rtol=1e-4, atol=1e-6,
                     what=f"{name} after 3 steps")
    breaks = [str(w.message) for w in caught if "graph break" in str(w.message)]
    if compiled:
        assert any("fft_r2c" in b and "complex64" in b and "SpectralConv2d" in b
                   for b in breaks), breaks
        assert any("each module it calls runs compiled" in b for b in breaks)
    else:
        assert not breaks


def test_fullgraph_names_the_op_and_the_complex_dtype():
    f = tc.compile(lambda x: tc.fft.rfft(x).abs(), fullgraph=True)
    with pytest.raises(tc.TraceError, match=r"fft_r2c: .*complex tensors \(complex64\)"):
        f(tc.ones(4))
    with pytest.raises(tc.TraceError, match=r"fft_r2c: .*FFTs run eagerly"):
        f(tc.ones(4))
    g = tc.compile(lambda z: tc.sin(z * 2), fullgraph=True)
    with pytest.raises(tc.TraceError, match=r"sin: .*complex128.*sin has no compiled form"):
        g(tc.ones(2, dtype=tc.complex128))


def test_default_compile_breaks_the_graph_and_gives_eagers_numbers():
    x = tc.arange(6.0)
    f = tc.compile(lambda x: tc.fft.irfft(tc.fft.rfft(x) * (1 + 2j), n=6) * 3 + x)
    with pytest.warns(UserWarning, match="graph break.*fft_r2c"):
        got = f(x)
    want = tc.fft.irfft(tc.fft.rfft(x) * (1 + 2j), n=6) * 3 + x
    assert np.array_equal(got.numpy(), want.numpy())
    z = tc.tensor([1 + 2j, 3j])
    with pytest.warns(UserWarning, match="graph break.*sin.*complex64"):
        assert tc.compile(lambda z: tc.sin(z * 2))(z).tolist() == tc.sin(z * 2).tolist()
