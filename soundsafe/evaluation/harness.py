"""The evaluation harness: every system × every clip × every attack point, into tidy tables.

For each system and clip: embed once (timed), score imperceptibility against the original, then for each attack
point read the attacked marked clip (bit accuracy, presence, ISRC, share of fields, full payload) and, for the
points in ``unmarked``, the attacked *unmarked* clip (false positives). Recovery curves: random excerpts of
each length from marked (attacked) clips, read alone: the share that yields the ISRC and the whole record. An
excerpt as long as the clip is the clip itself (one read, the robustness read). External tools "yield the ISRC"
when their one message is recovered exactly. Speed, time-stretch and pitch-shift points run each system's speed
search (SoundSafe's ``speed_search``, audiowmark's ``--detect-speed``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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
from soundsafe.evaluation.systems import Reading, Watermarker, bit_accuracy
from soundsafe.progress import progress

__all__ = ["AttackPoint", "Clip", "EvaluationTables", "clips_from_folder", "clips_from_manifest", "compact_record",
           "parse_points", "run_evaluation"]


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


def compact_record(record: dict[str, Any], title_chars: int = 32) -> dict[str, Any]:
    """Issue 19's "whole record": the ISRC, a ``title_chars``-character title and the display artist (~40
    bytes), which a minute of audio can carry; the full rights record needs a ~2-minute schedule cycle."""
    title = str(record.get("title", ""))[:title_chars].ljust(title_chars, ".")
    return {"isrc": record["isrc"], "title": title, "display_artist": record.get("display_artist", "Unknown")}


def _clip_start(audio: np.ndarray, frames: int, how: str, rng: np.random.Generator) -> int:
    if how == "first" or audio.shape[0] <= frames:
        return 0
    if how != "random":
        raise ValueError(f"clip start {how!r}: use 'first' or 'random'")
    return int(rng.integers(0, audio.shape[0] - frames + 1))


def clips_from_manifest(manifest: Path, split: str, max_seconds: float, limit: int | None = None,
                        start: str = "first", record: str = "full", seed: int = 0) -> list[Clip]:
    """The ``split`` tracks of a corpus manifest with their rights records: ``max_seconds`` of each from its
    start (``start="first"``) or from a seeded random offset (``"random"``: a random excerpt of the track);
    ``record="compact"`` carries :func:`compact_record` instead of the whole rights record. With ``limit``, the
    tracks are spread evenly over the split (the manifest is ordered by package or style)."""
    from soundsafe.manifest import audio_path, read_manifest

    if record not in ("full", "compact"):
        raise ValueError(f"record {record!r}: use 'full' or 'compact'")
    df = read_manifest(manifest)
    rows = df[df["split"] == split]
    if rows.empty:
        raise ValueError(f"{manifest}: no tracks in split {split!r} (splits: {sorted(df['split'].unique())})")
    if limit is not None and limit < len(rows):  # evenly spaced: every package / style, not the first ones
        rows = rows.iloc[np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))]
    clips = []
    for index, (_, row) in enumerate(rows.iterrows()):
        audio, sr = read_audio(audio_path(manifest, row["path"]))
        frames = int(max_seconds * sr)
        first = _clip_start(audio, frames, start, np.random.default_rng([seed, index]))
        meta = json.loads(row["metadata"])
        clips.append(Clip(Path(row["path"]).stem, audio[first: first + frames], sr,
                          compact_record(meta) if record == "compact" else meta))
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


RECOVERY_COLUMNS = ["system", "clip", "point", "seconds", "isrc_ok", "complete"]
SPEED_SEARCH_ATTACKS = ("speed", "time_stretch", "pitch_shift")  # points read with the systems' speed search


@dataclass(frozen=True)
class _Plan:
    points: tuple[AttackPoint, ...]
    unmarked: tuple[AttackPoint, ...]
    recovery_points: tuple[AttackPoint, ...]
    recovery_seconds: tuple[float, ...]
    recovery_tries: int
    with_pesq: bool
    seed: int


def _evaluate_clip(system: Watermarker, clip: Clip, i: int, plan: _Plan) -> tuple[list, list, list, list]:
    """Every measurement of one system on one clip (one unit of work, run in a worker process)."""
    quality, robust, false_rows, recovery = [], [], [], []
    clip_seed = plan.seed * 100_003 + i
    started = time.perf_counter()
    embedded = system.embed(clip.audio, clip.sr, clip.record, clip_seed)
    embed_s = time.perf_counter() - started
    quality.append({"system": system.name, "clip": clip.name, "seconds": clip.audio.shape[0] / clip.sr,
                    "embed_s": embed_s, **imperceptibility(clip.audio, embedded.audio, clip.sr, plan.with_pesq),
                    **({"payload_cycle_s": embedded.payload_cycle_s} if embedded.payload_cycle_s else {})})
    whole: dict[str, tuple[np.ndarray, Reading]] = {}  # point → (attacked clip, its read), reused by recovery
    for k, point in enumerate(plan.points):
        attacked = point.apply(embedded.audio, clip.sr, clip_seed + k)
        started = time.perf_counter()
        reading = system.read(attacked, clip.sr, speed_search=point.attack in SPEED_SEARCH_ATTACKS)
        whole[point.label] = (attacked, reading)
        row = {"system": system.name, "clip": clip.name, "point": point.label, "attack": point.attack or "clean",
               "strength": point.strength or "", "family": point.family,
               "bit_acc": bit_accuracy(embedded.bits, reading, align=point.family == "time"),
               "detected": reading.detected,
               "score": reading.score, "read_s": time.perf_counter() - started}
        if system.identifies:
            isrc_ok, complete = system.identified(embedded, reading, clip.record)
            row.update(isrc_ok=isrc_ok, complete=complete)
        if system.carries_fields:
            row.update(field_share=len(reading.fields) / max(len(clip.record), 1))
        robust.append(row)
    for k, point in enumerate(plan.unmarked):
        reading = system.read(point.apply(clip.audio, clip.sr, clip_seed + k), clip.sr,
                              speed_search=point.attack in SPEED_SEARCH_ATTACKS)
        false_rows.append({"system": system.name, "clip": clip.name, "point": point.label,
                           "detected": reading.detected, "score": reading.score,
                           "fields": len(reading.fields)})
    if system.identifies:
        rng = np.random.default_rng(clip_seed)
        clip_s = clip.audio.shape[0] / clip.sr
        for k, point in enumerate(plan.recovery_points):
            if point.label in whole:
                attacked, whole_read = whole[point.label]
            else:
                attacked = point.apply(embedded.audio, clip.sr, clip_seed + 7919 + k)
                whole_read = None
            speed_search = point.attack in SPEED_SEARCH_ATTACKS
            for seconds in plan.recovery_seconds:
                if seconds >= clip_s - 1e-6:  # the whole (attacked) clip: one read, the robustness one if made
                    reading = whole_read or system.read(attacked, clip.sr, speed_search=speed_search)
                    isrc_ok, complete = system.identified(embedded, reading, clip.record)
                    recovery.append({"system": system.name, "clip": clip.name, "point": point.label,
                                     "seconds": seconds, "isrc_ok": isrc_ok, "complete": complete})
                    continue
                n = int(seconds * clip.sr)
                if n > attacked.shape[0]:
                    continue
                for _ in range(plan.recovery_tries):
                    start = int(rng.integers(0, attacked.shape[0] - n + 1))
                    reading = system.read(attacked[start: start + n], clip.sr, speed_search=speed_search)
                    isrc_ok, complete = system.identified(embedded, reading, clip.record)
                    recovery.append({"system": system.name, "clip": clip.name, "point": point.label,
                                     "seconds": seconds, "isrc_ok": isrc_ok, "complete": complete})
    return quality, robust, false_rows, recovery


def _worker_init() -> None:
    # one thread per worker process: the workers are the parallelism
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def run_evaluation(clips: Sequence[Clip], systems: Sequence[Watermarker], points: Sequence[AttackPoint],
                   unmarked: Sequence[AttackPoint], recovery_points: Sequence[AttackPoint],
                   recovery_seconds: Sequence[float], recovery_tries: int, with_pesq: bool = True,
                   seed: int = 0, workers: int = 1) -> EvaluationTables:
    """Measure every system on every clip (see the module docs); deterministic for a given ``seed``.

    ``workers`` > 1 runs the (system, clip) pairs in that many processes (0: one per CPU core); the tables are
    the same as with one (each pair's randomness comes from its own seed), in the same order.
    """
    plan = _Plan(tuple(points), tuple(unmarked), tuple(recovery_points), tuple(recovery_seconds),
                 recovery_tries, with_pesq, seed)
    work = [(s, i) for s in systems for i in range(len(clips))]
    workers = min(workers or os.cpu_count() or 1, len(work))
    results: list[tuple[list, list, list, list]] = [([], [], [], [])] * len(work)
    if workers <= 1:
        for n, (system, i) in enumerate(progress(work, desc="evaluate", total=len(work), unit="clip")):
            results[n] = _evaluate_clip(system, clips[i], i, plan)
    else:
        context = multiprocessing.get_context("spawn")  # torch and fork do not mix well
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init) as pool:
            futures = {pool.submit(_evaluate_clip, system, clips[i], i, plan): n for n, (system, i) in enumerate(work)}
            for future in progress(as_completed(futures), desc="evaluate", total=len(work), unit="clip"):
                results[futures[future]] = future.result()
    quality, robust, false_rows, recovery = ([row for r in results for row in r[j]] for j in range(4))
    return EvaluationTables(pd.DataFrame(quality), pd.DataFrame(robust), pd.DataFrame(false_rows),
                            pd.DataFrame(recovery, columns=RECOVERY_COLUMNS))
