"""Synthetic music for the experiments' tests: plucked notes of random pitch over a little noise, so the cepstrum
and the log-mel frames are not flat and change over time."""

from __future__ import annotations

import numpy as np

SR = 44100


def plucked_song(seed: int, seconds: float = 4.0, noise: float = 0.01, overtone: float = 0.0) -> np.ndarray:
    """Four notes a second (0.3 s each, decaying), random pitch 110–660 Hz, with ``overtone`` × the octave."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    x = noise * rng.standard_normal(t.size)
    for i in range(int(seconds * 4)):
        on = (t >= i / 4) & (t < i / 4 + 0.3)
        f = rng.uniform(110, 660)
        x += on * (np.sin(2 * np.pi * f * t) + overtone * np.sin(4 * np.pi * f * t)) * np.exp(-(t - i / 4) * 6) * 0.3
    return x.astype(np.float32)
