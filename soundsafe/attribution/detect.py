"""Cepstral z-scores: is there an echo at ``delay`` in this audio (Tralie et al. 2024, after Gruhl et al. 1996)?

An echo ``α·x[n − δ]`` multiplies the spectrum by ``1 + α·e^{−iωδ}``, a ripple whose log is (to first order) a
cosine of period ``sr/δ`` Hz, so the real cepstrum ``IFFT(log |FFT(frame)|)`` gets a peak ``α/2`` at quefrency
``δ`` whatever the music. Frames are Hann-windowed, the cepstra of the audible ones are averaged (a longer clip
or more clips give a cleaner mean), and the value at ``δ`` is turned into a z-score against the other quefrencies
near it (music's cepstrum falls off with quefrency, so the reference is local). A time-spread echo shows as the
pseudo-noise sequence in the cepstrum: the statistic is the cepstrum's correlation with the key's sequence at
lag ``δ``, as a z-score against the correlations of ``NULL_KEYS`` other keys' sequences at the same lag. Under "no
mark" the real key is just one more random key, so this null is calibrated whatever structure the audio's
cepstrum has; the other-lags null is not: a generative model's own periodic artefacts (a strided decoder's) gave
clean models' outputs z ≈ 2.5 against it for one key and lag, measured. Neither needs the original audio.
"""

from __future__ import annotations

import functools

import numpy as np

from soundsafe.attribution.marks import EchoMark

__all__ = ["FRAME", "NULL_KEYS", "mean_cepstrum", "z_score", "z_scores"]

FRAME = 4096  # > delay + pn_length, so a time-spread echo falls inside one frame
_SILENT_RMS = 10 ** (-50 / 20)
_REFERENCE = 60  # reference quefrencies on each side of a single echo's delay
_GUARD = 2  # quefrencies next to the delay left out of the reference
NULL_KEYS = 256  # other keys' sequences: the time-spread statistic's null


def mean_cepstrum(audio: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Mean real cepstrum of the audible half-overlapping frames of (the mono mix of) ``audio``; zeros when none."""
    x = np.asarray(audio, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[:: frame // 2]
    frames = frames[np.sqrt((frames**2).mean(axis=1)) > _SILENT_RMS]
    if not len(frames):
        return np.zeros(frame)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=-1))
    floor = 1e-6 * spectrum.max(axis=-1, keepdims=True) + 1e-12  # silence in a band must not dominate the log
    return np.fft.irfft(np.log(spectrum + floor), n=frame, axis=-1).mean(axis=0)


def _zscore(values: np.ndarray, at: int) -> float:
    reference = np.delete(values, np.arange(max(at - _GUARD, 0), min(at + _GUARD + 1, values.size)))
    return float((values[at] - reference.mean()) / (reference.std() + 1e-12))


def z_score(cepstrum: np.ndarray, mark: EchoMark) -> float:
    """The z-score of ``mark``'s echo in a (mean) cepstrum."""
    if mark.kind == "echo":
        low = max(mark.delay - _REFERENCE, 8)  # the lowest quefrencies are the spectral envelope
        window = cepstrum[low: mark.delay + _REFERENCE + 1]
        return _zscore(window, mark.delay - low)
    if mark.delay + mark.pn_length > cepstrum.size // 2:
        raise ValueError(f"time-spread delay {mark.delay} + {mark.pn_length} taps do not fit a {cepstrum.size}-frame "
                         "cepstrum")
    segment = cepstrum[mark.delay: mark.delay + mark.pn_length]
    null = _null_sequences(mark.key, mark.pn_length) @ segment
    return float((segment @ mark.pn() - null.mean()) / (null.std() + 1e-12))


@functools.lru_cache(maxsize=8)
def _null_sequences(key: int, length: int) -> np.ndarray:
    """``NULL_KEYS`` ±1 sequences of other keys (seeded apart from ``key``), ``(NULL_KEYS, length)``."""
    rng = np.random.default_rng([key, 0x4E554C4C])
    return rng.choice([-1.0, 1.0], size=(NULL_KEYS, length))


def z_scores(audio: np.ndarray, marks: list[EchoMark]) -> dict[str, float]:
    """Each mark's z-score in ``audio`` (one cepstrum shared by all)."""
    cepstrum = mean_cepstrum(audio)
    return {m.name: z_score(cepstrum, m) for m in marks}
