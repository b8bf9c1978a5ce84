"""tracecomp.fft against torch 2.13: every transform's values, dtypes and gradients (through
a real loss weighing the output's real and imaginary parts by fixed random numbers), over
signal sizes that cut and pad, dims, the three norm modes and real/complex inputs of both
widths; frequencies, shifts and torch's errors."""
import itertools

import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close

RNG = np.random.default_rng(0)


def _data(shape, dtype):
    x = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dtype)


F32, F64, C64, C128 = (_data((3, 4, 6), d) for d in (np.float32, np.float64, np.complex64,
                                                       np.complex128))
ODD = _data((2, 5, 7), np.complex64)
HALF = _data((3, 4, 4), np.complex64)       # a half spectrum: 4 bins of a 6-point signal

# name: (fn(lib, x), inputs)
CASES = {
    "fft": (lambda lib, x: lib.fft.fft(x), [F32, C64, C128, F64]),
    "fft_n_cut": (lambda lib, x: lib.fft.fft(x, n=4, dim=1), [C64, F32]),
    "fft_n_pad": (lambda lib, x: lib.fft.fft(x, n=9, dim=0, norm="ortho"), [C64]),
    "ifft": (lambda lib, x: lib.fft.ifft(x), [C64, F32, C128]),
    "ifft_forward": (lambda lib, x: lib.fft.ifft(x, norm="forward"), [C64]),
    "fft2": (lambda lib, x: lib.fft.fft2(x), [C64, F64]),
    "fft2_s": (lambda lib, x: lib.fft.fft2(x, s=(3, 8), norm="forward"), [C64]),
    "ifft2": (lambda lib, x: lib.fft.ifft2(x, norm="ortho"), [C128, ODD]),
    "fftn": (lambda lib, x: lib.fft.fftn(x), [C64, F32]),
    "fftn_dims": (lambda lib, x: lib.fft.fftn(x, s=(5, 2), dim=(2, 0)), [C64]),
    "ifftn": (lambda lib, x: lib.fft.ifftn(x, dim=(0, 2)), [C64, ODD]),
    "rfft": (lambda lib, x: lib.fft.rfft(x), [F32, F64]),
    "rfft_odd_n": (lambda lib, x: lib.fft.rfft(x, n=5, dim=1, norm="ortho"), [F32]),
    "rfft_forward": (lambda lib, x: lib.fft.rfft(x, norm="forward"), [F32]),
    "irfft": (lambda lib, x: lib.fft.irfft(x), [HALF, C64, C128]),
    "irfft_n_odd": (lambda lib, x: lib.fft.irfft(x, n=7), [HALF]),
    "irfft_n_pad": (lambda lib, x: lib.fft.irfft(x, n=12, dim=1, norm="ortho"), [HALF]),
    "irfft_forward": (lambda lib, x: lib.fft.irfft(x, norm="forward"), [HALF]),
    "rfft2": (lambda lib, x: lib.fft.rfft2(x), [F32, F64]),
    "rfft2_s": (lambda lib, x: lib.fft.rfft2(x, s=(6, 5), norm="ortho"), [F32]),
    "irfft2": (lambda lib, x: lib.fft.irfft2(x), [HALF, C128]),
    "irfft2_s": (lambda lib, x: lib.fft.irfft2(x, s=(4, 7), norm="forward"), [HALF]),
    "rfftn": (lambda lib, x: lib.fft.rfftn(x), [F32]),
    "rfftn_dims": (lambda lib, x: lib.fft.rfftn(x, dim=(2, 0)), [F64]),
    "irfftn": (lambda lib, x: lib.fft.irfftn(x), [HALF]),
    "irfftn_s": (lambda lib, x: lib.fft.irfftn(x, s=(3, 5), dim=(0, 1)), [HALF]),
    "hfft": (lambda lib, x: lib.fft.hfft(x), [HALF, C128]),
    "hfft_n": (lambda lib, x: lib.fft.hfft(x, n=5, norm="ortho"), [HALF]),
    "ihfft": (lambda lib, x: lib.fft.ihfft(x), [F32, F64]),
    "ihfft_n": (lambda lib, x: lib.fft.ihfft(x, n=8, dim=0, norm="forward"), [F32]),
    "hfft2": (lambda lib, x: lib.fft.hfft2(x, norm="ortho"), [HALF]),
    "hfftn": (lambda lib, x: lib.fft.hfftn(x, s=(3, 7), dim=(0, 2)), [HALF, C128]),
    "ihfft2": (lambda lib, x: lib.fft.ihfft2(x, norm="forward"), [F32]),
    "ihfftn": (lambda lib, x: lib.fft.ihfftn(x), [F64]),
    "ihfftn_one_dim": (lambda lib, x: lib.fft.ihfftn(x, s=(5,), dim=(1,)), [F32]),
    "round_trip": (lambda lib, x: lib.fft.irfft2(lib.fft.rfft2(x) * 2j, s=x.shape[-2:]), [F32]),
    "fftshift": (lambda lib, x: lib.fft.fftshift(lib.fft.fft(x)), [C64]),
    "ifftshift_dim": (lambda lib, x: lib.fft.ifftshift(x, dim=(1,)), [ODD]),
}


