"""``soundsafe embed`` and ``soundsafe detect``: put a rights record into audio, and read it back."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["add_watermark_parsers", "run_detect", "run_embed"]

EXIT_PARTIAL = 3

_EMBED_EPILOG = """examples:
  soundsafe embed song.wav song_marked.wav --metadata meta.json --key-file secret.key
  soundsafe embed song.flac marked.wav --metadata meta.json --model models/watermark/realtime/model.pt

The output is a WAV at the input's rate and channels (16-bit PCM; --float for 32-bit float). The default model
is the pipeline's last trained one (models/watermark/realtime/model.pt, or $SOUNDSAFE_MODEL); without one, the
untrained informed carrier is used. Without --key-file the public demo key is used: it gives no secrecy.
"""

_DETECT_EPILOG = """examples:
  soundsafe detect marked.wav --key-file secret.key
  soundsafe detect clip.mp3 --json --key-file secret.key

Exit codes: 0 the whole record was read; 3 part of it (e.g. ISRC and ISWC only); 1 nothing (or an error).
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-file", type=Path, help="key file (hex, from `soundsafe payload keygen`); default: demo key")
    p.add_argument("--model", type=Path, help="model file (default: the pipeline's last trained model)")


def add_watermark_parsers(sub: argparse._SubParsersAction) -> None:
    embed = sub.add_parser("embed", help="watermark an audio file with a rights record",
                           description="Watermark an audio file with a rights record (metadata JSON).",
                           epilog=_EMBED_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    embed.add_argument("input", type=Path, help="audio file (wav, flac, ogg, mp3, m4a, …)")
    embed.add_argument("output", type=Path, help="WAV file to write")
    embed.add_argument("--metadata", type=Path, required=True, help="metadata record JSON (see `soundsafe payload`)")
    embed.add_argument("--float", action="store_true", help="write 32-bit float instead of 16-bit PCM")
    _common(embed)
    detect = sub.add_parser("detect", help="read the watermark payload from an audio file",
                            description="Read the watermark payload (rights record) from an audio file.",
                            epilog=_DETECT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    detect.add_argument("input", type=Path, help="audio file")
    detect.add_argument("--json", action="store_true", help="print JSON (fields, confidences, chunks)")
    _common(detect)


def _load(args: argparse.Namespace):
    from soundsafe.audio.io import read_audio
    from soundsafe.payload.keys import load_key
    from soundsafe.watermark.checkpoint import load_model

    key = load_key(args.key_file)
    model, origin = load_model(args.model)
    audio, sr = read_audio(args.input)
    return key, model, origin, audio, sr


def _fail(command: str, exc: Exception) -> int:
    from soundsafe.payload.record import RecordError

    if isinstance(exc, RecordError):
        print(f"soundsafe {command}: the metadata record is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
    else:
        print(f"soundsafe {command}: error: {exc}", file=sys.stderr)
    return 1


def run_embed(args: argparse.Namespace) -> int:
    from soundsafe.attacks.noise import snr_db
    from soundsafe.audio.io import write_wav
    from soundsafe.watermark.api import embed

    try:
        try:
            record = json.loads(args.metadata.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{args.metadata}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        key, model, origin, audio, sr = _load(args)
        started = time.perf_counter()
        marked = embed(audio, sr, record, key, model)
        seconds = time.perf_counter() - started
        write_wav(args.output, marked, sr, subtype="FLOAT" if args.float else "PCM_16")
    except Exception as exc:  # every failure here is the user's input: say what and stop
        return _fail("embed", exc)
    duration = audio.shape[0] / sr
    chunks = int(duration // model.config.chunk_seconds)
    print(json.dumps({"output": str(args.output), "model": origin, "key_id": key.fingerprint,
                      "seconds_of_audio": round(duration, 2), "chunks_marked": chunks,
                      "snr_db": round(snr_db(audio, marked), 2), "realtime_factor": round(duration / seconds, 1)}))
    return 0


def run_detect(args: argparse.Namespace) -> int:
    from soundsafe.watermark.api import detect

    try:
        key, model, origin, audio, sr = _load(args)
        found = detect(audio, sr, key, model)
    except Exception as exc:
        return _fail("detect", exc)
    result = found.result
    if args.json:
        print(json.dumps({"model": origin, **found.to_dict()}, indent=2, ensure_ascii=False, default=str))
    else:
        marked = [t for t, m in zip(found.chunk_starts_s, found.marked, strict=True) if m]
        if result.fields:
            print(f"{len(result.fields)} field(s) read; chunks that look marked from {marked[0]:.2f} s to "
                  f"{marked[-1] + 1:.2f} s ({found.marked_fraction:.0%} of the file)")
        else:  # without a packet that passes its tag, chunk scores alone prove nothing
            print(f"no watermark read under key {key.fingerprint} ({len(found.chunk_starts_s)} chunk(s) examined)")
        for name, value in result.fields.items():
            print(f"  {name:16s} {json.dumps(value, ensure_ascii=False):60s} confidence {result.confidence[name]:.3f}")
        if result.fields and result.missing:
            print(f"  missing: {', '.join(result.missing)}")
    if result.complete:
        return 0
    return EXIT_PARTIAL if result.fields else 1
