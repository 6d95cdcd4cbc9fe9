"""Speed search: the playback-speed factor of audio that was sped up or slowed down before it reached us.

A speed change (pitch and tempo together: a wrong sample rate, a DJ's pitch fader, a broadcaster's 2 % speed-up)
moves every tile in time and frequency, so the chunk grid is not found at any offset (2 % at 9 kHz is two tiles).
Resampling the audio by the right factor undoes it exactly. The search resamples one region of the input by each
candidate factor and scores the chunk grid there with the one-STFT shortlist of :mod:`soundsafe.watermark.sync`
(its best offset's :func:`~soundsafe.watermark.sync.mark_strength`): coarse steps over ``±SPEED_RANGE``, then
fine steps around the best, as audiowmark's ``--detect-speed`` does. A factor is kept only when it scores
clearly above no change, so unattacked audio is read as it is. Each factor's grid is scored twice: chunks one
chunk apart (a speed change) and ``factor`` chunks apart (a pitch shift, tempo kept: the resampling that
restores its pitch stretches its time), so the same search finds a pitch shift's factor.

:func:`estimate_tempo` then finds a tempo change that kept the pitch (a time-stretch; or what is left after a
pitch shift's resampling): the chunk grid read with every frame warped by each candidate tempo
(:func:`~soundsafe.watermark.sync.tempo_scores`), 1 % steps then 0.5 % and 0.25 %. The detector follows a
drifting grid on its own, but it cannot see a 2 % tempo inside a 3 s excerpt (two chunks 2 hops further apart
still read as marked where it expects them), and the partial chunks at the excerpt's edges read at the wrong
tempo give wrong bits: measured on val (2026-12-06) the warped grid scores 0.89-0.97 at the true tempo and
0.70-0.87 at none in a 3 s excerpt stretched 2 %, and finds the tempo to 0.5 %.

Measured on real validation music (2026-12-03): at the true factor the grid scores 0.96–0.99, 0.25 % away
0.77–0.87, and 0.14–0.22 with no correction, so coarse steps of 0.5 % cannot miss it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.sync import chunk_stride, grid_scores, tempo_scores

__all__ = ["SPEED_RANGE", "SpeedEstimate", "estimate_speed", "estimate_tempo", "undo_speed"]

SPEED_RANGE = 0.05  # factors 0.95 … 1.05 are searched
_COARSE_STEP = 0.005
_FINE_STEP = 0.00125
_REGION_SECONDS = 5.0  # audio the search scores (from the middle of the input): 4 chunks
_KEEP_MARGIN = 0.05  # a factor must beat no change by this much in mark strength to be used
_TEMPO_STEPS = (0.01, 0.005, 0.0025)  # tempo search: coarse, then two refinements around the best


@dataclass(frozen=True)
class SpeedEstimate:
    """The factor the audio was sped up by (1.02: played 2 % fast), or for :func:`estimate_tempo` the tempo its
    chunks run at (1.02: 2 % longer), and the grid scores behind it."""

    factor: float
    score: float  # mark strength of the best grid at ``factor``
    unchanged_score: float  # … and with no correction


def undo_speed(audio: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """``audio`` (frames first) as it was before a speed-up by ``factor``: ``factor`` times as many frames."""
    if factor == 1.0:
        return audio
    import soxr

    return soxr.resample(audio, sr, sr * factor, quality="HQ").astype(np.float32, copy=False)


def _score(region: np.ndarray, config: ModelConfig, layout: np.ndarray, factor: float) -> float:
    """The best grid's mark strength in ``region`` resampled by ``factor``, with chunks one chunk apart (a speed
    change, undone) or ``factor`` chunks apart (a pitch shift: undoing its pitch stretched its tempo)."""
    y = undo_speed(region, config.sample_rate, factor)
    n, hop = config.chunk_samples, config.hop
    best = 0.0
    for stride in sorted({n, chunk_stride(config, factor)}):
        chunks = max(1, (y.size - n) // stride)
        if y.size < n + chunks * stride:
            chunks = 1
            if y.size < n:
                return 0.0
        offsets = list(range(0, min(n, y.size - (chunks - 1) * stride - n + 1), hop))
        if offsets:
            best = max(best, float(grid_scores(y, config, layout, chunks, offsets, stride).max()))
    return best


def estimate_speed(mono: np.ndarray, config: ModelConfig, layout: np.ndarray) -> SpeedEstimate:
    """Search the speed factor of ``mono`` (1-D, at the model's rate) for the key's carrier ``layout``."""
    region = _region(mono, config)
    scores: dict[float, float] = {}

    def scan(factors: np.ndarray) -> None:
        for f in np.round(factors, 5):
            if float(f) not in scores:
                scores[float(f)] = _score(region, config, layout, float(f))

    scan(np.arange(1 - SPEED_RANGE, 1 + SPEED_RANGE + 1e-9, _COARSE_STEP))
    coarse = max(scores, key=scores.__getitem__)
    scan(np.arange(coarse - _COARSE_STEP, coarse + _COARSE_STEP + 1e-9, _FINE_STEP))
    best = max(scores, key=scores.__getitem__)
    unchanged = scores[1.0]
    factor = best if scores[best] > unchanged + _KEEP_MARGIN else 1.0
    return SpeedEstimate(factor, scores[factor], unchanged)


def _region(mono: np.ndarray, config: ModelConfig) -> np.ndarray:
    size = round(_REGION_SECONDS * config.sample_rate)
    start = max(0, (mono.size - size) // 2)
    return np.ascontiguousarray(mono[start: start + size], np.float32)


def estimate_tempo(mono: np.ndarray, config: ModelConfig, layout: np.ndarray) -> SpeedEstimate:
    """Search the tempo of ``mono``'s chunk grid (1-D, at the model's rate; 1.02: chunks 2 % longer, pitch kept)
    over ``1 ± SPEED_RANGE`` for the key's carrier ``layout``; 1 unless another tempo scores clearly better."""
    region = _region(mono, config)
    scores: dict[float, float] = {}

    def scan(tempos: np.ndarray) -> float:
        todo = [float(t) for t in np.round(tempos, 5) if float(t) not in scores]
        scores.update(zip(todo, tempo_scores(region, config, layout, todo).tolist(), strict=True))
        return max(scores, key=scores.__getitem__)

    coarse, *finer = _TEMPO_STEPS
    best = scan(np.arange(1 - SPEED_RANGE, 1 + SPEED_RANGE + 1e-9, coarse))
    for step in finer:
        best = scan(np.array([best - step, best + step]))
    unchanged = scores[1.0]
    tempo = best if scores[best] > unchanged + _KEEP_MARGIN else 1.0
    return SpeedEstimate(tempo, scores[tempo], unchanged)