def _run(lib, fn, x_np):
    x = lib.tensor(x_np.copy(), requires_grad=True)
    out = fn(lib, x)
    weights = np.random.default_rng(1).standard_normal((2,) + tuple(out.shape))
    w_re, w_im = (lib.tensor(w, dtype=lib.float64) for w in weights)
    loss = (out.real * w_re).sum() + ((out.imag * w_im).sum() if out.is_complex() else 0)
    loss.backward()
    return out.resolve_conj(), x.grad.resolve_conj()


@pytest.mark.parametrize("name,k", [(name, k) for name, (_, xs) in sorted(CASES.items())
                                    for k in range(len(xs))])
def test_value_dtype_and_grad_match_torch(name, k):
    fn, xs = CASES[name]
    got, got_grad = _run(tc, fn, xs[k])
    want, want_grad = _run(torch, fn, xs[k])
    wide = want.dtype in (torch.float64, torch.complex128)
    tol = dict(rtol=1e-9, atol=1e-10) if wide else dict(rtol=1e-4, atol=2e-5)
    assert_close(got, want, what=f"{name} value", **tol)
    assert_close(got_grad, want_grad, what=f"{name} grad", **tol)


def test_integer_input_is_taken_in_the_default_float():
    for fn in (lambda lib: lib.fft.fft(lib.arange(6)), lambda lib: lib.fft.rfft(lib.arange(6)),
               lambda lib: lib.fft.ihfft(lib.arange(5))):
        assert_close(fn(tc).resolve_conj(), fn(torch).resolve_conj())
    for fn in (lambda lib: lib.fft.ihfft(lib.ones(4)), lambda lib: lib.fft.ihfft2(lib.ones(2, 4)),
               lambda lib: lib.fft.ihfftn(lib.ones(2, 4), dim=(1,))):
        assert fn(tc).is_conj() == fn(torch).is_conj()


@pytest.mark.parametrize("n,d,dtype", list(itertools.product([1, 4, 7], [1.0, 0.25],
                                                             [None, "float64"])))
def test_frequencies(n, d, dtype):
    for name in ("fftfreq", "rfftfreq"):
        kw = {} if dtype is None else {"dtype": getattr(tc, dtype)}
        kw_t = {} if dtype is None else {"dtype": getattr(torch, dtype)}
        assert_close(getattr(tc.fft, name)(n, d, **kw), getattr(torch.fft, name)(n, d, **kw_t))


def test_shifts_of_real_tensors():
    x = np.arange(30.0).reshape(5, 6)
    for dim in (None, 0, (1,), (0, 1), -1):
        assert_close(tc.fft.fftshift(tc.tensor(x), dim), torch.fft.fftshift(torch.tensor(x), dim))
        assert_close(tc.fft.ifftshift(tc.tensor(x), dim),
                     torch.fft.ifftshift(torch.tensor(x), dim))


ERRORS = {
    "bad_norm": lambda lib: lib.fft.fft(lib.ones(4), norm="bad"),
    "rfft_of_complex": lambda lib: lib.fft.rfft(lib.ones(4, dtype=lib.cfloat)),
    "ihfft_of_complex": lambda lib: lib.fft.ihfft(lib.ones(4, dtype=lib.cfloat)),
    "zero_points": lambda lib: lib.fft.fft(lib.ones(4), n=0),
    "dim_out_of_range": lambda lib: lib.fft.fft(lib.ones(4), dim=3),
    "s_longer_than_input": lambda lib: lib.fft.fftn(lib.ones(4), s=(2, 2)),
    "irfft_of_one_bin": lambda lib: lib.fft.irfft(lib.ones(1, dtype=lib.cfloat)),
    "fft2_of_1d": lambda lib: lib.fft.fft2(lib.ones(4)),
    "s_and_dim_lengths": lambda lib: lib.fft.fftn(lib.ones(4, 4), s=(2,), dim=(0, 1)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_have_torchs_exception_type(name):
    with pytest.raises(Exception) as want:
        ERRORS[name](torch)
    with pytest.raises(type(want.value)):
        ERRORS[name](tc)
