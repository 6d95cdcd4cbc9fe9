"""Shortlisting the chunk grid in NumPy: every candidate offset scored from one STFT of the search region.

The embedder pushes every bit's statistic to ±margin, so at the right grid offset the K statistics of a chunk
cluster at two values ±a (a ≤ margin: codecs, noise and quiet bands shrink it), while at a wrong offset or on
unmarked audio they scatter like Gaussian noise around 0. :func:`mark_strength` measures that shape, not the
level, so a mark that arrived weak (a bass-heavy track with a quiet carrier band, an attack) still shows.

Scoring 100 offsets × S chunks one model read each costs hundreds of reads; instead the region's STFT is taken
once (frames every hop, the same frames the chunks see, since a chunk is a whole number of hops), tiles are pooled
from it for every offset, whitened and correlated with the key's layout (no reliability weighting). Chunk-edge
frames and the level floor differ a little from a chunk-by-chunk read, and without the reliability network a
codec's holes weigh in, so this only shortlists: the streaming detector reads the shortlisted offsets exactly, and
reads every offset when none of them shows a clear mark (weak or heavily attacked audio).

:func:`partial_statistics` reads the same way the part of a chunk that a read holds at its edges (the tile rows
whose frames lie inside it), so a 3 s excerpt yields all three core segments (see :mod:`soundsafe.payload.packets`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.fft

from soundsafe.watermark.config import ModelConfig
from soundsafe.watermark.host_spectral import hann_window, stft

__all__ = ["chunk_stride", "grid_scores", "mark_strength", "partial_statistics", "tempo_scores"]

_GAUSSIAN = 2 / np.pi  # mean(|s|)² / mean(s²) of Gaussian statistics: what unmarked audio gives


def mark_strength(stats: np.ndarray) -> np.ndarray:
    """How clearly statistics ``(..., K)`` carry a mark, in [0, 1]: 0 for Gaussian scatter (unmarked audio,
    a wrong grid offset), 1 when every bit sits at the same ±a.

    It is ``mean(|s|)² / mean(s²)`` rescaled from [2/π, 1] to [0, 1], so it does not depend on the level a:
    an absolute threshold (|s| ≥ 0.6 × margin) missed whole real tracks whose mark arrived at a third of the
    margin yet read 97 % of bits right (2026-12-03, test track deb-82d19e43117a). Digital silence scores 0.
    """
    stats = np.asarray(stats, np.float64)
    power = np.mean(stats**2, axis=-1)
    ratio = np.mean(np.abs(stats), axis=-1) ** 2 / np.maximum(power, 1e-300)
    return np.where(power > 1e-12, np.clip((ratio - _GAUSSIAN) / (1 - _GAUSSIAN), 0.0, 1.0), 0.0)


def _frame_levels(mono: np.ndarray, c: ModelConfig, hop: int | None = None) -> np.ndarray:
    """Tile-column levels in dB per frame ``(frames, cols)`` (frame t centred at sample t·hop; hop defaults to
    the model's)."""
    return _column_levels(np.abs(stft(mono[None], c.n_fft, hop or c.hop)[0]), c)  # the carrier's STFT


def _column_levels(magnitude: np.ndarray, c: ModelConfig) -> np.ndarray:
    """Tile-column levels in dB ``(frames, cols)`` of a magnitude spectrum ``(frames, bins)``, floored at the
    loudest cell minus ``floor_db`` as the carrier floors them."""
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


def chunk_stride(config: ModelConfig, tempo: float = 1.0) -> int:
    """Samples from one chunk's start to the next when chunks are ``tempo`` × a chunk apart, to a whole hop."""
    return config.chunk_samples + config.hop * round((tempo - 1) * config.chunk_samples / config.hop)


def grid_scores(mono: np.ndarray, config: ModelConfig, layout: np.ndarray, chunks: int,
                offsets: list[int], stride: int | None = None) -> np.ndarray:
    """Mean :func:`mark_strength` over ``chunks`` consecutive chunks for each offset (samples, multiples of hop) in
    ``offsets``, reading ``mono`` (44.1 kHz, at least ``max(offsets) + (chunks − 1) · stride + chunk_samples``
    long). ``stride``: samples from one chunk's start to the next (default ``chunk_samples``; a multiple of hop)."""
    c = config
    stride = c.chunk_samples if stride is None else stride
    if c.chunk_samples % c.hop or stride % c.hop:
        raise ValueError("grid search needs chunks (and a stride) that are a whole number of hops")
    levels = _frame_levels(mono, c)
    # rolling mean over tile_frames frames: row r of a chunk starting at frame f is pooled[f + r·tile_frames]
    cum = np.concatenate([np.zeros((1, levels.shape[1])), np.cumsum(levels, axis=0)])
    pooled = (cum[c.tile_frames:] - cum[: -c.tile_frames]) / c.tile_frames
    rows, cols = c.tile_grid
    starts = np.array(offsets) // c.hop
    index = (starts[:, None, None] + (np.arange(chunks) * (stride // c.hop))[None, :, None]
             + np.arange(rows) * c.tile_frames)
    tiles = pooled[index].reshape(len(offsets) * chunks, rows * cols)  # (offsets · chunks, rows · cols)
    stats = tiles @ _whitened_projection(layout, rows, cols)  # whitened, correlated with the layout
    return mark_strength(stats).reshape(len(offsets), chunks).mean(-1)


_FINE = 3  # tempo search: frames every hop / 3 (3.3 ms), the nearest one stands in for a warped frame


_PROJECTIONS: dict[tuple[bytes, int, int], np.ndarray] = {}  # a key's layout is searched again and again


def _whitened_projection(layout: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``layout`` with the whitening folded in: ``tiles @ result`` = ``whiten(tiles) @ layout / |layout|``
    (whitening is linear), so a search over many grids skips whitening each one."""
    key = (hashlib.sha1(np.ascontiguousarray(layout).tobytes()).digest(), rows, cols)
    if key not in _PROJECTIONS:
        if len(_PROJECTIONS) >= 4:
            _PROJECTIONS.clear()
        _PROJECTIONS[key] = _project(layout, rows, cols)
    return _PROJECTIONS[key]


def _project(layout: np.ndarray, rows: int, cols: int) -> np.ndarray:
    basis = np.eye(rows * cols, dtype=np.float64).reshape(rows * cols, rows, cols)
    whitened = _whiten(basis).reshape(rows * cols, rows * cols)  # row i: whiten(e_i)
    return (whitened @ layout / np.abs(layout).sum(0)).astype(np.float32)


def tempo_scores(mono: np.ndarray, config: ModelConfig, layout: np.ndarray, tempos: list[float]) -> np.ndarray:
    """The best grid's :func:`mark_strength` (offsets every hop over a chunk, as many whole chunks as every offset
    holds) in ``mono`` read at each of ``tempos``: chunk frame f of chunk i at offset o centred at
    ``o + (i · frames + f) · hop · tempo``. A time-stretch (or the pitch shift whose pitch a resampling undid)
    moves every row of a chunk, not only its start, so the rows are warped too. Levels come from one STFT with
    frames every hop/3; the nearest frame (≤ 1.7 ms away) stands in for each warped one."""
    c = config
    step = c.hop // _FINE
    levels = _frame_levels(np.asarray(mono, np.float32), c, step).astype(np.float32)
    rows, cols = c.tile_grid
    # a row's tile is the mean of its frames: fold that mean into the projection as well
    projection = np.repeat(_whitened_projection(layout, rows, cols).reshape(rows, 1, cols, -1), c.tile_frames, 1)
    projection = projection.reshape(rows * c.tile_frames * cols, -1) / c.tile_frames
    frame = np.arange(rows * c.tile_frames)
    scores = []
    for tempo in tempos:
        span = c.frames * c.hop * tempo  # one chunk, stretched
        room = mono.size - c.n_fft // 2 - frame[-1] * c.hop * tempo  # for the first chunk's start
        chunks = 1 + int(room // span)
        if chunks > 1 and room - (chunks - 1) * span < 0.9 * span:
            chunks -= 1  # the offsets that hold one more chunk would not cover 90 % of a chunk's phases
        offsets = np.arange(0, int(min(span, room - (chunks - 1) * span)), c.hop)
        if room < 0 or offsets.size == 0:
            scores.append(0.0)
            continue
        # an offset is a whole number of fine frames, so only the warp within the chunks needs rounding
        pattern = np.round((np.arange(chunks)[:, None] * span + frame[None, :] * c.hop * tempo) / step)
        index = np.minimum((offsets // step)[:, None, None] + pattern.astype(np.int64)[None], len(levels) - 1)
        stats = levels[index].reshape(len(offsets) * chunks, -1) @ projection
        scores.append(float(mark_strength(stats).reshape(len(offsets), chunks).mean(-1).max()))
    return np.array(scores)


def partial_statistics(audio: np.ndarray, start: float, config: ModelConfig, layout: np.ndarray,
                       tempo: float = 1.0) -> np.ndarray | None:
    """Per-bit statistics ``(K,)`` of a chunk of which only ``audio`` is present; None when no whole tile row lies
    inside it. The chunk starts at sample ``start`` of ``audio`` (negative: before it, as at a read's head) and
    runs ``tempo`` × its nominal length (1.02: time-stretched 2 % longer), so its frame f is centred at
    ``start + f · hop · tempo``: a partial read at the nominal geometry after a 2 % stretch is 1-2 hops off in the
    rows it holds (half a tile row), which cost the third core segment of 3 s reads.

    Only tile rows whose every STFT window lies inside ``audio`` count, whitened among themselves. Each bit's
    sum is divided by its tile count in a *whole* chunk, so a bit with a third of its tiles present reads at
    about a third of the level: scaled by the model's LLR scale it is a soft bit worth that share of a chunk.
    """
    c = config
    audio = np.asarray(audio, np.float32)
    half = c.n_fft // 2
    rows, _ = c.tile_grid
    frame = np.arange(rows * c.tile_frames)
    centres = np.round(start + frame * c.hop * tempo).astype(np.int64)
    inside = ((centres - half >= 0) & (centres + half <= audio.size)).reshape(rows, c.tile_frames).all(axis=1)
    keep = np.flatnonzero(inside)
    if keep.size == 0:
        return None
    centres = centres.reshape(rows, c.tile_frames)[keep].reshape(-1)
    windows = audio[centres[:, None] + np.arange(-half, half)[None, :]]
    levels = _column_levels(np.abs(scipy.fft.rfft(windows * hann_window(c.n_fft), axis=-1, workers=1)), c)
    cols = levels.shape[1]
    tiles = levels.reshape(keep.size, c.tile_frames, cols).mean(1)  # (kept rows, cols)
    white = _whiten(tiles)
    rows_layout = layout.reshape(rows, cols, -1)[keep].reshape(keep.size * cols, -1)
    return white.reshape(-1) @ rows_layout / np.maximum(np.abs(layout).sum(0), 1.0)
