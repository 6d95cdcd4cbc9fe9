"""Shortlisting the chunk grid in NumPy: every candidate offset scored from one STFT of the search region.

The embedder pushes every bit's statistic to ±margin, so at the right grid offset most bits of a chunk reach
0.6 × margin, while at a wrong one about half do by chance. Scoring 100 offsets × S chunks one model read each
costs hundreds of reads; instead the region's STFT is taken once (frames every hop, the same frames the
chunks see, since a chunk is a whole number of hops), tiles are pooled from it for every offset, whitened and
correlated with the key's layout (no reliability weighting). Chunk-edge frames and the level floor differ a
little from a chunk-by-chunk read, and without the reliability network a codec's holes weigh in, so this only
shortlists: the streaming detector reads the shortlisted offsets exactly, and reads every offset when none of
them shows a clear mark (weak or heavily attacked audio).
"""

from __future__ import annotations

import numpy as np

from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.host_spectral import stft

__all__ = ["REACH", "grid_scores", "reach_share"]

REACH = 0.6  # a bit "reaches" when |statistic| ≥ REACH × margin


def reach_share(stats: np.ndarray, margin_db: float) -> np.ndarray:
    """Share of bits whose statistic reaches ``REACH × margin`` (the last axis holds the bits)."""
    return (np.abs(stats) >= REACH * margin_db).mean(axis=-1)


def _frame_levels(mono: np.ndarray, c: ModelConfig) -> np.ndarray:
    """Tile-column levels in dB per frame ``(frames, cols)`` (frame t centred at sample t·hop)."""
    magnitude = np.abs(stft(mono[None], c.n_fft, c.hop)[0])  # the carrier's STFT, as the ONNX engine takes it
    lo, hi = c.band
    floor = 20 * np.log10(max(float(magnitude.max()), 1e-9)) - c.floor_db
    db = np.maximum(20 * np.log10(np.maximum(magnitude[:, lo:hi], 1e-9)), floor)
    cols = (hi - lo) // c.tile_bins
    return db[:, : cols * c.tile_bins].reshape(len(db), cols, c.tile_bins).mean(-1)


def _whiten(tiles: np.ndarray) -> np.ndarray:
    """Tile minus its 3 × 3 neighbourhood mean, edges replicated (as the model's carrier does)."""
    p = np.pad(tiles, [(0, 0)] * (tiles.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    rows, cols = tiles.shape[-2:]
    local = sum(p[..., i: i + rows, j: j + cols] for i in range(3) for j in range(3)) / 9.0
    return tiles - local


def grid_scores(mono: np.ndarray, config: ModelConfig, layout: np.ndarray, chunks: int,
                offsets: list[int]) -> np.ndarray:
    """Mean reach share over ``chunks`` consecutive chunks for each offset (samples, multiples of hop) in
    ``offsets``, reading ``mono`` (44.1 kHz, at least ``max(offsets) + chunks · chunk_samples`` long)."""
    c = config
    if c.chunk_samples % c.hop:
        raise ValueError("grid search needs chunks that are a whole number of hops")
    levels = _frame_levels(mono, c)
    # rolling mean over tile_frames frames: row r of a chunk starting at frame f is pooled[f + r·tile_frames]
    cum = np.concatenate([np.zeros((1, levels.shape[1])), np.cumsum(levels, axis=0)])
    pooled = (cum[c.tile_frames:] - cum[: -c.tile_frames]) / c.tile_frames
    rows, cols = c.tile_grid
    starts = np.array(offsets) // c.hop
    index = starts[:, None, None] + (np.arange(chunks) * c.frames)[None, :, None] + (np.arange(rows) * c.tile_frames)
    tiles = pooled[index]  # (offsets, chunks, rows, cols)
    white = _whiten(tiles).reshape(len(offsets) * chunks, rows * cols)
    stats = white @ layout / np.abs(layout).sum(0)
    return reach_share(stats, c.margin_db).reshape(len(offsets), chunks).mean(-1)
