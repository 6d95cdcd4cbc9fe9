"""A small synthesized drum kit and meter-aware patterns."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

__all__ = ["DrumKit", "drum_hits"]


class DrumKit:
    """Kick, snare, closed and open hi-hat samples, varied per track by ``rng``."""

    def __init__(self, sr: int, rng: np.random.Generator) -> None:
        self.sr = sr
        self.samples = {
            "kick": self._kick(rng.uniform(40, 55), rng.uniform(0.2, 0.4)),
            "snare": self._snare(rng.uniform(160, 230), rng.uniform(0.1, 0.2), rng),
            "hat": self._hat(rng.uniform(0.03, 0.06), rng),
            "open_hat": self._hat(rng.uniform(0.15, 0.3), rng),
        }

    def _t(self, seconds: float) -> np.ndarray:
        return np.arange(int(seconds * self.sr)) / self.sr

    def _kick(self, f_end: float, decay: float) -> np.ndarray:
        t = self._t(decay * 3)
        freq = f_end + 90.0 * np.exp(-t / 0.03)  # the downward pitch sweep that makes a kick
        body = np.sin(2 * np.pi * np.cumsum(freq) / self.sr) * np.exp(-t / decay)
        click = np.exp(-t / 0.002) * 0.3
        return body + click

    def _snare(self, tone: float, decay: float, rng: np.random.Generator) -> np.ndarray:
        t = self._t(decay * 3)
        sos = butter(2, [1500, 9000], btype="bandpass", fs=self.sr, output="sos")
        noise = sosfilt(sos, rng.standard_normal(t.size)) * np.exp(-t / decay)
        body = 0.5 * np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.05)
        return noise * 1.5 + body

    def _hat(self, decay: float, rng: np.random.Generator) -> np.ndarray:
        t = self._t(decay * 4)
        sos = butter(4, 7000, btype="highpass", fs=self.sr, output="sos")
        return sosfilt(sos, rng.standard_normal(t.size)) * np.exp(-t / decay) * 0.6


def drum_hits(bar_q: float, beat_q: float, downbeat_q: float, length_q: float,
              rng: np.random.Generator) -> list[tuple[float, str, float]]:
    """(time in quarter notes, drum, velocity) for a simple pattern that fits the meter."""
    beats = max(round(bar_q / beat_q), 1)
    hat_step = 0.5  # eighth notes, in simple and compound meters alike
    fill_every = int(rng.choice([4, 8]))
    hits: list[tuple[float, str, float]] = []
    bar_start = downbeat_q - bar_q if downbeat_q > 0 else 0.0
    bar_index = 0
    while bar_start < length_q:
        for b in range(beats):
            t = bar_start + b * beat_q
            if beats == 3:  # waltz: kick on one, snare on two and three
                hits.append((t, "kick" if b == 0 else "snare", 0.9 if b == 0 else 0.45))
            elif b % 2 == 0:
                hits.append((t, "kick", 1.0 if b == 0 else 0.85))
            else:
                hits.append((t, "snare", 0.8))
        steps = round(bar_q / hat_step)
        for s in range(steps):
            last = s == steps - 1 and (bar_index + 1) % fill_every == 0
            hits.append((bar_start + s * hat_step, "open_hat" if last else "hat", 0.5 if s % 2 == 0 else 0.35))
        bar_start += bar_q
        bar_index += 1
    return [(t, d, v * rng.uniform(0.85, 1.0)) for t, d, v in hits if 0 <= t < length_q]
