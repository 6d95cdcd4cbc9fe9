"""``soundsafe cloak IN OUT``: add protective noise that a generative model learns little from (HarmonyCloak)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_cloak_parser", "run_cloak"]

_EPILOG = """examples:
  soundsafe cloak song.wav song.cloaked.wav                 # white-box cloak against AR + diffusion surrogates

--blackbox meta-learns the noise over three surrogates (AR, diffusion, a second AR) instead: for when the model
that will be trained on the music is unknown; about twice as slow.

The noise is error-minimizing (min-min optimisation): surrogate generative models over log-mel frames are trained
on the cloaked song while projected gradient steps change the noise to make their training loss lower, so the
song becomes "easy" in a way that teaches a model little about the music. The noise stays --margin dB under the
song's masking threshold (threshold in quiet, frequency and temporal masking; nothing above 16 kHz) and the SNR
at or above --min-snr. Prints JSON: the output, SNR, NMR and the surrogates' loss on the clean and cloaked song.
Whether it protects music, measured on real
music with fresh models of an unseen architecture: reports/cloak/summary.md (`soundsafe step cloak_evaluate`).
"""


def add_cloak_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cloak", help="protective noise against generative training (HarmonyCloak)",
                            description="Add error-minimizing noise under the music's masking threshold.",
                            epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="audio file (wav, flac, ogg, mp3, m4a, …)")
    parser.add_argument("out", type=Path, help="cloaked WAV to write (24-bit, 44.1 kHz, the input's channels)")
    parser.add_argument("--rounds", type=int, default=3, help="min-min rounds (default 3; more: stronger, slower)")
    parser.add_argument("--blackbox", action="store_true", help="meta-learn over AR, diffusion and a second AR "
                                                                "surrogate instead of the white-box pair")
    parser.add_argument("--margin", type=float, default=3.0, help="dB under the masking threshold (default 3)")
    parser.add_argument("--min-snr", type=float, default=32.0, help="lowest SNR in dB (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="surrogate initialisation and crops (default 0)")


def run_cloak(args: argparse.Namespace) -> int:
    from soundsafe.audio.io import AudioReadError

    try:
        return _cloak(args)
    except (AudioReadError, FileNotFoundError, ValueError) as exc:
        print(f"soundsafe cloak: error: {exc}", file=sys.stderr)
        return 1


def _cloak(args: argparse.Namespace) -> int:
    import numpy as np

    from soundsafe.audio.io import read_audio, resample, write_wav
    from soundsafe.cloak.budget import BudgetSpec
    from soundsafe.cloak.optimize import CloakSpec, make_cloak
    from soundsafe.evaluation.quality import nmr_db, snr_db

    if args.rounds < 1:
        raise ValueError("--rounds must be at least 1")
    audio, sr = read_audio(args.input)
    audio = resample(audio, sr, 44100)
    if audio.shape[0] < 44100:
        raise ValueError(f"{args.input}: {audio.shape[0] / 44100:.2f} s of audio; the cloak needs at least 1 s")
    mono = audio.mean(axis=1)
    # lighter rounds than the pipeline's (which cloaks a whole catalogue at once): one song, a few minutes at most
    spec = CloakSpec(rounds=args.rounds, train_steps=10, pgd_steps=3, batch=4, crop_s=min(2.0, mono.size / 44100),
                     budget=BudgetSpec(margin_db=args.margin, min_snr_db=args.min_snr))
    kinds = ["ar", "diffusion", "ar"] if args.blackbox else ["ar", "diffusion"]
    result = make_cloak([mono], kinds, spec, seed=args.seed, blackbox=args.blackbox, label="cloak")
    cloaked = audio + result.deltas[0][:, None]
    write_wav(args.out, cloaked, 44100, subtype="PCM_24")
    print(json.dumps({"out": str(args.out), "seconds": round(mono.size / 44100, 2),
                      "snr_db": round(snr_db(audio, cloaked), 2), "nmr_db": round(nmr_db(audio, cloaked), 2),
                      "surrogate_loss_clean": round(result.clean_loss[-1], 4),
                      "surrogate_loss_cloaked": round(result.cloaked_loss[-1], 4),
                      "peak": round(float(np.abs(cloaked).max()), 4)}))
    return 0
