"""``soundsafe embed``, ``detect`` and ``verify``: put a rights record into audio, read it back, check it."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


__all__ = ["add_watermark_parsers", "run_detect", "run_embed", "run_verify"]

EXIT_PARTIAL = 3

_EMBED_EPILOG = """examples:
  soundsafe embed song.wav song_marked.wav --metadata meta.json --key-file secret.key
  soundsafe embed song.flac marked.wav --metadata meta.json --model models/onnx
  ffmpeg -i song.mp3 -f wav - | soundsafe embed - - --metadata meta.json > marked.wav

The output is a WAV at the input's rate and channels (16-bit PCM; --float for 32-bit float). "-" reads WAV from
stdin / writes WAV to stdout (the summary then goes to stderr). Audio streams through in 1 s chunks: memory stays
bounded on long files and each chunk leaves at most one chunk (1 s) after it came in.

--model: a torch checkpoint or an ONNX export folder (models/onnx; runs on ONNX Runtime and SciPy, no torch),
or one of its files to pick a form or precision (spectral_pass.int8.onnx: int8; embedder.onnx: the
self-contained graphs with the STFT inside ONNX Runtime, slower), or `carrier` for the untrained carrier.
Default: $SOUNDSAFE_MODEL, else the pipeline's model (models/onnx or models/watermark/realtime/model.pt),
else the release model shipped with SoundSafe; the one used is named on stderr (not with --quiet).
Without --key-file the public demo key is used: it gives no secrecy.
"""

_DETECT_EPILOG = """examples:
  soundsafe detect marked.wav --key-file secret.key
  soundsafe detect clip.mp3 --json --key-file secret.key
  soundsafe detect marked.wav --follow --key-file secret.key      # JSON lines, one per field as it decodes
  soundsafe detect sped-up.wav --detect-speed --key-file secret.key   # played 0.95–1.05× fast or slow
  ffmpeg -i http://radio.example/stream -f wav - | soundsafe detect - --follow --model models/onnx

--follow prints one JSON line per field as soon as it is decoded ({"event": "field", "field": …, "value": …,
"confidence": …, "time_s": …}) and a last {"event": "end", …, "model": …} line. Files are read in blocks
(bounded memory). The grid search averages over --sync-chunks chunks: 8 for files (surer), 2 for stdin and
--follow (the first read comes after 3 s instead of 9 s); the detector searches again whenever the mark is lost
for 3 chunks. --detect-speed first searches how much the audio was sped up or slowed down (pitch and tempo
together, ±5 %) or pitch-shifted with its tempo kept (±85 cents) and reads it with that undone, then searches a
tempo change with the pitch kept (a time-stretch of ±5 %) and reads at it too (the whole input is read first;
about 1 s more per file, another read for each factor or tempo found).

Exit codes: 0 the whole record was read; 3 part of it (e.g. ISRC and ISWC only); 1 nothing (or an error).
"""

_VERIFY_EPILOG = """examples:
  soundsafe verify delivery.wav --isrc USRC17607839 --key-file secret.key
  soundsafe verify delivery.wav --metadata meta.json --key-file secret.key --json

Checks that a delivered file carries the expected identifier: with --isrc, the ISRC read must equal it; with
--metadata, the ISRC (and ISWC, when the record has one) read must equal the record's. Exit codes: 0 the
expected identifier was read; 1 something else or nothing was read (the message says which), or an error.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-file", type=Path, help="key file (hex, from `soundsafe payload keygen`); default: demo key")
    p.add_argument("--model", help="torch checkpoint, ONNX export folder or one of its .onnx files, or 'carrier' "
                                   "(default: $SOUNDSAFE_MODEL, the pipeline's model, else the release model)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (default: its own choice)")
    p.add_argument("--quiet", "-q", action="store_true", help="do not name the model used on stderr")


