"""The pipeline's evaluation on every track of a split, not the few the one-hour `make pipeline` can afford.

    python benchmarks/evaluate_split.py [--profile local] [--max-clips 0] [--external audiowmark]
                                        [--model models/watermark/realtime/model.pt] [--out DIR]

Runs the ``evaluate`` step's harness with ``params.yaml``'s ``evaluate`` section at ``--profile`` (at ``local``: a
random 60 s of each test track, the ``real`` attack set, random 3 s and 10 s excerpts and the whole 60 s after
every point, the compact record) on ``--max-clips`` tracks of the split (0 = all of them), SoundSafe alone unless
``--external`` names a tool (audiowmark costs ~8 min of CPU per clip). Writes the step's report folder (default
``reports/benchmarks/evaluate_split/``: ``summary.md``, ``excerpts.csv``, ``quality.csv``, ``report.html``, …)
and prints the summary. On the 21 real-music test tracks: ~45 min on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default="local", help="profile of the evaluate section (default local)")
    parser.add_argument("--manifest", type=Path, default=Path("data/validated/manifest.parquet"))
    parser.add_argument("--model", default="models/watermark/realtime/model.pt")
    parser.add_argument("--max-clips", type=int, default=0, help="tracks of the split to use (0 = all)")
    parser.add_argument("--external", action="append", default=[],
                        help="an external tool to run beside SoundSafe (audiowmark); repeatable")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/evaluate_split"))
    args = parser.parse_args(argv)

    from soundsafe.evaluation.harness import clips_from_manifest
    from soundsafe.evaluation.run import EvaluationSettings, evaluate_to
    from soundsafe.params import load_params, resolve_section

    section = resolve_section(load_params(args.params), "evaluate", args.profile)
    settings = EvaluationSettings.from_params({**section, "max_clips": args.max_clips, "external": args.external})
    clips = clips_from_manifest(args.manifest, settings.split, settings.max_seconds,
                                limit=settings.max_clips or None, start=settings.clip_start, record=settings.record,
                                seed=settings.seed)
    print(f"{len(clips)} {settings.split} clips of {settings.max_seconds:g} s: {', '.join(c.name for c in clips)}")
    _, summary = evaluate_to(args.out, clips, settings, model=args.model)
    print(summary)
    return 0


if __name__ == "__main__":  # the harness's worker processes re-import this file: keep the work under the guard
    raise SystemExit(main())
