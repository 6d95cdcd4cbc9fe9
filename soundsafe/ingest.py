"""Ingest a folder of real audio (+ optional metadata CSV) into the manifest format.

Every wav/flac/ogg/mp3/… file under the folder is decoded, resampled to the target rate and written as 16-bit
WAV. Unreadable files are listed by name (on stderr and in ``rejected.csv``) and skipped, never dropped
silently. The metadata CSV has a ``file`` column (path relative to the source folder) and record fields as
columns; list fields (``writers``, ``publishers``, ``territories``) hold JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soundsafe.atomic import atomic_dir
from soundsafe.audio.io import AUDIO_EXTENSIONS, AudioReadError, read_audio, resample, write_wav
from soundsafe.errors import IngestError
from soundsafe.manifest import MANIFEST_NAME, assign_splits, sha256_file, write_manifest
from soundsafe.progress import progress

__all__ = ["IngestError", "ingest_folder", "write_track"]

_LIST_FIELDS = ("writers", "publishers", "territories")


def _load_metadata(csv_path: Path) -> dict[str, dict[str, Any]]:
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise IngestError(f"{csv_path}: not a readable CSV: {exc}") from exc
    if "file" not in table.columns:
        raise IngestError(f"{csv_path}: needs a 'file' column naming each audio file (relative to the folder)")
    records: dict[str, dict[str, Any]] = {}
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key == "file" or value == "":
                continue
            if key in _LIST_FIELDS:
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise IngestError(f"{csv_path}:{row_number}: column {key} must hold JSON ({exc})") from exc
            record[key] = value
        records[row["file"]] = record
    return records


def write_track(out_dir: Path, source: str, audio: np.ndarray, sr: int, sample_rate: int,
                record: dict[str, Any] | None, prefix: str = "ing") -> dict[str, Any]:
    """Resample ``audio`` to ``sample_rate``, write it as ``out_dir/audio/<id>.wav`` (16-bit) and return its
    manifest row (without ``split``). The id is a hash of ``source``, so it is stable across runs."""
    audio = resample(audio, sr, sample_rate)
    track_id = f"{prefix}-" + hashlib.sha1(source.encode()).hexdigest()[:12]
    dest = out_dir / "audio" / f"{track_id}.wav"
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_wav(dest, audio, sample_rate)
    return {
        "track_id": track_id, "path": f"audio/{dest.name}", "source": source,
        "duration_s": audio.shape[0] / sample_rate, "sample_rate": sample_rate,
        "channels": audio.shape[1], "num_frames": audio.shape[0], "sha256": sha256_file(dest),
        "isrc": (record or {}).get("isrc", ""), "title": (record or {}).get("title", Path(source).stem),
        "metadata": json.dumps(record, sort_keys=True, ensure_ascii=False) if record else "",
    }


def ingest_folder(src: Path, out_dir: Path, sample_rate: int = 44100, metadata_csv: Path | None = None,
                  splits: dict[str, float] | None = None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Ingest ``src`` into ``out_dir`` (replaced atomically). Returns the manifest and the rejected files."""
    src = Path(src)
    if not src.is_dir():
        raise IngestError(f"{src}: not a folder")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise IngestError(f"{src}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    metadata = _load_metadata(metadata_csv) if metadata_csv else {}
    rows: list[dict[str, Any]] = []
    rejected: list[tuple[str, str]] = []
    with atomic_dir(out_dir) as tmp:
        (tmp / "audio").mkdir()
        for path in progress(files, "ingest", unit="file"):
            rel = path.relative_to(src).as_posix()
            try:
                audio, sr = read_audio(path)
                if audio.size == 0:
                    raise AudioReadError("no samples")
            except AudioReadError as exc:
                rejected.append((rel, str(exc)))
                print(f"ingest: skipped {rel}: {exc}", file=sys.stderr)
                continue
            rows.append(write_track(tmp, rel, audio, sr, sample_rate, metadata.get(rel)))
        if not rows:
            raise IngestError(f"{src}: none of the {len(files)} audio files could be read")
        df = pd.DataFrame(rows)
        split_of = assign_splits(df["source"].tolist(), splits or {"train": 0.8, "val": 0.1, "test": 0.1})
        df["split"] = df["source"].map(split_of)
        write_manifest(df, tmp / MANIFEST_NAME)
        pd.DataFrame(rejected, columns=["file", "error"]).to_csv(tmp / "rejected.csv", index=False)
    return df, rejected