def add_watermark_parsers(sub: argparse._SubParsersAction) -> None:
    embed = sub.add_parser("embed", help="watermark an audio file or WAV stream with a rights record",
                           description="Watermark an audio file (or a WAV stream) with a rights record.",
                           epilog=_EMBED_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    embed.add_argument("input", help="audio file (wav, flac, ogg, mp3, m4a, …) or - for WAV on stdin")
    embed.add_argument("output", help="WAV file to write, or - for WAV on stdout")
    embed.add_argument("--metadata", type=Path, required=True, help="metadata record JSON (see `soundsafe payload`)")
    embed.add_argument("--float", action="store_true", help="write 32-bit float instead of 16-bit PCM")
    _common(embed)
    detect = sub.add_parser("detect", help="read the watermark payload from an audio file or WAV stream",
                            description="Read the watermark payload (rights record) from an audio file or stream.",
                            epilog=_DETECT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    detect.add_argument("input", help="audio file, or - for WAV on stdin")
    detect.add_argument("--json", action="store_true", help="print JSON (fields, confidences, chunks)")
    detect.add_argument("--follow", action="store_true", help="print JSON lines as fields are decoded")
    detect.add_argument("--sync-chunks", type=int, help="chunks the grid search averages over (default 8 for a "
                                                        "file, 2 for stdin or --follow)")
    detect.add_argument("--detect-speed", action="store_true",
                        help="search a speed change of ±5 %%, a pitch shift of ±85 cents and a time-stretch of "
                             "±5 %% first (reads the whole input, then detects)")
    _common(detect)
    verify = sub.add_parser("verify", help="check that audio carries the expected ISRC (delivery checks)",
                            description="Check that an audio file carries the expected identifier.",
                            epilog=_VERIFY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("input", help="audio file, or - for WAV on stdin")
    expected = verify.add_mutually_exclusive_group(required=True)
    expected.add_argument("--isrc", help="the ISRC the file must carry (e.g. USRC17607839; hyphens allowed)")
    expected.add_argument("--metadata", type=Path, help="metadata record JSON whose ISRC (and ISWC) it must carry")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    _common(verify)


def _fail(command: str, exc: Exception) -> int:
    from soundsafe.payload.record import RecordError

    if isinstance(exc, RecordError):
        print(f"soundsafe {command}: the metadata record is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
    else:
        print(f"soundsafe {command}: error: {exc}", file=sys.stderr)
    return 1


def _source(name: str) -> tuple[int, int, Iterator[np.ndarray]]:
    """``(sr, channels, 1 s blocks)`` of a file or of WAV on stdin (``-``)."""
    from soundsafe.audio.blocks import WavStreamReader, read_blocks

    if name == "-":
        reader = WavStreamReader(sys.stdin.buffer)
        return reader.sr, reader.channels, reader.blocks(reader.sr)
    if not Path(name).is_file():
        raise FileNotFoundError(f"{name}: no such audio file")
    return read_blocks(name)


def run_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from soundsafe.atomic import atomic_path
    from soundsafe.audio.blocks import WavStreamWriter
    from soundsafe.payload.keys import load_key
    from soundsafe.watermark.streaming import StreamingEmbedder

    to_stdout = args.output == "-"
    report = sys.stderr if to_stdout else sys.stdout
    subtype = "FLOAT" if args.float else "PCM_16"
    try:
        try:
            record = json.loads(args.metadata.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{args.metadata}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        key = load_key(args.key_file)
        choice, engine = _engine(args, "embed")
        sr, channels, blocks = _source(args.input)
        embedder = StreamingEmbedder(record, sr, key, engine)
        energy = np.zeros(2)  # host, mark: the SNR without holding the file
        frames, busy = 0, 0.0
        with contextlib.ExitStack() as stack:
            if to_stdout:
                out = stack.enter_context(contextlib.nullcontext(sys.stdout.buffer))
            else:
                out = stack.enter_context(open(stack.enter_context(atomic_path(args.output)), "wb"))
            writer = WavStreamWriter(out, sr, channels, subtype)
            pending: list[np.ndarray] = []  # input not yet returned (the embedder holds < 1 chunk)
            for block in [*blocks, None]:
                started = time.perf_counter()
                if block is None:
                    marked = embedder.flush()
                else:
                    pending.append(block)
                    frames += block.shape[0]
                    marked = embedder.push(block)
                busy += time.perf_counter() - started
                if marked.shape[0]:
                    host = np.concatenate(pending)
                    pending = [host[marked.shape[0]:]]
                    energy += [np.sum(host[: marked.shape[0]] ** 2), np.sum((marked - host[: marked.shape[0]]) ** 2)]
                    writer.write(marked)
            writer.close()
    except Exception as exc:  # every failure here is the user's input: say what and stop
        return _fail("embed", exc)
    duration = frames / sr
    print(json.dumps({"output": args.output, "model": choice.to_dict(), "key_id": key.fingerprint,
                      "seconds_of_audio": round(duration, 2), "chunks_marked": embedder.position,
                      "snr_db": round(10 * np.log10(max(energy[0], 1e-20) / max(energy[1], 1e-20)), 2),
                      "realtime_factor": round(duration / max(busy, 1e-9), 1)}), file=report)
    return 0


def _engine(args: argparse.Namespace, command: str) -> tuple[Any, Any]:
    """The model choice and its engine; named on stderr unless ``--quiet`` (a user must know what marks audio)."""
    from soundsafe.watermark.default_model import choose_model
    from soundsafe.watermark.engine import load_engine

    choice = choose_model(args.model)
    engine = load_engine(choice, threads=args.threads)
    if not args.quiet:
        print(f"soundsafe {command}: model {choice.describe()}", file=sys.stderr)
    return choice, engine


def _follow_line(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False, default=str), flush=True)


def _detector(args: argparse.Namespace, command: str, live: bool) -> tuple[Any, Any, Any, Iterator[np.ndarray]]:
    """``(model choice, key, StreamingDetector, audio blocks)`` for ``args.input``."""
    from soundsafe.payload.keys import load_key
    from soundsafe.watermark.streaming import StreamingDetector

    key = load_key(args.key_file)
    choice, engine = _engine(args, command)
    sr, _, blocks = _source(args.input)
    sync = getattr(args, "sync_chunks", None) or (2 if live or args.input == "-" else 8)
    detector = StreamingDetector(sr, key, engine, sync_chunks=sync, live=live)
    return choice, key, detector, blocks


def run_detect(args: argparse.Namespace) -> int:
    if args.detect_speed and args.follow:
        print("soundsafe detect: --detect-speed reads the whole input before detecting; it cannot --follow",
              file=sys.stderr)
        return 2
    try:
        choice, key, detector, blocks = _detector(args, "detect", live=args.follow)
        if args.detect_speed:  # the search needs the audio at hand: the offline detect with the same settings
            import numpy as np

            from soundsafe.watermark.api import detect

            audio = np.concatenate(list(blocks))
            found = detect(audio, detector.sr, key, detector.engine, sync_chunks=detector.sync_chunks,
                           speed_search=True)
            detector.events, printed = found.events, len(found.events)
            seconds = audio.shape[0] / detector.sr
        else:
            for block in blocks:
                for event in detector.push(block):
                    _follow_line(event="field", **event.to_dict())
            printed = len(detector.events)
            found = detector.finish()
            seconds = detector.seconds_received
    except Exception as exc:
        return _fail("detect", exc)
    result = found.result
    if args.follow:
        for event in found.events[printed:]:  # what the last, whole-history decode added
            _follow_line(event="field", **event.to_dict())
        _follow_line(event="end", complete=result.complete, fields=len(result.fields), missing=result.missing,
                     seconds=round(seconds, 3), marked_fraction=round(found.marked_fraction, 3),
                     model=choice.to_dict())
    elif args.json:
        print(json.dumps({"model": choice.to_dict(), **found.to_dict()}, indent=2, ensure_ascii=False, default=str))
    else:
        marked = [t for t, m in zip(found.chunk_starts_s, found.marked, strict=True) if m]
        if result.fields:
            print(f"{len(result.fields)} field(s) read; chunks that look marked from {marked[0]:.2f} s to "
                  f"{marked[-1] + 1:.2f} s ({found.marked_fraction:.0%} of the input)")
        else:  # without a packet that passes its tag, chunk scores alone prove nothing
            print(f"no watermark read under key {key.fingerprint} ({len(found.chunk_starts_s)} chunk(s) examined)")
        if found.speed != 1.0:
            what = "a pitch shift" if found.pitch_only else "a speed change"
            print(f"  read with {what} of {100 * (found.speed - 1):+.2f} % undone")
        if found.tempo != 1.0 and not found.pitch_only:
            print(f"  read at a tempo of {found.tempo:.4f} (a time-stretch: chunks {100 * (found.tempo - 1):+.2f} % "
                  "longer)")
        for name, value in result.fields.items():
            print(f"  {name:16s} {json.dumps(value, ensure_ascii=False):60s} confidence {result.confidence[name]:.3f}")
        if result.fields and result.missing:
            print(f"  missing: {', '.join(result.missing)}")
    if result.complete:
        return 0
    return EXIT_PARTIAL if result.fields else 1


def _expected(args: argparse.Namespace) -> dict[str, str]:
    """The identifiers the file must carry, in canonical form: ``{"isrc": …}`` (and ``"iswc"`` from a record
    that has one)."""
    from soundsafe.payload.identifiers import validate_isrc, validate_iswc
    from soundsafe.payload.record import validate_record

    if args.isrc:
        return {"isrc": validate_isrc(args.isrc)}
    try:
        record = validate_record(json.loads(args.metadata.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{args.metadata}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    expected = {"isrc": validate_isrc(record["isrc"])}
    if record.get("iswc"):
        expected["iswc"] = validate_iswc(record["iswc"])
    return expected


def run_verify(args: argparse.Namespace) -> int:
    try:
        expected = _expected(args)
        choice, _key, detector, blocks = _detector(args, "verify", live=False)
        for block in blocks:
            detector.push(block)
        found = detector.finish()
    except Exception as exc:
        return _fail("verify", exc)
    fields = found.result.fields
    read = {name: fields.get(name) for name in expected}
    wrong = [name for name, value in expected.items() if read[name] is not None and read[name] != value]
    missing = [name for name in expected if read[name] is None]
    ok = not wrong and not missing
    if ok:
        verdict = f"verified: {', '.join(f'{k} {v}' for k, v in expected.items())} read from {args.input}"
    elif wrong:
        verdict = "MISMATCH: " + "; ".join(f"{k} read {read[k]} but expected {expected[k]}" for k in wrong)
    else:
        got = f" (read instead: {', '.join(sorted(fields))})" if fields else " (no watermark read at all)"
        verdict = f"NOT VERIFIED: {', '.join(missing)} not read from {args.input}{got}"
    if args.json:
        print(json.dumps({"verified": ok, "expected": expected, "read": read, "mismatch": wrong, "missing": missing,
                          "model": choice.to_dict(), "marked_fraction": round(found.marked_fraction, 3),
                          "confidence": {k: round(found.result.confidence[k], 6) for k in expected if k in fields}},
                         ensure_ascii=False))
    else:
        print(verdict)
    return 0 if ok else 1
