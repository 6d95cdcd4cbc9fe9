"""``soundsafe payload …``: metadata record ⇄ keyed, error-protected packets, from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from soundsafe.payload.packets import CodeSettings

__all__ = ["add_payload_parser", "run_payload"]

EXIT_PARTIAL = 3

_EPILOG = """examples:
  soundsafe payload import --ddex release.xml --cwr works.cwr --work SSW0000001 --out meta.json
  soundsafe payload inspect meta.json                      # size per field, packets, seconds of audio needed
  soundsafe payload keygen secret.key                      # a new random key (keep it secret)
  soundsafe payload encode meta.json --key-file secret.key --out packets.json
  soundsafe payload decode packets.json --key-file secret.key
  soundsafe payload simulate meta.json --ber 0.01,0.05,0.1 --loss 0,0.2   # what each code setting tolerates

decode exit codes: 0 whole record read; 3 part of it (e.g. the ISRC only); 1 nothing read or an error.
Without --key-file the public demo key is used: it gives no secrecy.
"""


def _code_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--code", default="standard", help="code setting: light, standard or robust, or several "
                   "comma-separated for simulate (Reed–Solomon parity 0.25 / 0.5 / 1 per data packet)")
    p.add_argument("--packet-bits", type=int, default=64, help="K, bits the watermark carries per chunk (default 64)")
    p.add_argument("--tag-bits", type=int, default=24, help="authentication tag bits per data packet (default 24)")
    p.add_argument("--core-period", type=int, default=3,
                   help="chunks the core codeword (ISRC, payload length) is spread over, in the first half of every "
                        "chunk's bits: any this many seconds of audio hold it (default 3)")


def add_payload_parser(sub: argparse._SubParsersAction) -> None:
    payload = sub.add_parser("payload", help="encode/decode/inspect the watermark payload (metadata ⇄ packets)",
                             description=__doc__.splitlines()[0].split(": ", 1)[1], epilog=_EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    psub = payload.add_subparsers(dest="payload_command", required=True, metavar="ACTION")

    enc = psub.add_parser("encode", help="metadata JSON → packets (JSON: settings, layout, packet words)")
    enc.add_argument("metadata", help="metadata record JSON file, or - for stdin")
    enc.add_argument("--key-file", type=Path, help="key file (hex); default: the public demo key")
    enc.add_argument("--chunks", type=int, help="emit this many chunks of the schedule (default: one full cycle)")
    enc.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    _code_args(enc)

    dec = psub.add_parser("decode", help="soft bits or packets → metadata fields with confidences (JSON)")
    dec.add_argument("input", help="JSON from `payload encode`, JSON {'segments': [[llr list | null, …], …]}, "
                     "or .npy (chunks × K soft bits, NaN rows = no mark); - for stdin")
    dec.add_argument("--key-file", type=Path, help="key file (hex); default: the public demo key")
    _code_args(dec)
    dec.add_argument("--chase-bits", type=int, default=6,
                     help="least reliable bits of a data packet soft decoding may flip (default 6)")
    dec.add_argument("--core-chase-bits", type=int, default=9,
                     help="least reliable bits of the core codeword soft decoding may flip (default 9)")

    ins = psub.add_parser("inspect", help="size per field, packets, overhead, seconds of audio needed")
    ins.add_argument("metadata", help="metadata record JSON file, or - for stdin")
    ins.add_argument("--chunk-seconds", type=float, default=1.0, help="audio seconds per chunk (default 1.0)")
    ins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _code_args(ins)

    imp = psub.add_parser("import", help="DDEX ERN XML and/or CWR 2.x → a metadata record JSON")
    imp.add_argument("--ddex", type=Path, help="ERN 3.8/4.x NewReleaseMessage (recording and release)")
    imp.add_argument("--cwr", type=Path, help="CWR 2.x file (work, writers, publishers with shares)")
    imp.add_argument("--work", help="which CWR work: submitter work number, ISWC or title")
    imp.add_argument("--out", type=Path, help="write the record here (default: stdout)")

    key = psub.add_parser("keygen", help="write a new random 256-bit key (hex, owner-only permissions)")
    key.add_argument("path", type=Path, help="key file to create (never overwritten)")

    sim = psub.add_parser("simulate", help="recovery rate through a simulated noisy, lossy channel")
    sim.add_argument("metadata", help="metadata record JSON file, or - for stdin")
    sim.add_argument("--ber", default="0.01,0.05,0.1", help="bit error rates, comma-separated")
    sim.add_argument("--loss", default="0,0.2", help="shares of lost chunks, comma-separated")
    sim.add_argument("--cycles", type=float, default=2.0, help="audio length in schedule cycles (default 2)")
    sim.add_argument("--trials", type=int, default=10, help="random trials per setting (default 10)")
    sim.add_argument("--model", choices=("awgn", "bsc"), default="awgn", help="soft-bit noise model")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _code_args(sim)


def _settings(args: argparse.Namespace, code: str | None = None, **extra: Any) -> CodeSettings:
    from soundsafe.payload.packets import PRESETS, CodeSettings

    code = code or args.code
    if code not in PRESETS:
        raise ValueError(f"unknown code setting {code!r}; choose from {', '.join(PRESETS)}")
    return CodeSettings(packet_bits=args.packet_bits, tag_bits=args.tag_bits, parity=PRESETS[code].parity,
                        core_period=args.core_period, **extra)


def _read_json(source: str) -> Any:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _emit(obj: Any, out: Path | None) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        from soundsafe.atomic import write_text

        write_text(out, text)


def run_payload(args: argparse.Namespace) -> int:
    from soundsafe.payload.cwr import CwrError
    from soundsafe.payload.ddex import DdexError
    from soundsafe.payload.keys import PayloadKeyError
    from soundsafe.payload.record import RecordError
    from soundsafe.payload.wire import PayloadFormatError

    try:
        return _ACTIONS[args.payload_command](args)
    except RecordError as exc:
        print("soundsafe payload: the metadata record is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    except (CwrError, DdexError, PayloadKeyError, PayloadFormatError, ValueError, OSError) as exc:
        print(f"soundsafe payload: error: {exc}", file=sys.stderr)
        return 1


def _encode(args: argparse.Namespace) -> int:
    from soundsafe.payload.keys import load_key
    from soundsafe.payload.packets import encode_payload

    key = load_key(args.key_file)
    encoded = encode_payload(_read_json(args.metadata), key, _settings(args))
    n = args.chunks or encoded.cycle_chunks
    width = encoded.settings.packet_bits // 4
    _emit({
        "format": "soundsafe-packets/1",
        "key_id": key.fingerprint,
        "settings": _settings_json(encoded.settings),
        "record": encoded.record,
        "layout": _layout_json(encoded),
        "chunks": [f"{int(''.join(map(str, row)), 2):0{width}x}" for row in encoded.chunk_bits(n)],
    }, args.out)
    return 0


def _settings_json(settings: Any) -> dict[str, Any]:
    return {"packet_bits": settings.packet_bits, "tag_bits": settings.tag_bits, "parity": settings.parity,
            "core_period": settings.core_period, "core_layer_bits": settings.core_layer_bits,
            "core_tag_bits": settings.core_tag_bits, "chase_bits": settings.chase_bits,
            "core_chase_bits": settings.core_chase_bits}


def _layout_json(encoded: Any) -> dict[str, Any]:
    layout = encoded.layout
    return {"extended_bytes": encoded.core.ext_length, "blocks": layout.blocks,
            "data_packets_per_block": layout.data_packets, "parity_packets_per_block": layout.parity_packets,
            "coded_packets": layout.total_packets, "cycle_chunks": encoded.cycle_chunks}


def _load_segments(source: str, k: int) -> list[list[Any]]:
    import numpy as np

    if source.endswith(".npy"):
        array = np.load(source)
        if array.ndim != 2 or array.shape[1] != k:
            raise ValueError(f"{source}: expected an array of shape (chunks, {k}), got {array.shape}")
        return [[None if np.isnan(row).all() else row for row in array]]
    data = _read_json(source)
    if isinstance(data, dict) and data.get("format") == "soundsafe-packets/1":
        # Packet words from `payload encode`: perfect hard bits, as a clean channel would give.
        words = [int(w, 16) for w in data["chunks"]]
        bits = np.unpackbits(np.frombuffer(b"".join(w.to_bytes(k // 8, "big") for w in words), dtype=np.uint8))
        return [list((bits.reshape(len(words), k).astype(float) * 2 - 1) * 10.0)]
    if isinstance(data, dict) and "segments" in data:
        return data["segments"]
    if isinstance(data, list):
        return [data]
    raise ValueError(f"{source}: expected packets from `payload encode`, {{'segments': …}} or a list of chunks")


def _decode(args: argparse.Namespace) -> int:
    from soundsafe.payload.decoder import decode_stream
    from soundsafe.payload.keys import load_key

    settings = _settings(args, chase_bits=args.chase_bits, core_chase_bits=args.core_chase_bits)
    result = decode_stream(_load_segments(args.input, settings.packet_bits), load_key(args.key_file), settings)
    _emit(result.to_dict(), None)
    if result.complete:
        return 0
    return EXIT_PARTIAL if result.fields else 1


def _inspect(args: argparse.Namespace) -> int:
    from soundsafe.payload.decoder import false_accept_bound
    from soundsafe.payload.keys import DEMO_KEY
    from soundsafe.payload.packets import CORE_BITS, encode_payload
    from soundsafe.payload.serialize import MAX_PAYLOAD_BYTES, field_sizes, serialize

    record = _read_json(args.metadata)
    settings = _settings(args)
    sizes = field_sizes(record)
    total = len(serialize(record))
    encoded = encode_payload(record, DEMO_KEY, settings)
    cycle = encoded.cycle_chunks
    info_bits = CORE_BITS + encoded.core.ext_length * 8
    coded_bits = cycle * settings.packet_bits
    report = {
        "serialized_bytes": total,
        "limit_bytes": MAX_PAYLOAD_BYTES,
        "field_bytes": sizes,
        "json_bytes": len(json.dumps(record, ensure_ascii=False).encode()),
        "settings": _settings_json(settings),
        "layout": _layout_json(encoded),
        "coded_bits_per_cycle": coded_bits,
        "overhead": round(coded_bits / info_bits - 1, 3),
        "seconds_to_isrc": settings.core_period * args.chunk_seconds,
        "seconds_to_full_payload": cycle * args.chunk_seconds,
        "bits_per_second": settings.packet_bits / args.chunk_seconds,
        "false_accept_per_read": false_accept_bound(settings),
    }
    if args.json:
        _emit(report, None)
        return 0
    print(f"serialized record: {total:,} of {MAX_PAYLOAD_BYTES:,} bytes (JSON: {report['json_bytes']:,})")
    for name, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:18s} {n:5d} B  {'#' * max(1, round(40 * n / max(sizes.values())))}")
    lay = report["layout"]
    print(f"chunks: K={settings.packet_bits} bits = {settings.core_layer_bits} core layer (segment n mod "
          f"{settings.core_period} of a {settings.core_codeword_bits}-bit codeword with a {settings.core_tag_bits}-bit "
          f"tag) + {settings.data_layer_bits} data layer (half a data packet)")
    print(f"data packets: {settings.packet_bits} bits = 8 header + {settings.body_bits} body + "
          f"{settings.tag_bits} tag, over two chunks")
    print(f"  extended payload {lay['extended_bytes']} B in {lay['blocks']} Reed–Solomon block(s) of "
          f"{lay['data_packets_per_block']} data + {lay['parity_packets_per_block']} parity packets")
    print(f"  one schedule cycle: {cycle} chunks = {coded_bits:,} coded bits for {info_bits:,} information bits "
          f"(overhead {report['overhead']:.0%})")
    print(f"audio needed at {report['bits_per_second']:g} bits/s: ISRC within {report['seconds_to_isrc']:g} s, "
          f"full payload within {report['seconds_to_full_payload']:g} s on a clean channel")
    print(f"false ISRC per read of unmarked audio: ≤ {report['false_accept_per_read']:.1e}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from soundsafe.payload.cwr import read_cwr, work_record
    from soundsafe.payload.ddex import merge_records, read_ern
    from soundsafe.payload.serialize import canonical_record

    if not args.ddex and not args.cwr:
        raise ValueError("give --ddex FILE and/or --cwr FILE")
    warnings: list[str] = []
    ern: dict[str, Any] = {}
    cwr: dict[str, Any] | None = None
    if args.ddex:
        ern, _contributors, w = read_ern(args.ddex)
        warnings += w if not args.cwr else []
    if args.cwr:
        cwr, w = work_record(read_cwr(args.cwr), args.work)
        warnings += w
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _emit(canonical_record(merge_records(ern, cwr)), args.out)
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from soundsafe.payload.keys import generate_key_file

    key = generate_key_file(args.path)
    print(f"wrote a new key to {args.path} (key id {key.fingerprint}); keep it secret and backed up", file=sys.stderr)
    return 0


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--{what} must be comma-separated numbers, got {text!r}") from None


def _simulate(args: argparse.Namespace) -> int:
    from soundsafe.payload.bench import channel_sweep

    rows = channel_sweep(_read_json(args.metadata), codes=args.code.split(","), bers=_floats(args.ber, "ber"),
                         losses=_floats(args.loss, "loss"), cycles=args.cycles, trials=args.trials,
                         model=args.model, seed=args.seed,
                         make_settings=lambda code: _settings(args, code))
    if args.json:
        _emit(rows, None)
        return 0
    print(f"{'code':9s} {'BER':>6s} {'loss':>5s} {'chunks':>6s} {'ISRC':>6s} {'full':>6s} {'decode s':>8s}")
    for r in rows:
        print(f"{r['code']:9s} {r['ber']:6.3f} {r['loss']:5.2f} {r['chunks']:6d} {r['isrc_rate']:6.0%} "
              f"{r['full_rate']:6.0%} {r['decode_seconds_median']:8.3f}")
    return 0


_ACTIONS = {"encode": _encode, "decode": _decode, "inspect": _inspect, "import": _import, "keygen": _keygen,
            "simulate": _simulate}
