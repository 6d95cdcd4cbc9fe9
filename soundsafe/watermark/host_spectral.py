"""The carrier's STFT and inverse STFT in NumPy/SciPy, for engines that run the model graphs without torch.

The same arithmetic as :mod:`soundsafe.watermark.spectral` (periodic Hann window, frames centred at ``t·hop``
with reflect padding, least-squares overlap-add), on ``float32`` NumPy arrays with SciPy's pocketfft, which
is 10× faster than ONNX Runtime's ``DFT`` kernel on one core (``benchmarks/onnx_dft.py``). Spectra are
complex ``(B, frames, bins)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft

__all__ = ["HostSpectral", "hann_window", "stft", "warped_magnitude"]


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum frames ``(B, T, n)`` placed every ``hop`` samples: ``(B, (T + ⌈n/hop⌉ − 1)·hop)``."""
    b, t, n = frames.shape
    segments = math.ceil(n / hop)
    out = np.zeros((b, t + segments - 1, hop), frames.dtype)
    for s in range(segments):  # segment s of frame i lands on output block i + s (the last one may be short)
        width = min(hop, n - s * hop)
        out[:, s: s + t, :width] += frames[:, :, s * hop: s * hop + width]
    return out.reshape(b, -1)


@lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window of every STFT here (as torch.hann_window)."""
    return np.hanning(n_fft + 1)[:-1].astype(np.float32)


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex spectrum ``(B, 1 + samples // hop, n_fft // 2 + 1)`` of ``(B, samples)``."""
    half = n_fft // 2
    padded = np.pad(np.asarray(x, np.float32), ((0, 0), (half, half)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    return scipy.fft.rfft(frames * hann_window(n_fft), axis=-1, workers=1)


def warped_magnitude(x: np.ndarray, n_fft: int, hop: int, frames: int, tempo: float) -> np.ndarray:
    """``|stft|`` ``(B, frames, n_fft // 2 + 1)`` of chunks ``(B, samples)`` that run ``tempo`` × their nominal
    length (a time-stretch): frame t is centred at ``t · hop · tempo`` (rounded to a sample) instead of
    ``t · hop``, so every tile row is read where the stretch moved it; edges reflect-padded as :func:`stft`."""
    half = n_fft // 2
    padded = np.pad(np.asarray(x, np.float32), ((0, 0), (half, half)), mode="reflect")
    starts = np.minimum(np.round(np.arange(frames) * hop * tempo).astype(np.int64), padded.shape[1] - n_fft)
    windows = padded[:, starts[:, None] + np.arange(n_fft)[None, :]]
    return np.abs(scipy.fft.rfft(windows * hann_window(n_fft), axis=-1, workers=1)).astype(np.float32)


class HostSpectral:
    """STFT/iSTFT for one ``n_fft``/``hop`` and one chunk length (whose overlap-add envelope is cached)."""

    def __init__(self, n_fft: int, hop: int, length: int) -> None:
        self.n_fft, self.hop, self.length = n_fft, hop, length
        self.window = hann_window(n_fft)
        frames = 1 + length // hop
        envelope = _overlap_add(np.broadcast_to(self.window ** 2, (1, frames, n_fft)).copy(), hop)
        half = n_fft // 2
        self._inverse_envelope = 1.0 / np.maximum(envelope[:, half: half + length], 1e-11)

    def stft(self, x: np.ndarray) -> np.ndarray:
        """Complex spectrum ``(B, 1 + samples // hop, n_fft // 2 + 1)`` of ``(B, samples)``."""
        return stft(x, self.n_fft, self.hop)

    def istft(self, spec: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`stft` for chunks of ``length`` samples, ``(B, length)`` float32."""
        frames = scipy.fft.irfft(spec, n=self.n_fft, axis=-1, workers=1).astype(np.float32, copy=False)
        frames *= self.window
        signal = _overlap_add(frames, self.hop)
        half = self.n_fft // 2
        return signal[:, half: half + self.length] * self._inverse_envelope

    @staticmethod
    def magnitude(spec: np.ndarray) -> np.ndarray:
        """``|spec|``, float32 (the carrier's ``sqrt(re² + im² + 1e-18)`` within a rounding step: the 1e-18 only
        keeps torch's gradient finite at 0, and the carrier floors levels far above it)."""
        return np.abs(spec).astype(np.float32, copy=False)
