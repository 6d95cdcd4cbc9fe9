"""Catalog tracks for the fingerprint: mono audio per track, descriptors for hard negatives, training windows.

Descriptors (seed 001 §5): a 12-bin chroma profile (harmonic content and key) and a tempo estimate from the
autocorrelation of an onset envelope; tracks whose descriptors are nearest are the "confusable" ones that hard
negative batches are built from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundsafe.audio.io import read_audio, resample
from soundsafe.manifest import audio_path, read_manifest

__all__ = ["Track", "descriptors", "load_tracks", "nearest_tracks"]

_SILENT_RMS = 10 ** (-50 / 20)


@dataclass
class Track:
    """One catalog entry: an ID, what to report, and its mono audio at the encoder's rate."""

    track_id: str
    title: str
    isrc: str
    audio: np.ndarray  # (samples,) float32


def load_tracks(manifest: Path, splits: list[str] | None, sample_rate: int) -> list[Track]:
    """Tracks of ``splits`` (all when None) from a corpus manifest, mono at ``sample_rate``."""
    df = read_manifest(manifest)
    rows = df if splits is None else df[df["split"].isin(splits)]
    if rows.empty:
        raise ValueError(f"{manifest}: no tracks in splits {splits} (splits: {sorted(df['split'].unique())})")
    tracks = []
    for _, row in rows.iterrows():
        audio, sr = read_audio(audio_path(manifest, row["path"]))
        record = json.loads(row["metadata"]) if isinstance(row.get("metadata"), str) and row["metadata"] else {}
        tracks.append(Track(Path(row["path"]).stem, str(record.get("title", Path(row["path"]).stem)),
                            str(record.get("isrc", "")), resample(audio, sr, sample_rate).mean(axis=1)))
    return tracks


def _chroma(audio: np.ndarray, sr: int) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(audio, 4096)[::2048]
    power = np.abs(np.fft.rfft(frames * np.hanning(4096), axis=-1)).mean(axis=0) ** 2
    freqs = np.fft.rfftfreq(4096, 1 / sr)
    keep = (freqs > 55) & (freqs < 4000)
    pitch_class = np.round(12 * np.log2(freqs[keep] / 440.0)).astype(int) % 12
    chroma = np.bincount(pitch_class, weights=power[keep], minlength=12)
    return chroma / max(float(chroma.sum()), 1e-12)


def _tempo(audio: np.ndarray, sr: int) -> float:
    hop = sr // 100  # 10 ms onset envelope
    frames = np.lib.stride_tricks.sliding_window_view(audio, 2 * hop)[::hop]
    energy = np.log1p(100 * (frames**2).mean(axis=1))
    onset = np.maximum(np.diff(energy), 0)
    onset -= onset.mean()
    ac = np.correlate(onset, onset, mode="full")[onset.size - 1:]
    lags = np.arange(ac.size)
    valid = (lags >= 100 * 60 / 200) & (lags <= 100 * 60 / 60)  # 60…200 BPM
    if not valid.any():
        return 120.0
    return float(60 * 100 / lags[valid][np.argmax(ac[valid])])


def descriptors(tracks: list[Track], sample_rate: int) -> np.ndarray:
    """``(tracks, 13)``: chroma profile and tempo / 200 BPM, for nearest-neighbour negative mining."""
    return np.stack([np.append(_chroma(t.audio, sample_rate), _tempo(t.audio, sample_rate) / 200.0)
                     for t in tracks])


def nearest_tracks(features: np.ndarray, k: int) -> np.ndarray:
    """``(tracks, k)`` indices of each track's ``k`` nearest other tracks by descriptor distance."""
    d = ((features[:, None] - features[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1)[:, : min(k, len(features) - 1)]


def random_window(track: Track, length: int, rng: np.random.Generator, tries: int = 20) -> np.ndarray:
    """A random window of ``length`` samples (audible when one can be found), zero-padded if the track is short."""
    if track.audio.size <= length:
        return np.pad(track.audio, (0, length - track.audio.size))
    for _ in range(tries):
        start = int(rng.integers(0, track.audio.size - length + 1))
        window = track.audio[start: start + length]
        if float(np.sqrt((window**2).mean())) > _SILENT_RMS:
            return window
    return window


def split_windows(manifest: Path, split: str, length: int, sample_rate: int, count: int, seed: int,
                  cycle: bool = False) -> np.ndarray:
    """Random windows ``(count, length)`` of a split's tracks, one per track in manifest order; with ``cycle``,
    ``count`` of them going round the tracks again, else at most one per track. The export checks the ONNX
    encoders on 8 val windows and calibrates the int8 one on 64 train windows (never what it is checked on)."""
    tracks = load_tracks(manifest, [split], sample_rate)
    rng = np.random.default_rng(seed)
    count = count if cycle else min(count, len(tracks))
    return np.stack([random_window(tracks[i % len(tracks)], length, rng) for i in range(count)]).astype(np.float32)


def export_windows(manifest: Path, length: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``(check, calibration)`` for :func:`~soundsafe.fingerprint.export.export_encoder`: a window of each of the
    first 8 val tracks, and 64 windows of the train tracks."""
    return (split_windows(manifest, "val", length, sample_rate, count=8, seed=0),
            split_windows(manifest, "train", length, sample_rate, count=64, seed=1, cycle=True))
