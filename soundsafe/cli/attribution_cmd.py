"""``soundsafe attribution mark|detect``: hidden echoes that tell a generative model was trained on your music."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only for the annotation: `soundsafe --help` imports nothing heavy
    import numpy as np

__all__ = ["add_attribution_parser", "run_attribution"]

_EPILOG = """examples:
  soundsafe attribution mark song.wav song.marked.wav --mark echo75         # one echo, 75 samples late, α 0.4
  soundsafe attribution mark song.wav song.marked.wav --mark tse100 --key 31337   # keyed time-spread echo
  soundsafe attribution detect generated/*.wav --mark echo75               # what a suspect model made

Marks: echoN is one echo N samples (at 44.1 kHz) after the sound, at amplitude --alpha (default 0.4, as in
Tralie et al. 2024: an audible colouration, SNR about 8 dB, by design); tseN is a time-spread echo starting N
samples late, 1024 pseudo-noise taps from --key at --alpha in total (default 0.3), quieter and secret. Mark the
music before release; later, read the outputs of a model you suspect was trained on it, made from any input.

detect prints JSON: each file's z-score and the z-score of all files pooled (more audio, cleaner reading), and
exits 0 when the pooled z-score of some mark exceeds --threshold (default 3), 1 when none does (or on an error).
Audio is read at 44.1 kHz (resampled when needed). What z-scores mean here, measured on real music:
reports/attribution/summary.md (`soundsafe step attribution_evaluate`).
"""


def add_attribution_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("attribution", help="hidden echoes in training music (dataset attribution)",
                            description="Mark music with a hidden echo before release; read the echo in what a "
                                        "generative model trained on it makes.",
                            epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    asub = parser.add_subparsers(dest="attribution_command", required=True, metavar="ACTION")
    mark = asub.add_parser("mark", help="write a copy of an audio file with the echo mark (44.1 kHz WAV)")
    mark.add_argument("input", type=Path, help="audio file (wav, flac, ogg, mp3, m4a, …)")
    mark.add_argument("out", type=Path, help="marked WAV to write (24-bit, 44.1 kHz)")
    _mark_options(mark, repeat=False)
    detect = asub.add_parser("detect", help="cepstral z-scores of echo marks in audio files")
    detect.add_argument("inputs", type=Path, nargs="+", help="audio files (e.g. a suspect model's outputs)")
    _mark_options(detect, repeat=True)
    detect.add_argument("--threshold", type=float, default=3.0, help="pooled z-score that counts as found "
                                                                     "(default 3)")


def _mark_options(parser: argparse.ArgumentParser, repeat: bool) -> None:
    if repeat:
        parser.add_argument("--mark", action="append", required=True, help="echoN or tseN; repeat for several")
    else:
        parser.add_argument("--mark", required=True, help="echoN (single echo) or tseN (time-spread), N in samples")
    parser.add_argument("--alpha", type=float, default=0.4, help="single echo amplitude (default 0.4)")
    parser.add_argument("--tse-alpha", type=float, default=0.3, help="time-spread echo amplitude (default 0.3)")
    parser.add_argument("--key", type=int, default=2024, help="seed of the time-spread sequence (default 2024)")
    parser.add_argument("--pn-length", type=int, default=1024, help="time-spread taps (default 1024)")


def _marks(args: argparse.Namespace) -> list:
    from soundsafe.attribution.marks import parse_mark

    names = args.mark if isinstance(args.mark, list) else [args.mark]
    return [parse_mark(n, args.alpha, args.tse_alpha, args.pn_length, args.key) for n in names]


def _read(path: Path) -> np.ndarray:
    from soundsafe.attribution.models import SAMPLE_RATE
    from soundsafe.audio.io import read_audio, resample

    audio, sr = read_audio(path)
    return resample(audio, sr, SAMPLE_RATE)


def run_attribution(args: argparse.Namespace) -> int:
    from soundsafe.audio.io import AudioReadError

    try:
        return {"mark": _mark, "detect": _detect}[args.attribution_command](args)
    except (AudioReadError, FileNotFoundError, ValueError) as exc:
        print(f"soundsafe attribution: error: {exc}", file=sys.stderr)
        return 1


def _mark(args: argparse.Namespace) -> int:
    from soundsafe.attribution.marks import apply_mark
    from soundsafe.attribution.models import SAMPLE_RATE
    from soundsafe.audio.io import write_wav
    from soundsafe.evaluation.quality import snr_db

    (mark,) = _marks(args)
    audio = _read(args.input)
    marked = apply_mark(audio, mark)
    write_wav(args.out, marked, SAMPLE_RATE, subtype="PCM_24")
    print(json.dumps({"out": str(args.out), "mark": mark.name, "snr_db": round(snr_db(audio, marked), 2)}))
    return 0


def _detect(args: argparse.Namespace) -> int:
    import numpy as np

    from soundsafe.attribution.detect import mean_cepstrum, z_score

    marks = _marks(args)
    cepstra, files = [], []
    for path in args.inputs:
        c = mean_cepstrum(_read(path))
        cepstra.append(c)
        files.append({"file": str(path), **{m.name: round(z_score(c, m), 2) for m in marks}})
    pooled = np.mean(cepstra, axis=0)
    z = {m.name: round(z_score(pooled, m), 2) for m in marks}
    found = [name for name, value in z.items() if value > args.threshold]
    print(json.dumps({"found": found, "pooled_z": z, "threshold": args.threshold, "files": files}, indent=1))
    return 0 if found else 1
