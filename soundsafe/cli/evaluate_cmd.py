"""``soundsafe evaluate``: the evaluation harness on any folder of audio (the ``evaluate`` step's code)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_evaluate_parser", "run_evaluate"]

_EPILOG = """examples:
  soundsafe evaluate --audio ~/music --out reports/my_eval
  soundsafe evaluate --audio ~/music --out reports/quick_eval --attacks clean,mp3:128k,aac:64k --external audiowmark

Every file gets a synthetic, valid rights record to carry (ISRC QZEVA26…). Attack sets: smoke (a quick look),
standard (default), full (every attack at every strength), or a comma list of attack[:strength] (see `soundsafe
attack list`); --baselines echo,tse picks the classical baselines and --max-seconds the length used per file.
External tools (e.g. --external audiowmark) are measured side by side on the same clips, attacks and excerpts;
one that is not installed gets a row that says so, and how to build it (audiowmark: found on PATH, or
--external-bin PATH). --excerpts sets the random-excerpt lengths read alone (a length of --max-seconds or more
is the whole clip); --excerpt-attacks all reads them after every attack point. The output folder gets
report.html, summary.md, metrics.json, CSV tables (excerpts.csv: the side-by-side excerpt table) and
figures/; the summary is printed at the end.
"""


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate watermarkers on a folder of audio (quality, robustness, cost)",
                       description="Evaluate the watermark model and baselines on a folder of audio: "
                                   "imperceptibility, robustness per attack, computational cost.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--audio", type=Path, required=True, help="folder of audio files (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="report folder (replaced)")
    p.add_argument("--model", type=Path, help="torch checkpoint, or 'carrier' (default: the pipeline's last trained "
                                              "model, else the release model shipped with SoundSafe)")
    p.add_argument("--attacks", default="standard", help="attack set or comma list (default: standard)")
    p.add_argument("--baselines", default="echo,tse", help="comma list of echo, tse, or '' for none")
    p.add_argument("--external", action="append", default=[], metavar="NAME",
                   help="an external tool preset to include when installed (audiowmark); repeatable")
    p.add_argument("--external-bin", type=Path, metavar="PATH",
                   help="the audiowmark binary to use (implies --external audiowmark)")
    p.add_argument("--max-seconds", type=float, default=20.0, help="seconds of each file to use (default 20)")
    p.add_argument("--excerpts", default="2,3,4,6,8,12,16",
                   help="comma list of excerpt lengths in seconds for the time-to-read table (default 2,…,16)")
    p.add_argument("--excerpt-attacks", default="clean,mp3:128k",
                   help="attack points the excerpts are read after: a comma list, or 'all' (default clean,mp3:128k)")
    p.add_argument("--workers", type=int, default=1, help="processes (0 = one per CPU core; default 1)")
    p.add_argument("--max-files", type=int, default=0, help="use at most this many files (0 = all)")
    p.add_argument("--tries", type=int, default=3, help="random excerpts per length for time-to-read curves")
    p.add_argument("--no-pesq", action="store_true", help="skip PESQ (the slowest quality metric)")


def run_evaluate(args: argparse.Namespace) -> int:
    from soundsafe.evaluation.harness import clips_from_folder, parse_points
    from soundsafe.evaluation.run import EvaluationSettings, evaluate_to
    from soundsafe.watermark.default_model import CARRIER

    if not args.audio.is_dir():
        raise SystemExit(f"soundsafe evaluate: --audio {args.audio} is not a folder")
    if args.model is not None and str(args.model) != CARRIER and not args.model.is_file():
        raise SystemExit(f"soundsafe evaluate: --model {args.model} not found")
    external: list = [e for e in args.external if not (args.external_bin and e == "audiowmark")]
    if args.external_bin:
        if not args.external_bin.is_file():
            raise SystemExit(f"soundsafe evaluate: --external-bin {args.external_bin} not found")
        external.append({"name": "audiowmark", "bin": str(args.external_bin.resolve())})
    try:
        excerpts = [float(x) for x in args.excerpts.split(",") if x.strip()]
    except ValueError as exc:
        raise SystemExit(f"soundsafe evaluate: --excerpts {args.excerpts!r}: give seconds, e.g. 3,10,60") from exc
    settings = EvaluationSettings(max_seconds=args.max_seconds, attacks=args.attacks, recovery_tries=args.tries,
                                  pesq=not args.no_pesq, external=external, recovery_seconds=excerpts,
                                  recovery_attacks=args.excerpt_attacks, workers=args.workers,
                                  baselines=[b for b in args.baselines.split(",") if b])
    try:
        parse_points(settings.attack_list())  # a typo in --attacks fails before any work
        clips = clips_from_folder(args.audio, args.max_seconds, limit=args.max_files or None)
        _, summary = evaluate_to(args.out, clips, settings, model=str(args.model) if args.model else None)
    except ValueError as exc:  # bad attack names, unknown baselines, unreadable folders: say what is wrong
        raise SystemExit(f"soundsafe evaluate: {exc}") from exc
    print(summary)
    print(f"report: {args.out / 'report.html'}")
    return 0
