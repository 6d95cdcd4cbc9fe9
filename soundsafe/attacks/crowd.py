"""Synthetic crowd noise (seed 001's concert degradations): babble, claps and cheers, no recordings needed.

- Babble: many talkers; each is a glottal pulse train with a wandering pitch, syllable-rate loudness and vowels
  (formant resonators) that change every syllable.
- Claps: applause as thousands of short band-limited noise bursts at random times from many clappers.
- Cheers: sustained high-pitched "woo" vowels that swell and glide, over a broadband crowd roar.
Every part is decorrelated between channels, so stereo crowds sound wide.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, oaconvolve, sosfilt

from soundsafe.attacks.filters import peaking_sos

__all__ = ["CROWD_KINDS", "babble", "cheers", "claps", "crowd"]

CROWD_KINDS = ("babble", "claps", "cheers")

# Formant centres (Hz) of five vowels: a, e, i, o, u.
_VOWELS = ((800, 1150, 2900), (400, 1600, 2700), (300, 2300, 3000), (450, 800, 2830), (325, 700, 2530))


def _pulse_train(f0: np.ndarray, sr: int) -> np.ndarray:
    """A unit pulse at each period of the time-varying pitch ``f0`` (Hz, one value per sample)."""
    phase = np.cumsum(f0 / sr)
    pulses = np.zeros_like(phase)
    pulses[1:][np.diff(np.floor(phase)) > 0] = 1.0
    return pulses


def _smooth_random(frames: int, sr: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve in [0, 1] that changes about ``rate_hz`` times a second."""
    knots = max(2, int(frames / sr * rate_hz) + 2)
    return np.interp(np.arange(frames), np.linspace(0, frames, knots), rng.uniform(0, 1, knots))


def _voiced(frames: int, sr: int, rng: np.random.Generator, talkers: int, f0_range: tuple[float, float],
            syllable_hz: float, vowels: tuple[int, ...]) -> np.ndarray:
    """Sum of ``talkers`` voices; vowel filters are shared (linear), weighted per talker and syllable."""
    excitations = np.zeros((len(vowels), frames))
    for _ in range(talkers):
        f0 = np.exp(np.log(f0_range[0]) + (np.log(f0_range[1]) - np.log(f0_range[0])) *
                    _smooth_random(frames, sr, 2.0, rng))
        source = _pulse_train(f0, sr) + 0.02 * rng.standard_normal(frames)  # voicing plus breath
        envelope = _smooth_random(frames, sr, syllable_hz, rng) ** 2
        choice = np.repeat(rng.integers(0, len(vowels), int(frames / sr * syllable_hz) + 2),
                           int(sr / syllable_hz) + 1)[:frames]
        for i in range(len(vowels)):
            excitations[i] += source * envelope * (choice == i) * rng.uniform(0.5, 1.0)
    out = np.zeros(frames)
    for i, vowel in enumerate(vowels):
        sections = np.concatenate([peaking_sos(sr, f, 18.0, 6.0) for f in _VOWELS[vowel] if f < 0.45 * sr])
        out += sosfilt(sections, excitations[i])
    return sosfilt(butter(2, 80.0, btype="highpass", fs=sr, output="sos"), out)


def babble(frames: int, sr: int, rng: np.random.Generator, talkers: int = 16) -> np.ndarray:
    """A room full of talkers (mono)."""
    return _voiced(frames, sr, rng, talkers, (90.0, 260.0), 4.0, (0, 1, 2, 3, 4))


def claps(frames: int, sr: int, rng: np.random.Generator, clappers: int = 40) -> np.ndarray:
    """Applause (mono): each clapper claps 2–5 times a second with jitter; each clap a 5–15 ms noise burst."""
    impulses = np.zeros(frames)
    seconds = frames / sr
    for _ in range(clappers):
        rate = rng.uniform(2.0, 5.0)
        times = np.cumsum(rng.normal(1 / rate, 0.1 / rate, int(seconds * rate) + 2)) + rng.uniform(0, 1 / rate)
        idx = (times[times < seconds] * sr).astype(int)
        impulses[idx] += rng.uniform(0.3, 1.0, idx.size)
    length = int(0.03 * sr)
    t = np.arange(length) / sr
    burst = rng.standard_normal(length) * np.exp(-t / rng.uniform(0.005, 0.015))
    centre = min(rng.uniform(1000, 2500), 0.4 * sr)
    band = butter(2, [centre / 2, min(centre * 2, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")
    return oaconvolve(impulses, sosfilt(band, burst))[:frames]


def cheers(frames: int, sr: int, rng: np.random.Generator, voices: int = 10) -> np.ndarray:
    """Cheering (mono): swelling high "woo"/"yeah" vowels gliding in pitch over a low crowd roar."""
    voiced = _voiced(frames, sr, rng, voices, (220.0, 520.0), 0.7, (0, 3, 4))
    roar = sosfilt(butter(2, [150.0, min(2000.0, 0.45 * sr)], btype="bandpass", fs=sr, output="sos"),
                   rng.standard_normal(frames))
    swell = 0.3 + _smooth_random(frames, sr, 0.5, rng)
    mix = voiced / (np.std(voiced) + 1e-12) + 0.5 * roar / (np.std(roar) + 1e-12)
    return mix * swell


def crowd(frames: int, channels: int, sr: int, rng: np.random.Generator,
          kinds: tuple[str, ...] = CROWD_KINDS) -> np.ndarray:
    """A ``(frames, channels)`` crowd: a random mix of ``kinds``, each part unit-power, decorrelated per channel."""
    makers = {"babble": babble, "claps": claps, "cheers": cheers}
    unknown = set(kinds) - set(makers)
    if unknown:
        raise ValueError(f"unknown crowd kinds {sorted(unknown)}; choose from {CROWD_KINDS}")
    weights = rng.dirichlet(np.ones(len(kinds)) * 2.0)
    out = np.zeros((frames, channels))
    for c in range(channels):
        for weight, kind in zip(weights, kinds, strict=True):
            part = makers[kind](frames, sr, rng)
            out[:, c] += weight * part / (np.std(part) + 1e-12)
    return out
