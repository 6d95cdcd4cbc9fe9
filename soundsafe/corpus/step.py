"""The ``corpus`` step: real music from Debian packages (``source: debian``), the rendered demo corpus
(``demo``), or the folder named by ``corpus.source``.

Without the packages (not a Debian system, or not installed), ``debian`` says so on stderr and falls back to
the demo corpus; the step's ``real_tracks`` metric then reads 0, so no report can pass synthetic figures off
as real-music ones.
"""

from __future__ import annotations

import sys
import time

from soundsafe.atomic import atomic_dir
from soundsafe.steps.context import StepContext

__all__ = ["run"]


def run(ctx: StepContext) -> dict[str, float]:
    p = ctx.params["corpus"]
    out = ctx.path(ctx.step.outs[0])
    started = time.perf_counter()
    source = p["source"]
    if source == "debian":
        from soundsafe.corpus.debian import missing_packages

        packages = list(p.get("packages") or [])
        missing = missing_packages(packages)
        if missing:
            print(f"corpus: the real-music packages {', '.join(missing)} are not installed (on Debian: `make "
                  f"pipeline` installs them, or apt-get install {' '.join(missing)}); falling back to the "
                  "synthetic demo corpus, so every figure of this run is a synthetic one", file=sys.stderr)
            source = "demo"
    real = 0
    if source == "debian":
        from soundsafe.corpus.debian import build_debian_corpus

        with atomic_dir(out) as tmp:
            df = build_debian_corpus(tmp, packages, int(p["sample_rate"]), dict(p["splits"]), int(p["seed"]),
                                     float(p.get("excerpt_seconds", 0.0)))
        rejected = sum(1 for _ in (out / "rejected.csv").open()) - 1  # less the header
        real = len(df)
    elif source == "demo":
        from soundsafe.corpus.build import build_demo_corpus

        with atomic_dir(out) as tmp:
            df = build_demo_corpus(tmp, int(p["tracks"]), float(p["seconds"]), int(p["sample_rate"]),
                                   int(p["seed"]), dict(p["splits"]), int(p["workers"]))
        rejected = 0
    else:
        from soundsafe.ingest import ingest_folder

        csv = ctx.root / p["metadata_csv"] if p.get("metadata_csv") else None  # absolute paths stay absolute
        df, skipped = ingest_folder(ctx.root / source, out, int(p["sample_rate"]), metadata_csv=csv,
                                    splits=dict(p["splits"]))
        rejected = len(skipped)
        real = len(df)
    wall = time.perf_counter() - started
    audio_s = float(df["duration_s"].sum())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {
        "tracks": len(df),
        "real_tracks": real,
        "rejected_files": rejected,
        "audio_seconds": round(audio_s, 2),
        "audio_seconds_per_wall_second": round(audio_s / wall, 2),
        "size_mb": round(size / 1e6, 2),
        **{f"tracks_{s}": int((df["split"] == s).sum()) for s in ("train", "val", "test")},
    }
