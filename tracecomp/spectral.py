"""torch.stft and torch.istft: short-time Fourier transforms, built from tensor ops.

stft frames the (centered, reflect-padded) signal with unfold, weighs each frame by the
window (zero-padded to n_fft in the middle, as torch) and transforms the frames with
tracecomp.fft; istft inverts each frame, weighs it by the window again and overlap-adds
the frames with fold, dividing by the overlap-added squared window (the least-squares
inverse, torch's). Gradients come from the ops they are made of.
"""
import warnings

from . import fft
from .creation import ones
from .errors import DTypeError, ShapeError
from .nn import functional as F
from .ops import elementwise as ew
from .ops.complex import complex as complex_
from .ops.complex import view_as_real
from .ops.public import public
from .tensor import Tensor
from .user_code import user_stacklevel

_NO_WINDOW = ("A window was not provided. A rectangular window will be applied,which is known "
              "to cause spectral leakage. Other windows such as torch.hann_window or "
              "torch.hamming_window are recommended to reduce spectral leakage.To suppress "
              "this warning and use a rectangular window, explicitly set "
              "`window=torch.ones(n_fft, device=<device>)`.")


def _window(op, window, n_fft, win_length, like):
    """The window as n_fft weights: ones when none was given, else the window centered in
    n_fft zeros."""
    if window is None:
        if op == "stft":
            warnings.warn(_NO_WINDOW, UserWarning, stacklevel=user_stacklevel())
        window = ones(win_length, dtype=like.real.dtype if like.is_complex() else like.dtype)
    elif window.ndim != 1 or window.shape[0] != win_length:
        raise ShapeError(f"{op}: expected a 1D window tensor of size equal to "
                         f"win_length={win_length}, but got window with size "
                         f"{list(window.shape)}")
    left = (n_fft - win_length) // 2
    return F.pad(window, (left, n_fft - win_length - left)) if left or win_length < n_fft \
        else window


def _lengths(op, n_fft, hop_length, win_length):
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if n_fft <= 0:
        raise ShapeError(f"{op}: expected 0 < n_fft, but got n_fft={n_fft}")
    if hop_length <= 0:
        raise ShapeError(f"{op}: expected hop_length > 0, but got hop_length={hop_length}")
    if not 0 < win_length <= n_fft:
        raise ShapeError(f"{op}: expected 0 < win_length <= n_fft, but got "
                         f"win_length={win_length}")
    return hop_length, win_length


@public("torch")
def stft(input, n_fft, hop_length=None, win_length=None, window=None,  # noqa: A002
         center=True, pad_mode="reflect", normalized=False, onesided=None,
         return_complex=None):
    """Spectra of the signal's frames: (batch?, n_fft // 2 + 1 (or n_fft), frames)."""
    x = input
    if return_complex is None:
        if not x.is_complex() and (window is None or not window.is_complex()):
            raise RuntimeError("stft requires the return_complex parameter be given for real "
                               "inputs, and will further require that return_complex=True in "
                               "a future PyTorch release.")
        return_complex = True
    if not return_complex:
        warnings.warn("stft with return_complex=False is deprecated. In a future pytorch "
                      "release, stft will return complex tensors for all inputs, and "
                      "return_complex=False will raise an error.\nNote: you can still call "
                      "torch.view_as_real on the complex output to recover the old return "
                      "format.", UserWarning, stacklevel=user_stacklevel())
    if x.ndim not in (1, 2):
        raise ShapeError(f"stft: expected a 1D or 2D tensor, got shape {list(x.shape)}")
    hop_length, win_length = _lengths("stft", n_fft, hop_length, win_length)
    batched = x.ndim == 2
    x = x if batched else x.reshape(1, -1)
    if center:
        pad = n_fft // 2
        x = F.pad(x.reshape(1, *x.shape), (pad, pad), mode=pad_mode).reshape(x.shape[0], -1)
    if not 0 < n_fft <= x.shape[-1]:
        raise ShapeError(f"stft: expected 0 < n_fft <= {x.shape[-1]} (the padded signal's "
                         f"length), but got n_fft={n_fft}")
    frames = x.unfold(-1, n_fft, hop_length) * _window("stft", window, n_fft, win_length, x)
    onesided = not (x.is_complex() or window is not None and window.is_complex()) \
        if onesided is None else onesided
    norm = "ortho" if normalized else "backward"
    spectra = (fft.rfft if onesided else fft.fft)(frames, norm=norm).transpose(-1, -2)
    spectra = spectra if batched else spectra[0]
    return spectra if return_complex else view_as_real(spectra)


@public("torch")
def istft(input, n_fft, hop_length=None, win_length=None, window=None,  # noqa: A002
          center=True, normalized=False, onesided=None, length=None, return_complex=False):
    """The signal whose stft is input (overlap-add of the windowed inverse frames)."""
    if not isinstance(input, Tensor) or not input.is_complex():
        raise DTypeError("istft requires a complex-valued input tensor matching the output "
                         "from stft with return_complex=True.")
    hop_length, win_length = _lengths("istft", n_fft, hop_length, win_length)
    batched = input.ndim == 3
    spectra = (input if batched else input.reshape(1, *input.shape)).transpose(-1, -2)
    n_frames = spectra.shape[1]
    onesided = spectra.shape[-1] != n_fft if onesided is None else onesided
    norm = "ortho" if normalized else "backward"
    if return_complex:
        if onesided:
            raise RuntimeError("cannot have onesided output if window or input is complex")
        frames = fft.ifft(spectra, n=n_fft, norm=norm)
    else:       # as torch: a real signal reads the half spectrum only, even of a two-sided one
        frames = fft.irfft(spectra[..., :n_fft // 2 + 1], n=n_fft, norm=norm)
    w = _window("istft", window, n_fft, win_length, frames)
    total = n_fft + hop_length * (n_frames - 1)
    signal = _overlap_add(frames * w, total, n_fft, hop_length)
    envelope = _overlap_add((w * w).reshape(1, 1, n_fft).expand(1, n_frames, n_fft), total,
                            n_fft, hop_length)[0]
    start = n_fft // 2 if center else 0
    end = total - n_fft // 2 if center else total
    if length is not None:
        end = start + length
    signal, envelope = signal[:, start:min(end, total)], envelope[start:min(end, total)]
    smallest = float(envelope.abs().min()) if envelope.numel() else 1.0
    if smallest < 1e-11:
        raise RuntimeError(f"istft: window overlap add min: {smallest}; the window and "
                           f"hop_length={hop_length} leave samples that no frame covers "
                           f"(the NOLA condition)")
    signal = signal / envelope
    if length is not None and end > total:
        warnings.warn("The length of signal is shorter than the length parameter. Result is "
                      "being padded with zeros in the tail. Please check your center and "
                      "hop_length settings.", UserWarning, stacklevel=user_stacklevel())
        signal = F.pad(signal, (0, end - total))
    return signal if batched else signal[0]


def _overlap_add(frames, total, n_fft, hop_length):
    """(batch, frames, n_fft) -> (batch, total): frame k added in at k * hop_length (fold
    adds real numbers: a complex signal's parts are added apart)."""
    if frames.is_complex():
        return complex_(_overlap_add(ew.real(frames), total, n_fft, hop_length),
                        _overlap_add(ew.imag(frames), total, n_fft, hop_length))
    folded = F.fold(frames.transpose(1, 2), (1, total), (1, n_fft), stride=(1, hop_length))
    return folded.reshape(frames.shape[0], total)
