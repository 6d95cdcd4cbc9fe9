"""The ``corpus`` step: render the demo corpus, or ingest the folder named by ``corpus.source``."""

from __future__ import annotations

import time

from soundsafe.atomic import atomic_dir
from soundsafe.steps.context import StepContext

__all__ = ["run"]


def run(ctx: StepContext) -> dict[str, float]:
    p = ctx.params["corpus"]
    out = ctx.path(ctx.step.outs[0])
    started = time.perf_counter()
    if p["source"] == "demo":
        from soundsafe.corpus.build import build_demo_corpus

        with atomic_dir(out) as tmp:
            df = build_demo_corpus(tmp, int(p["tracks"]), float(p["seconds"]), int(p["sample_rate"]),
                                   int(p["seed"]), dict(p["splits"]), int(p["workers"]))
        rejected = 0
    else:
        from soundsafe.ingest import ingest_folder

        csv = ctx.root / p["metadata_csv"] if p.get("metadata_csv") else None  # absolute paths stay absolute
        df, skipped = ingest_folder(ctx.root / p["source"], out, int(p["sample_rate"]), metadata_csv=csv,
                                    splits=dict(p["splits"]))
        rejected = len(skipped)
    wall = time.perf_counter() - started
    audio_s = float(df["duration_s"].sum())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {
        "tracks": len(df),
        "rejected_files": rejected,
        "audio_seconds": round(audio_s, 2),
        "audio_seconds_per_wall_second": round(audio_s / wall, 2),
        "size_mb": round(size / 1e6, 2),
        **{f"tracks_{s}": int((df["split"] == s).sum()) for s in ("train", "val", "test")},
    }
