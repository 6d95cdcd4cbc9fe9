"""Filters and equalisers: low/high/band-pass (Butterworth) and random parametric EQ (RBJ peaking biquads).

Evaluation runs the IIR filters in the time domain (scipy ``sosfilt``, causal, as a mixing desk would). Training
applies the same second-order sections' complex frequency response on the FFT grid (torch), which is
differentiable and matches the IIR filter up to its transient at the clip start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.signal import butter, sosfilt, sosfreqz

from soundsafe.attacks.base import Attack, AttackInputError, Strength

__all__ = ["ATTACKS", "apply_sos_fft", "design_band", "peaking_sos", "random_eq_sos"]

_ORDER = 4


def design_band(sr: int, low_hz: float | None, high_hz: float | None) -> np.ndarray:
    """Butterworth sections passing ``low_hz``…``high_hz`` (either may be None for a low-/high-pass)."""
    nyquist = sr / 2
    if high_hz is not None and high_hz >= nyquist:
        high_hz = None  # the band edge is above what this rate can carry: nothing to cut there
    if low_hz is not None and high_hz is not None:
        return butter(_ORDER, [low_hz, high_hz], btype="bandpass", fs=sr, output="sos")
    if high_hz is not None:
        return butter(_ORDER, high_hz, btype="lowpass", fs=sr, output="sos")
    if low_hz is not None:
        if low_hz >= nyquist:
            raise AttackInputError(f"high-pass at {low_hz} Hz needs a sample rate above {2 * low_hz:.0f} Hz, "
                                   f"got {sr}")
        return butter(_ORDER, low_hz, btype="highpass", fs=sr, output="sos")
    return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])


def peaking_sos(sr: int, freq: float, gain_db: float, q: float) -> np.ndarray:
    """One RBJ-cookbook peaking-EQ biquad as a second-order section."""
    amp = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(freq, 0.45 * sr) / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
    return np.concatenate([b / a[0], a / a[0]])[None, :]


def random_eq_sos(sr: int, bands: int, max_gain_db: float, rng: np.random.Generator) -> np.ndarray:
    """``bands`` peaking filters at log-uniform centres (60 Hz … 12 kHz), gains ±``max_gain_db``, Q 0.5…3."""
    top = min(12000.0, 0.45 * sr)
    freqs = np.exp(rng.uniform(np.log(60.0), np.log(top), bands))
    gains = rng.uniform(-max_gain_db, max_gain_db, bands)
    qs = rng.uniform(0.5, 3.0, bands)
    return np.concatenate([peaking_sos(sr, f, g, q) for f, g, q in zip(freqs, gains, qs, strict=True)])


def apply_sos_fft(x: Any, sr: int, sos: np.ndarray) -> Any:
    """Training form: multiply the spectrum of ``x`` (…, T) by the sections' frequency response."""
    import torch

    n = x.shape[-1]
    _, response = sosfreqz(sos, worN=np.fft.rfftfreq(n, 1 / sr), fs=sr)
    h = torch.from_numpy(response.astype(np.complex64)).to(x.device)
    return torch.fft.irfft(torch.fft.rfft(x, n=n) * h, n=n)


def _band_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    sos = design_band(sr, params.get("low_hz"), params.get("high_hz"))
    return sosfilt(sos, audio, axis=0).astype(np.float32)


def _band_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    return apply_sos_fft(x, sr, design_band(sr, params.get("low_hz"), params.get("high_hz")))


def _eq_eval(audio: np.ndarray, sr: int, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    sos = random_eq_sos(sr, params["bands"], params["max_gain_db"], rng)
    return sosfilt(sos, audio, axis=0).astype(np.float32)


def _eq_train(x: Any, sr: int, params: Mapping[str, Any], generator: Any) -> Any:
    import torch

    seeds = torch.randint(0, 2**31 - 1, (x.shape[0],), generator=generator).tolist()
    return torch.stack([
        apply_sos_fft(item, sr, random_eq_sos(sr, params["bands"], params["max_gain_db"],
                                              np.random.default_rng(seed)))
        for item, seed in zip(x, seeds, strict=True)
    ])


def _band(name: str, summary: str, ladder: list[tuple[str, dict[str, float]]], default: str) -> Attack:
    return Attack(name=name, family="filter", summary=summary,
                  strengths=tuple(Strength(label, p) for label, p in ladder), default=default,
                  evaluate=_band_eval, train=_band_train, train_mode="differentiable",
                  source="cutoff ladders after AudioMarkBench's low/high-pass levels, in Hz for 44.1 kHz music")


ATTACKS = (
    _band("lowpass", "Butterworth low-pass (order 4)",
          [(f"{int(hz / 1000)}kHz", {"high_hz": hz}) for hz in (16000.0, 12000.0, 8000.0, 5000.0, 3000.0)], "8kHz"),
    _band("highpass", "Butterworth high-pass (order 4)",
          [(f"{int(hz)}Hz", {"low_hz": hz}) for hz in (100.0, 300.0, 500.0, 1000.0, 2000.0)], "500Hz"),
    _band("bandpass", "Butterworth band-pass (order 4): telephone to FM-radio bands",
          [("50Hz-15kHz", {"low_hz": 50.0, "high_hz": 15000.0}), ("100Hz-8kHz", {"low_hz": 100.0, "high_hz": 8000.0}),
           ("300Hz-3.4kHz", {"low_hz": 300.0, "high_hz": 3400.0})], "100Hz-8kHz"),
    Attack(name="eq", family="filter", summary="random parametric EQ: peaking bands at random centres, gains and Q",
           strengths=tuple(Strength(f"±{g}dB", {"bands": b, "max_gain_db": float(g)})
                           for b, g in ((3, 3), (4, 6), (5, 9), (6, 12))),
           default="±6dB", evaluate=_eq_eval, train=_eq_train, train_mode="differentiable",
           source="typical mastering/broadcast EQ moves"),
)
