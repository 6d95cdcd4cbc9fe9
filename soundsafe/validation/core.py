"""Validate a manifest and its audio; write the reports; write the validated manifest only on success."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from soundsafe.atomic import atomic_dir, atomic_path, write_json
from soundsafe.errors import DataValidationError
from soundsafe.manifest import MANIFEST_NAME, audio_path, read_manifest, write_manifest
from soundsafe.validation.expectations import ValidationOutcome, run_expectations
from soundsafe.validation.stats import manifest_stats

__all__ = ["DataValidationError", "validate_corpus"]


def validate_corpus(manifest_path: Path, p: dict[str, Any], report_dir: Path,
                    validated_dir: Path | None = None) -> tuple[ValidationOutcome, dict[str, float]]:
    """Check ``manifest_path``; reports go to ``report_dir`` (always), the validated manifest to
    ``validated_dir`` (only when everything passes). Raises :class:`DataValidationError` on bad data."""
    started = time.perf_counter()
    manifest = read_manifest(manifest_path)
    stats = manifest_stats(manifest, manifest_path, float(p["silence_dbfs"]), bool(p["require_metadata"]))
    outcome = run_expectations(stats, p)
    wall = time.perf_counter() - started
    audio_hours = float(stats["duration_s"].fillna(0).sum()) / 3600
    metrics = {
        "files": len(stats),
        "audio_hours": round(audio_hours, 4),
        "expectations": outcome.evaluated,
        "expectations_failed": outcome.failed,
        "problems": len(outcome.problems),
        "validation_seconds": round(wall, 3),
        "seconds_per_audio_hour": round(wall / audio_hours, 2) if audio_hours else 0.0,
    }
    write_json(report_dir / "report.json", {"success": outcome.success, "problems": outcome.problems,
                                            "metrics": metrics, "great_expectations": outcome.report})
    with atomic_path(report_dir / "files.csv") as tmp:
        stats.to_csv(tmp, index=False)
    if not outcome.success:
        shown = outcome.problems[:40]
        more = len(outcome.problems) - len(shown)
        lines = [f"data validation failed: {len(outcome.problems)} problem(s) in {manifest_path}", *shown]
        if more:
            lines.append(f"... and {more} more")
        lines.append(f"full report: {report_dir / 'report.json'} (per-file statistics: {report_dir / 'files.csv'})")
        raise DataValidationError("\n".join(lines))
    if validated_dir is not None:
        with atomic_dir(validated_dir) as tmp:
            relocated = manifest.copy()
            # Keep pointing at the same audio files, now relative to the validated manifest's folder. Lexically
            # (abspath, not resolve): an orchestrator links data/corpus into a workspace, and the link, not
            # wherever it points, is what the next step will find beside data/validated.
            relocated["path"] = [os.path.relpath(os.path.abspath(audio_path(manifest_path, p_)),
                                                 os.path.abspath(validated_dir)) for p_ in manifest["path"]]
            write_manifest(relocated, tmp / MANIFEST_NAME)
    return outcome, metrics
