"""Imperceptibility metrics: how far marked audio is from the original (MPAI-NNW axis 1).

Every metric takes the original and the processed signal as ``(frames,)`` or ``(frames, channels)`` arrays at the
same rate and length (multichannel audio is compared channel by channel and averaged over all samples):

- ``snr_db``: the mark's energy against the host's, ``10 log10(Σx² / Σ(y−x)²)``;
- ``si_snr_db``: scale-invariant SNR (the mark measured after the best gain match, so a pure gain change is free);
- ``segmental_snr_db``: the mean of per-frame SNRs clipped to [−10, 35] dB over non-silent frames, which weighs
  quiet passages as much as loud ones (where a mark is most audible);
- ``log_spectral_distance_db``: RMS over frequency of the difference of log power spectra, averaged over frames;
- ``nmr_db``: the project's psychoacoustic model's noise-to-mask ratio (mean over frames of the mark's power over
  the masking threshold; below 0 dB the mark is masked);
- ``pesq_wb``: wideband PESQ (ITU-T P.862.2) on 16 kHz mono copies, 1.0 (bad) … 4.64 (identical).

:func:`mean_ci` aggregates per-clip values with a Student-t confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Interval",
    "imperceptibility",
    "log_spectral_distance_db",
    "mean_ci",
    "nmr_db",
    "pesq_wb",
    "segmental_snr_db",
    "si_snr_db",
    "snr_db",
]

_EPS = 1e-20
_IDENTICAL_DB = 200.0  # what SNR-type metrics report for an unchanged signal (no infinities in JSON)


def _pair(reference: np.ndarray, processed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(reference, dtype=np.float64), np.asarray(processed, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"reference {x.shape} and processed {y.shape} audio differ in shape; compare signals "
                         "of the same length and channel count (trim or pad first)")
    if x.size == 0:
        raise ValueError("empty audio: nothing to compare")
    return (x[:, None] if x.ndim == 1 else x), (y[:, None] if y.ndim == 1 else y)


def _ratio_db(signal_energy: float, noise_energy: float) -> float:
    if noise_energy <= _EPS * max(signal_energy, 1.0):
        return _IDENTICAL_DB
    return float(min(10.0 * np.log10(max(signal_energy, _EPS) / noise_energy), _IDENTICAL_DB))


def snr_db(reference: np.ndarray, processed: np.ndarray) -> float:
    """Signal-to-noise ratio of ``processed`` against ``reference`` in dB (200 dB when identical)."""
    from soundsafe.attacks.noise import snr_db as clip_snr_db

    x, y = _pair(reference, processed)
    return min(clip_snr_db(x, y), _IDENTICAL_DB)


def si_snr_db(reference: np.ndarray, processed: np.ndarray) -> float:
    """Scale-invariant SNR in dB: ``processed`` projected on ``reference`` (per channel, zero-mean) as signal."""
    x, y = _pair(reference, processed)
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    scale = np.sum(x * y, axis=0) / np.maximum(np.sum(x * x, axis=0), _EPS)
    target = scale * x
    return _ratio_db(float(np.sum(target**2)), float(np.sum((y - target) ** 2)))


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    """(n_frames, size, channels) views; a signal shorter than a frame is one zero-padded frame."""
    if x.shape[0] < size:
        x = np.pad(x, ((0, size - x.shape[0]), (0, 0)))
    starts = np.arange(0, x.shape[0] - size + 1, hop)
    return np.stack([x[s: s + size] for s in starts])


def segmental_snr_db(reference: np.ndarray, processed: np.ndarray, sr: int = 44100, frame_s: float = 0.02,
                     floor_db: float = -10.0, ceiling_db: float = 35.0, silence_db: float = -60.0) -> float:
    """Mean per-frame SNR (frames of ``frame_s``, half overlap), each clipped to [floor, ceiling] dB.

    Frames whose host level is below ``silence_db`` dBFS are skipped (their SNR says nothing audible). An
    unchanged signal scores ``ceiling_db``.
    """
    x, y = _pair(reference, processed)
    size = max(int(frame_s * sr), 16)
    fx, fy = _frames(x, size, size // 2), _frames(y, size, size // 2)
    signal = np.sum(fx**2, axis=(1, 2))
    noise = np.sum((fy - fx) ** 2, axis=(1, 2))
    level_db = 10 * np.log10(signal / (size * x.shape[1]) + _EPS)
    keep = level_db > silence_db
    if not keep.any():
        return ceiling_db
    seg = 10 * np.log10((signal[keep] + _EPS) / (noise[keep] + _EPS))
    return float(np.mean(np.clip(seg, floor_db, ceiling_db)))


def log_spectral_distance_db(reference: np.ndarray, processed: np.ndarray, n_fft: int = 2048) -> float:
    """Mean over frames of the RMS (over frequency) difference of log power spectra, in dB; 0 when identical."""
    x, y = _pair(reference, processed)
    window = np.hanning(n_fft)[None, :, None]
    fx, fy = _frames(x, n_fft, n_fft // 2) * window, _frames(y, n_fft, n_fft // 2) * window
    px = np.abs(np.fft.rfft(fx, axis=1)) ** 2
    py = np.abs(np.fft.rfft(fy, axis=1)) ** 2
    floor = 1e-10 * max(float(px.max()), _EPS)  # ignore bins far below the loudest (silence, dither)
    diff = 10 * np.log10(px + floor) - 10 * np.log10(py + floor)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=1))))


def nmr_db(reference: np.ndarray, processed: np.ndarray, sr: int = 44100) -> float:
    """The project psychoacoustic model's noise-to-mask ratio of ``processed − reference`` (mono mix), in dB."""
    import torch

    from soundsafe.watermark.psychoacoustic import PsychoacousticModel, noise_to_mask_ratio

    x, y = _pair(reference, processed)
    host = torch.from_numpy(x.mean(axis=1)[None])
    added = torch.from_numpy((y - x).mean(axis=1)[None])
    return float(noise_to_mask_ratio(host, added, PsychoacousticModel(sample_rate=sr))[0])


