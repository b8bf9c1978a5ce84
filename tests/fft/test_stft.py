"""torch.stft / torch.istft against torch 2.13: values, dtypes and gradients over window
lengths, hops, centering and padding modes, normalization, one- and two-sided spectra,
batched and single signals; istft's lengths and torch's errors."""
import warnings

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

RNG = np.random.default_rng(0)
SIG = RNG.standard_normal((2, 40)).astype(np.float32)
ZSIG = (RNG.standard_normal(30) + 1j * RNG.standard_normal(30)).astype(np.complex64)

STFT = {
    "hann": dict(n_fft=16, hop_length=4, window="hann"),
    "defaults": dict(n_fft=8, window="ones"),
    "short_window": dict(n_fft=16, hop_length=3, win_length=10, window="hamming"),
    "no_center": dict(n_fft=12, hop_length=5, center=False, window="hamming"),
    "constant_pad": dict(n_fft=8, hop_length=2, pad_mode="constant", window="hann"),
    "normalized": dict(n_fft=8, hop_length=2, normalized=True, window="hann"),
    "two_sided": dict(n_fft=8, hop_length=2, onesided=False, window="hann"),
}


def _window(lib, kind, kw):
    size = kw.get("win_length") or kw["n_fft"]
    return {"hann": lib.hann_window, "hamming": lib.hamming_window,
            "ones": lib.ones}[kind](size, dtype=lib.float64)


def _stft(lib, x, kw):
    kw = dict(kw)
    kw["window"] = _window(lib, kw.pop("window"), kw)
    return lib.stft(x, return_complex=True, **kw), kw


def _loss(lib, out):
    weights = np.random.default_rng(1).standard_normal((2,) + tuple(out.shape))
    w_re, w_im = (lib.tensor(w, dtype=lib.float64) for w in weights)
    return (out.real * w_re).sum() + ((out.imag * w_im).sum() if out.is_complex() else 0)


@pytest.mark.parametrize("name", sorted(STFT))
@pytest.mark.parametrize("batched", [True, False])
def test_stft_and_istft_match_torch(name, batched):
    results = {}
    for lib in (tc, torch):
        x = lib.tensor((SIG if batched else SIG[0]).astype(np.float64), requires_grad=True)
        spec, kw = _stft(lib, x, STFT[name])
        _loss(lib, spec).backward()
        s = lib.tensor(spec.detach().numpy(), requires_grad=True)
        kw.pop("pad_mode", None)
        back = lib.istft(s, length=x.shape[-1], **kw)
        _loss(lib, back).backward()
        results[lib] = (spec, x.grad, back, s.grad)
    for what, got, want in zip(("stft", "stft grad", "istft", "istft grad"), results[tc],
                               results[torch]):
        assert_close(got, want, rtol=1e-9, atol=1e-10, what=f"{name} {what}")
    if STFT[name].get("center", True):     # uncentered: the tail no frame reaches is lost
        assert_close(results[tc][2], SIG if batched else SIG[0], rtol=1e-5, atol=1e-6,
                     what="istft(stft(x)) == x")


def test_float32_complex_input_and_real_pairs():
    for make in (lambda lib: lib.stft(lib.tensor(SIG), 16, 4, window=lib.hann_window(16),
                                      return_complex=True),
                 lambda lib: lib.stft(lib.tensor(ZSIG), 8, 2, window=lib.hann_window(8)),
                 lambda lib: lib.istft(lib.stft(lib.tensor(ZSIG), 8, 2, window=lib.hann_window(8)),
                                       8, 2, window=lib.hann_window(8), return_complex=True)):
        assert_close(make(tc), make(torch), rtol=1e-4, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(tc.stft(tc.tensor(SIG[0]), 8, return_complex=False),
                     torch.stft(torch.tensor(SIG[0]), 8, return_complex=False),
                     rtol=1e-4, atol=1e-5)


def test_istft_pads_to_a_longer_length_with_torchs_warning():
    outs = []
    for lib in (tc, torch):
        w = lib.hann_window(8)
        s = lib.stft(lib.tensor(SIG[0]), 8, 2, window=w, return_complex=True)
        with warnings.catch_warnings(record=True) as caught:     # (torch warns once a process)
            warnings.simplefilter("always")
            outs.append(lib.istft(s, 8, 2, window=w, length=50))
        if lib is tc:
            assert any("shorter than the length parameter" in str(w.message) for w in caught)
    assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    assert tuple(outs[0].shape) == (50,) and float(outs[0][-6:].abs().sum()) == 0


ERRORS = {
    "no_return_complex": lambda lib: lib.stft(lib.ones(20), 8),
    "window_size": lambda lib: lib.stft(lib.ones(20), 8, window=lib.ones(5),
                                        return_complex=True),
    "hop_zero": lambda lib: lib.stft(lib.ones(20), 8, hop_length=0, return_complex=True),
    "win_length": lambda lib: lib.stft(lib.ones(20), 8, win_length=10, return_complex=True),
    "three_dims": lambda lib: lib.stft(lib.ones(2, 2, 9), 4, return_complex=True),
    "istft_real_input": lambda lib: lib.istft(lib.ones(5, 11), 8),
    "istft_nola": lambda lib: lib.istft(lib.ones(5, 11, dtype=lib.cfloat), 8,
                                        window=lib.zeros(8)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_have_torchs_exception_type(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as want:
            ERRORS[name](torch)
        with pytest.raises(type(want.value)):
            ERRORS[name](tc)


def test_the_tensor_methods_are_torch_stft_and_istft():
    """x.stft(...) and spec.istft(...), as torch's Tensor has them."""
    outs = {}
    for lib in (tc, torch):
        x = lib.tensor(SIG[0].astype(np.float64))
        window = lib.hann_window(16, dtype=lib.float64)
        spec = x.stft(16, hop_length=4, window=window, return_complex=True)
        outs[lib] = (spec.numpy(), spec.istft(16, hop_length=4, window=window,
                                              length=x.shape[-1]).numpy())
    for got, want in zip(outs[tc], outs[torch]):
        np.testing.assert_allclose(got, want, atol=1e-10)
