"""Echo baselines on the command line (also how tests drive the external-tool adapter with a real tool).

    python -m soundsafe.baselines embed IN.wav OUT.wav --payload 0123abcd [--method echo|tse]
    python -m soundsafe.baselines detect IN.wav --bits 32 [--method echo|tse]

``detect`` prints ``payload HEX z=SCORE`` when it finds a mark (exit 0), else ``no watermark z=SCORE`` (exit 1).
The payload repeats cyclically, one bit per frame; detection sums the repeats.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soundsafe.audio.io import read_audio, write_wav
from soundsafe.baselines.echo import ECHO, TIME_SPREAD_ECHO, embed_echo, read_echo
from soundsafe.baselines.external import bits_to_hex, hex_to_bits

METHODS = {"echo": ECHO, "tse": TIME_SPREAD_ECHO}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soundsafe.baselines", description=__doc__.splitlines()[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    embed = sub.add_parser("embed", help="mark a WAV/FLAC file with a hex payload")
    embed.add_argument("input", type=Path)
    embed.add_argument("output", type=Path)
    embed.add_argument("--payload", required=True, help="hex digits, e.g. 0123abcd (4 bits per digit)")
    detect = sub.add_parser("detect", help="read a hex payload of --bits bits")
    detect.add_argument("input", type=Path)
    detect.add_argument("--bits", type=int, required=True, help="payload length in bits (multiple of 4)")
    for p in (embed, detect):
        p.add_argument("--method", choices=sorted(METHODS), default="echo", help="echo hiding or time-spread echo")
    args = parser.parse_args(argv)
    config = METHODS[args.method]
    audio, sr = read_audio(args.input)
    if args.action == "embed":
        try:
            bits = hex_to_bits(args.payload, 4 * len(args.payload))
        except ValueError:
            parser.error(f"--payload {args.payload!r} is not hex")
        write_wav(args.output, embed_echo(audio, sr, bits, config), sr, subtype="FLOAT")
        return 0
    reading = read_echo(audio, sr, config)
    if not reading.detected:
        print(f"no watermark z={reading.statistic:.2f}")
        return 1
    print(f"payload {bits_to_hex(reading.message(args.bits))} z={reading.statistic:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
