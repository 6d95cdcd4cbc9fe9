"""Per-file audio statistics for validation, computed in blocks (bounded memory on long files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from soundsafe.manifest import audio_path, sha256_file
from soundsafe.payload.record import record_problems
from soundsafe.payload.serialize import PayloadTooLargeError, serialize
from soundsafe.progress import progress

__all__ = ["CLIP_LEVEL", "STAT_COLUMNS", "file_stats", "manifest_stats"]

CLIP_LEVEL = 0.9999  # a sample at or above this magnitude counts as clipped (full scale in 16-bit is 0.99997)
# Fixed columns: the expectations can run (and name files) even when no file at all could be decoded.
STAT_COLUMNS = ("track_id", "path", "split", "readable", "read_error", "sample_rate", "channels", "num_frames",
                "duration_s", "peak", "clip_ratio", "silence_ratio", "nonfinite_samples", "checksum_ok",
                "matches_manifest", "metadata_ok", "metadata_problems", "payload_bytes")


def file_stats(path: Path, silence_dbfs: float, frame_seconds: float = 0.05) -> dict[str, Any]:
    """Decode ``path`` block by block: rate, channels, duration, peak, clipping, silence, non-finite samples."""
    try:
        with sf.SoundFile(str(path)) as f:
            sr, channels = f.samplerate, f.channels
            frame = max(int(sr * frame_seconds), 1)
            peak, clipped, nonfinite, total, silent, frames = 0.0, 0, 0, 0, 0, 0
            threshold = 10 ** (silence_dbfs / 20)
            for block in f.blocks(blocksize=frame * 200, dtype="float32", always_2d=True):
                finite = np.isfinite(block)
                nonfinite += int(block.size - finite.sum())
                magnitude = np.abs(np.where(finite, block, 0.0))
                if magnitude.size:
                    peak = max(peak, float(magnitude.max()))
                clipped += int((magnitude >= CLIP_LEVEL).sum())
                total += block.shape[0]
                usable = block.shape[0] // frame * frame
                if usable:
                    rms = np.sqrt(np.mean(magnitude[:usable].reshape(-1, frame, channels) ** 2, axis=(1, 2)))
                    silent += int((rms < threshold).sum())
                    frames += rms.size
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return {"readable": False, "read_error": str(exc)}
    return {
        "readable": True,
        "read_error": "",
        "sample_rate": sr,
        "channels": channels,
        "num_frames": total,
        "duration_s": total / sr,
        "peak": peak,
        "clip_ratio": clipped / max(total * channels, 1),
        "silence_ratio": silent / frames if frames else 1.0,
        "nonfinite_samples": nonfinite,
    }


def manifest_stats(manifest: pd.DataFrame, manifest_path: Path, silence_dbfs: float,
                   require_metadata: bool) -> pd.DataFrame:
    """One row of statistics and checks per manifest row, in manifest order."""
    rows = []
    for row in progress(manifest.to_dict("records"), "validate audio", unit="file"):
        path = audio_path(manifest_path, row["path"])
        stats: dict[str, Any] = {"track_id": row["track_id"], "path": str(path), "split": row["split"]}
        stats.update(file_stats(path, silence_dbfs) if path.is_file() else
                     {"readable": False, "read_error": "file not found"})
        stats["checksum_ok"] = bool(stats["readable"]) and sha256_file(path) == row["sha256"]
        stats["matches_manifest"] = bool(stats["readable"]) and (
            stats["sample_rate"] == row["sample_rate"] and stats["num_frames"] == row["num_frames"]
            and stats["channels"] == row["channels"])
        problems = _metadata_problems(row["metadata"], require_metadata)
        stats["metadata_ok"] = not problems
        stats["metadata_problems"] = "; ".join(problems)
        stats["payload_bytes"] = _payload_bytes(row["metadata"]) if not problems else float("nan")
        rows.append(stats)
    return pd.DataFrame(rows, columns=list(STAT_COLUMNS))


def _payload_bytes(raw: Any) -> float:
    """Serialized size of a valid record (what the watermark must carry); NaN when there is no record."""
    if raw is None or raw == "":
        return float("nan")
    try:
        return float(len(serialize(json.loads(raw))))
    except PayloadTooLargeError as exc:
        return float(exc.size)


def _metadata_problems(raw: Any, required: bool) -> list[str]:
    if raw is None or raw == "":
        return ["no metadata record"] if required else []
    try:
        record = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        return [f"metadata is not valid JSON: {exc}"]
    return record_problems(record)
