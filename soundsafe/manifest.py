"""The manifest: one row per track, the contract between data steps.

Columns (Parquet): ``track_id`` (unique), ``path`` (audio file, relative to the manifest's folder), ``split``
(train/val/test), ``source`` (where the audio came from; tracks that share a source share a split),
``duration_s``, ``sample_rate``, ``channels``, ``num_frames``, ``sha256`` (of the file bytes), ``isrc``,
``title``, ``metadata`` (the full rights record as JSON, or empty when unknown).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from soundsafe.atomic import atomic_path
from soundsafe.checksum import sha256_file
from soundsafe.errors import ManifestError

__all__ = ["COLUMNS", "MANIFEST_NAME", "ManifestError", "assign_splits", "audio_path", "hash_splits",
           "read_manifest", "sha256_file", "write_manifest"]

MANIFEST_NAME = "manifest.parquet"
COLUMNS = ("track_id", "path", "split", "source", "duration_s", "sample_rate", "channels", "num_frames", "sha256",
           "isrc", "title", "metadata")


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the manifest atomically, columns in canonical order."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"manifest is missing columns {missing}")
    with atomic_path(path) as tmp:
        df.loc[:, list(COLUMNS)].to_parquet(tmp, index=False)


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest and check it has every column."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found (run the corpus step or `soundsafe ingest` first)")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise ManifestError(f"{path}: not a readable Parquet manifest: {exc}") from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: manifest is missing columns {missing}")
    return df


def audio_path(manifest_path: str | os.PathLike[str], relative: str) -> Path:
    """Where a manifest row's audio file is: paths are relative to the manifest's folder."""
    return Path(manifest_path).parent / relative


def hash_splits(sources: list[str], fractions: dict[str, float]) -> dict[str, str]:
    """Split by a hash of each source's name: a source's split never depends on the others, so adding
    files to a corpus (a package update) moves no track between splits. Fractions hold in expectation."""
    total = sum(fractions.values())
    if total <= 0:
        raise ValueError(f"split fractions must add up to a positive number, got {fractions}")
    bounds, cumulative = [], 0.0
    for name in ("test", "val", *[n for n in fractions if n not in ("test", "val")]):
        if name in fractions:
            cumulative += fractions[name] / total
            bounds.append((cumulative, name))
    result = {}
    for source in dict.fromkeys(sources):
        u = int(hashlib.sha256(source.encode()).hexdigest()[:15], 16) / 16**15
        result[source] = next((name for bound, name in bounds if u < bound), bounds[-1][1])
    return result


def assign_splits(sources: list[str], fractions: dict[str, float]) -> dict[str, str]:
    """Split by source (composition or original file), in order of first appearance.

    Every non-empty split with a positive fraction gets at least one source when there are enough of them, so a
    tiny corpus still has val and test tracks. Tracks sharing a source never straddle splits.
    """
    unique = list(dict.fromkeys(sources))
    n = len(unique)
    counts = {name: round(frac * n) for name, frac in fractions.items() if name != "train"}
    for name, frac in fractions.items():
        if name != "train" and frac > 0 and counts[name] == 0 and n > len(fractions) - 1:
            counts[name] = 1
    result: dict[str, str] = {}
    cursor = 0
    for name in ("test", "val"):
        for source in unique[cursor : cursor + counts.get(name, 0)]:
            result[source] = name
        cursor += counts.get(name, 0)
    for source in unique[cursor:]:
        result[source] = "train"
    return result
