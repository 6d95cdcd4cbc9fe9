"""``soundsafe attack …``: list the registered attacks, or run one on an audio file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["add_attack_parser", "run_attack"]

_EPILOG = """examples:
  soundsafe attack list                               # every attack, its strengths (weakest first), default
  soundsafe attack list --family codec --json
  soundsafe attack mp3 song.wav song_mp3.wav --strength 64k
  soundsafe attack concert song.wav live.wav --strength -5dB --seed 7   # crowd at -5 dB SNR in a venue
  soundsafe attack layered song.wav attacked.wav      # EQ → compressor → MP3 128 → noise 30 dB → AAC 64

Output is a 32-bit float WAV at the input's rate (use --pcm16 for 16-bit). A JSON summary goes to stdout.
Exit codes: 0 done; 1 bad input or attack (the message says why); 2 bad usage.
"""


def add_attack_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attack", help="list the attack registry, or apply one attack to an audio file",
                       description=__doc__.splitlines()[0].split(": ", 1)[1], epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="attack name (see `soundsafe attack list`), or `list`")
    p.add_argument("input", nargs="?", type=Path, help="audio file to attack (wav, flac, mp3, …)")
    p.add_argument("output", nargs="?", type=Path, help="WAV file to write")
    p.add_argument("--strength", "-s", help="named strength (default: the attack's default)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same output (default 0)")
    p.add_argument("--pcm16", action="store_true", help="write 16-bit PCM (clipped) instead of 32-bit float")
    p.add_argument("--family", help="with `list`: only this family (codec, noise, filter, level, dynamics, …)")
    p.add_argument("--json", action="store_true", help="with `list`: print JSON")


def run_attack(args: argparse.Namespace) -> int:
    from soundsafe.attacks import AttackError

    try:
        if args.name == "list":
            return _list(args.family, args.json)
        if args.input is None or args.output is None:
            print("soundsafe attack: error: give IN and OUT files, e.g. "
                  "`soundsafe attack mp3 in.wav out.wav --strength 64k`", file=sys.stderr)
            return 2
        return _apply(args)
    except AttackError as exc:
        print(f"soundsafe attack: error: {exc}", file=sys.stderr)
        return 1


def _list(family: str | None, as_json: bool) -> int:
    from soundsafe.attacks import list_attacks

    attacks = list_attacks(family)
    if not attacks:
        print(f"soundsafe attack: error: no attacks in family {family!r}", file=sys.stderr)
        return 1
    if as_json:
        rows = [{"name": a.name, "family": a.family, "summary": a.summary, "strengths": list(a.strength_names),
                 "default": a.default, "training": a.train_mode, "length": a.length, "rate": a.rate,
                 "source": a.source} for a in attacks]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'attack':14s} {'family':9s} {'training':17s} strengths (weakest → strongest; * default)")
    for a in attacks:
        ladder = " ".join(f"{s}*" if s == a.default else s for s in a.strength_names)
        print(f"{a.name:14s} {a.family:9s} {a.train_mode:17s} {ladder}")
        extra = "" if a.length == "same" else f" [length: {a.length}]"
        print(f"{'':14s} {a.summary}{extra}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from soundsafe.attacks import apply_attack, get_attack
    from soundsafe.attacks.noise import snr_db
    from soundsafe.audio.io import AudioReadError, read_audio, write_wav

    attack = get_attack(args.name)
    strength = attack.strength(args.strength)  # fail on a bad strength before reading anything
    try:
        audio, sr = read_audio(args.input)
    except (AudioReadError, FileNotFoundError) as exc:
        print(f"soundsafe attack: error: {exc}", file=sys.stderr)
        return 1
    import numpy as np

    start = time.perf_counter()
    out = apply_attack(args.name, audio, sr, strength.name, seed=args.seed)
    seconds = time.perf_counter() - start
    write_wav(args.output, out, sr, subtype="PCM_16" if args.pcm16 else "FLOAT")
    summary = {
        "attack": args.name, "strength": strength.name, "seed": args.seed, "sample_rate": sr,
        "channels": int(audio.shape[1]), "frames_in": int(audio.shape[0]), "frames_out": int(out.shape[0]),
        "seconds": round(seconds, 4), "realtime_factor": round(audio.shape[0] / sr / max(seconds, 1e-9), 1),
        "snr_db": round(snr_db(audio, out), 2) if out.shape == audio.shape and np.any(audio) else None,
        "peak_out": round(float(np.max(np.abs(out))), 4), "output": str(args.output),
    }
    print(json.dumps(summary))
    return 0
