"""Room ambience: a synthetic stereo impulse response (early reflections + frequency-dependent decay)."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, oaconvolve, sosfilt

__all__ = ["add_room", "room_impulse"]


def room_impulse(sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A ``(frames, 2)`` impulse response; highs decay faster than lows, as in real rooms."""
    n = int(rt60 * 1.1 * sr)
    t = np.arange(n) / sr
    low = butter(2, 2500, btype="lowpass", fs=sr, output="sos")
    channels = []
    for _ in range(2):  # independent noise per channel: a wide, decorrelated tail
        noise = rng.standard_normal(n)
        lows = sosfilt(low, noise)
        highs = noise - lows
        tail = lows * 10 ** (-3 * t / rt60) + highs * 10 ** (-3 * t / (0.55 * rt60))
        tail *= 1.0 - np.exp(-t / 0.01)  # the diffuse tail builds up
        early = np.zeros(n)
        for _ in range(6):
            idx = int(rng.uniform(0.004, 0.045) * sr)
            if idx < n:
                early[idx] += rng.uniform(0.2, 0.6) * rng.choice([-1, 1])
        channels.append(early + 0.12 * tail)
    ir = np.stack(channels, axis=1)
    return ir / np.sqrt(np.sum(ir**2) / 2)


def add_room(dry: np.ndarray, sr: int, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Mix ``dry`` (frames, 2) with its reverberation; the output keeps the input length."""
    ir = room_impulse(sr, rt60, rng)
    reverb = np.stack([oaconvolve(dry[:, c], ir[:, c])[: dry.shape[0]] for c in range(2)], axis=1)
    return (1.0 - wet) * dry + wet * reverb
