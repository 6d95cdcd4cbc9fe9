"""Excerpts of a corpus split's tracks as mono 44.1 kHz arrays, for the experiments that train small models on
real music (attribution, cloak)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soundsafe.audio.io import read_audio, resample
from soundsafe.manifest import audio_path, read_manifest

__all__ = ["load_split"]


def load_split(manifest: Path, split: str, tracks: int, seconds: float, sample_rate: int = 44100
               ) -> list[np.ndarray]:
    """The middle ``seconds`` of the first ``tracks`` tracks of ``split`` (manifest order), mono float32."""
    df = read_manifest(manifest)
    rows = df[df["split"] == split]
    if rows.empty:
        raise ValueError(f"{manifest}: no tracks in split {split!r} (splits: {sorted(df['split'].unique())})")
    out = []
    for _, row in rows.head(tracks).iterrows():
        audio, sr = read_audio(audio_path(manifest, row["path"]))
        mono = resample(audio, sr, sample_rate).mean(axis=1)
        keep = min(mono.size, round(seconds * sample_rate))
        start = (mono.size - keep) // 2
        out.append(np.ascontiguousarray(mono[start: start + keep], dtype=np.float32))
    return out
