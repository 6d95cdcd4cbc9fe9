"""Render the demo corpus: N tracks of real compositions, their metadata, and the manifest."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soundsafe.audio.io import write_wav
from soundsafe.corpus.metadata import make_record
from soundsafe.corpus.render import arrange, render
from soundsafe.corpus.scores import STYLES, candidate_pool, load_piece
from soundsafe.manifest import MANIFEST_NAME, assign_splits, sha256_file, write_manifest
from soundsafe.progress import progress

__all__ = ["TrackTask", "build_demo_corpus", "plan_tracks", "render_track"]


@dataclass(frozen=True)
class TrackTask:
    """One track to render: its index, style, and the corpus pieces to try in order."""

    index: int
    style: str
    candidates: tuple[str, ...]
    seconds: float
    sample_rate: int
    seed: int


def plan_tracks(n: int, seconds: float, sample_rate: int, seed: int) -> list[TrackTask]:
    """Assign styles by weight (interleaved, shuffled per round) and pieces by a seeded permutation per style."""
    rng = np.random.default_rng(seed)
    rounds = [name for name, style in STYLES.items() for _ in range(style.weight)]
    styles: list[str] = []
    while len(styles) < n:
        block = list(rounds)
        rng.shuffle(block)
        styles.extend(block)
    pools = {name: [str(p) for p in rng.permutation(candidate_pool(name))] for name in STYLES}
    used = dict.fromkeys(STYLES, 0)
    tasks = []
    for index, style in enumerate(styles[:n]):
        pool = pools[style]
        if not pool:
            raise RuntimeError(f"the music21 corpus has no scores for style {style!r}; is music21 fully installed?")
        j = used[style]
        used[style] += 1
        # Fallbacks (if a score will not parse) come from the far end of the permutation.
        order = [pool[(j + k * 7919) % len(pool)] for k in range(5)]
        tasks.append(TrackTask(index, style, tuple(order), seconds, sample_rate, seed))
    return tasks


def render_track(task: TrackTask, audio_dir: Path) -> dict[str, Any]:
    """Render one track to ``audio_dir`` and return its manifest row."""
    errors = []
    for source in task.candidates:
        try:
            piece = load_piece(source, task.style)
            break
        except Exception as exc:  # an unparseable score: try the next candidate, report if all fail
            errors.append(f"{source}: {exc}")
    else:
        raise RuntimeError(f"track {task.index}: no candidate score could be parsed: {errors}")
    rng = np.random.default_rng([task.seed, task.index])
    arrangement = arrange(piece, rng)
    audio = render(piece, arrangement, task.seconds, task.sample_rate, rng)
    record = make_record(task.index, piece, task.seconds, rng)
    track_id = f"demo-{task.index:05d}"
    path = audio_dir / f"{track_id}.wav"
    write_wav(path, audio, task.sample_rate)
    return {
        "track_id": track_id,
        "path": f"audio/{path.name}",
        "source": piece.source,
        "duration_s": audio.shape[0] / task.sample_rate,
        "sample_rate": task.sample_rate,
        "channels": audio.shape[1],
        "num_frames": audio.shape[0],
        "sha256": sha256_file(path),
        "isrc": record["isrc"],
        "title": record["title"],
        "metadata": json.dumps(record, sort_keys=True, ensure_ascii=False),
        "arrangement": json.dumps({"style": task.style, **arrangement.__dict__}),
    }


def build_demo_corpus(out_dir: Path, tracks: int, seconds: float, sample_rate: int, seed: int,
                      splits: dict[str, float], workers: int = 0) -> pd.DataFrame:
    """Render ``tracks`` tracks into ``out_dir/audio`` and write ``out_dir/manifest.parquet``."""
    tasks = plan_tracks(tracks, seconds, sample_rate, seed)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    workers = workers or min(os.cpu_count() or 1, len(tasks))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(render_track, t, audio_dir) for t in tasks]
            rows = [f.result() for f in progress(futures, "render corpus", total=len(tasks), unit="track")]
    else:
        rows = [render_track(t, audio_dir) for t in progress(tasks, "render corpus", unit="track")]
    df = pd.DataFrame(rows)
    split_of = assign_splits(df["source"].tolist(), splits)
    df["split"] = df["source"].map(split_of)
    write_manifest(df, out_dir / MANIFEST_NAME)
    # The arrangement (style, tempo, voices, …) is kept beside the manifest for inspection and plots.
    df[["track_id", "split", "source", "arrangement"]].to_csv(out_dir / "arrangements.csv", index=False)
    return df