def pesq_wb(reference: np.ndarray, processed: np.ndarray, sr: int) -> float | None:
    """Wideband PESQ MOS-LQO on 16 kHz mono copies; None when PESQ cannot score the clip (e.g. no speech-like
    activity found, or shorter than 0.25 s)."""
    from pesq import PesqError, pesq

    from soundsafe.audio.io import resample

    x, y = _pair(reference, processed)
    ref16 = resample(x.mean(axis=1, keepdims=True).astype(np.float32), sr, 16000)[:, 0]
    deg16 = resample(y.mean(axis=1, keepdims=True).astype(np.float32), sr, 16000)[:, 0]
    if ref16.shape[0] < 4000:
        return None
    try:
        return float(pesq(16000, ref16, deg16, "wb"))
    except PesqError:
        return None


def imperceptibility(reference: np.ndarray, processed: np.ndarray, sr: int, with_pesq: bool = True) -> dict[str, float]:
    """All metrics for one clip (PESQ left out when ``with_pesq`` is false or PESQ cannot score it)."""
    row = {
        "snr_db": snr_db(reference, processed),
        "si_snr_db": si_snr_db(reference, processed),
        "segmental_snr_db": segmental_snr_db(reference, processed, sr),
        "lsd_db": log_spectral_distance_db(reference, processed),
        "nmr_db": nmr_db(reference, processed, sr),
    }
    score = pesq_wb(reference, processed, sr) if with_pesq else None
    if score is not None:
        row["pesq_wb"] = score
    return row


@dataclass(frozen=True)
class Interval:
    """A mean with a two-sided confidence interval (``low == high == mean`` for a single value)."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and Student-t confidence interval of ``values`` (NaNs dropped)."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if v.size == 1 or float(v.std()) == 0.0:
        return Interval(mean, mean, mean, int(v.size))
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return Interval(mean, mean - half, mean + half, int(v.size))
