"""The evaluation harness: every system × every clip × every attack point, into tidy tables.

For each system and clip: embed once (timed), score imperceptibility against the original, then for each attack
point read the attacked marked clip (bit accuracy, presence, ISRC, share of fields, full payload) and, for the
points in ``unmarked``, the attacked *unmarked* clip (false positives). Recovery curves: random excerpts of
each length from marked (attacked) clips, read alone: the share that yields the ISRC and the full payload.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from soundsafe.attacks import apply_attack
from soundsafe.attacks.registry import get_attack
from soundsafe.audio.io import AUDIO_EXTENSIONS, read_audio
from soundsafe.evaluation.quality import imperceptibility
from soundsafe.evaluation.systems import Watermarker, bit_accuracy, same_isrc
from soundsafe.progress import progress

__all__ = ["AttackPoint", "Clip", "EvaluationTables", "clips_from_folder", "clips_from_manifest", "parse_points",
           "run_evaluation"]


@dataclass(frozen=True)
class Clip:
    name: str
    audio: np.ndarray  # (frames, channels) float32
    sr: int
    record: dict[str, Any]


@dataclass(frozen=True)
class AttackPoint:
    """One attack at one named strength; ``attack=None`` is the clean (unattacked) read."""

    attack: str | None
    strength: str | None = None

    @property
    def label(self) -> str:
        return "clean" if self.attack is None else f"{self.attack} {self.strength}"

    @property
    def family(self) -> str:
        return "clean" if self.attack is None else get_attack(self.attack).family

    def apply(self, audio: np.ndarray, sr: int, seed: int) -> np.ndarray:
        return audio if self.attack is None else apply_attack(self.attack, audio, sr, self.strength, seed=seed)


def parse_points(spec: dict[str, Sequence[str]] | Sequence[str]) -> list[AttackPoint]:
    """Attack points from ``{attack: [strengths]}`` or ``["clean", "mp3:128k", ...]`` (checked against the
    registry, so a typo fails before any work starts)."""
    items = ([f"{a}:{s}" for a, ss in spec.items() for s in ss] if isinstance(spec, dict) else list(spec))
    points = []
    for item in items:
        if item == "clean":
            points.append(AttackPoint(None))
            continue
        name, _, strength = item.partition(":")
        # AttackError (a ValueError) names the known attacks, or the attack's strengths
        points.append(AttackPoint(name, get_attack(name).strength(strength or None).name))
    return points


def clips_from_manifest(manifest: Path, split: str, max_seconds: float, limit: int | None = None) -> list[Clip]:
    """The ``split`` tracks of a corpus manifest (first ``max_seconds`` of each) with their rights records."""
    from soundsafe.manifest import audio_path, read_manifest

    df = read_manifest(manifest)
    rows = df[df["split"] == split]
    if rows.empty:
        raise ValueError(f"{manifest}: no tracks in split {split!r} (splits: {sorted(df['split'].unique())})")
    clips = []
    for _, row in rows.head(limit).iterrows():
        audio, sr = read_audio(audio_path(manifest, row["path"]))
        clips.append(Clip(Path(row["path"]).stem, audio[: int(max_seconds * sr)], sr, json.loads(row["metadata"])))
    return clips


def clips_from_folder(folder: Path, max_seconds: float, limit: int | None = None) -> list[Clip]:
    """Every audio file under ``folder``; each gets a synthetic valid rights record (ISRC QZEVA…) to carry."""
    from soundsafe.corpus.metadata import make_record
    from soundsafe.corpus.scores import STYLES

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ValueError(f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) to evaluate on")
    clips = []
    for i, path in enumerate(files[:limit]):
        audio, sr = read_audio(path)
        piece = SimpleNamespace(title=path.stem[:120], composer="Traditional", style=next(iter(STYLES)))
        record = make_record(i, piece, audio.shape[0] / sr, np.random.default_rng(i))  # type: ignore[arg-type]
        record["isrc"] = f"QZEVA26{i:05d}"
        clips.append(Clip(path.stem, audio[: int(max_seconds * sr)], sr, record))
    return clips


@dataclass
class EvaluationTables:
    quality: pd.DataFrame  # system, clip, seconds, metric columns, embed_s
    robustness: pd.DataFrame  # system, clip, attack, strength, family, point, bit_acc, detected, isrc_ok, ...
    unmarked: pd.DataFrame  # system, clip, point, detected, score
    recovery: pd.DataFrame  # system, point, seconds, clip, isrc_ok, complete


def run_evaluation(clips: Sequence[Clip], systems: Sequence[Watermarker], points: Sequence[AttackPoint],
                   unmarked: Sequence[AttackPoint], recovery_points: Sequence[AttackPoint],
                   recovery_seconds: Sequence[float], recovery_tries: int, with_pesq: bool = True,
                   seed: int = 0) -> EvaluationTables:
    """Measure every system on every clip (see the module docs); deterministic for a given ``seed``."""
    quality, robust, false_rows, recovery = [], [], [], []
    work = [(s, i) for s in systems for i in range(len(clips))]
    for system, i in progress(work, desc="evaluate", total=len(work), unit="clip"):
        clip = clips[i]
        clip_seed = seed * 100_003 + i
        started = time.perf_counter()
        embedded = system.embed(clip.audio, clip.sr, clip.record, clip_seed)
        embed_s = time.perf_counter() - started
        quality.append({"system": system.name, "clip": clip.name, "seconds": clip.audio.shape[0] / clip.sr,
                        "embed_s": embed_s, **imperceptibility(clip.audio, embedded.audio, clip.sr, with_pesq),
                        **({"payload_cycle_s": embedded.payload_cycle_s} if embedded.payload_cycle_s else {})})
        for k, point in enumerate(points):
            attacked = point.apply(embedded.audio, clip.sr, clip_seed + k)
            started = time.perf_counter()
            reading = system.read(attacked, clip.sr)
            row = {"system": system.name, "clip": clip.name, "point": point.label, "attack": point.attack or "clean",
                   "strength": point.strength or "", "family": point.family,
                   "bit_acc": bit_accuracy(embedded.bits, reading, align=point.family == "time"),
                   "detected": reading.detected,
                   "score": reading.score, "read_s": time.perf_counter() - started}
            if system.carries_fields:
                row.update(isrc_ok=same_isrc(reading.fields.get("isrc"), clip.record["isrc"]),
                           field_share=len(reading.fields) / max(len(clip.record), 1),
                           complete=reading.complete)
            robust.append(row)
        for k, point in enumerate(unmarked):
            reading = system.read(point.apply(clip.audio, clip.sr, clip_seed + k), clip.sr)
            false_rows.append({"system": system.name, "clip": clip.name, "point": point.label,
                               "detected": reading.detected, "score": reading.score,
                               "fields": len(reading.fields)})
        if system.carries_fields:
            rng = np.random.default_rng(clip_seed)
            for k, point in enumerate(recovery_points):
                attacked = point.apply(embedded.audio, clip.sr, clip_seed + k)
                for seconds in recovery_seconds:
                    n = int(seconds * clip.sr)
                    if n > attacked.shape[0]:
                        continue
                    for _ in range(recovery_tries):
                        start = int(rng.integers(0, attacked.shape[0] - n + 1))
                        reading = system.read(attacked[start: start + n], clip.sr)
                        recovery.append({"system": system.name, "clip": clip.name, "point": point.label,
                                         "seconds": seconds,
                                         "isrc_ok": same_isrc(reading.fields.get("isrc"), clip.record["isrc"]),
                                         "complete": reading.complete})
    return EvaluationTables(pd.DataFrame(quality), pd.DataFrame(robust), pd.DataFrame(false_rows),
                            pd.DataFrame(recovery, columns=["system", "clip", "point", "seconds", "isrc_ok",
                                                            "complete"]))
