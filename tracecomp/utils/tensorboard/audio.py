"""add_audio's summary: one channel of samples in [-1, 1] as a 16-bit PCM WAV file, encoded
with the standard library's wave module as torch encodes it (byte for byte), which
TensorBoard's audio dashboard plays.
"""
import io
import warnings
import wave

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary

from ...user_code import user_stacklevel
from .summaries import to_numpy


def audio(tag, samples, sample_rate=44100):
    """A Summary of one WAV of samples: shape (L,), or (1, L) and the like (dims of size 1
    are dropped). Samples beyond [-1, 1] are clipped, with a warning."""
    array = to_numpy(samples).squeeze()
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"add_audio({tag!r}): needs one channel of samples, shape (L,) or "
                         f"(1, L), got shape {list(to_numpy(samples).shape)}; log each "
                         f"channel under its own tag")
    if np.abs(array).max() > 1:
        warnings.warn(f"add_audio({tag!r}): samples beyond [-1, 1] are clipped",
                      stacklevel=user_stacklevel())
        array = array.clip(-1, 1)
    # the same expression as torch's, so the same rounding in the same dtype: truncated
    pcm = (array * np.iinfo(np.int16).max).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return Summary(value=[Summary.Value(tag=tag, audio=Summary.Audio(
        sample_rate=sample_rate, num_channels=1, length_frames=len(pcm),
        encoded_audio_string=out.getvalue(), content_type="audio/wav"))])
