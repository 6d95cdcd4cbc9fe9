"""Payload codec figures: record sizes, coded bits per code setting, encode/decode time (median of repeats).

    python benchmarks/payload_codec.py [META.json]

Uses a typical record (tests/data/sample_meta.json by default) and a maximal one built from it by adding
writers with incompressible 120-character names until the next would pass the 3,474-byte limit.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from timing import median_seconds  # benchmarks/timing.py, beside this script

from soundsafe.payload.channel import simulate_channel
from soundsafe.payload.decoder import decode_stream
from soundsafe.payload.keys import DEMO_KEY
from soundsafe.payload.packets import PRESETS, encode_payload
from soundsafe.payload.serialize import PayloadTooLargeError, serialize


def maximal(record: dict) -> dict:
    rng = random.Random(1)
    owners = record["writers"][:1]
    fixed = sum(e["share"] for e in record.get("publishers", []))
    while True:
        name = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(120))
        trial = [*owners, {"name": name, "ipi": owners[0]["ipi"], "share": 0.0, "role": "C"}]
        trial[0] = {**trial[0], "share": 100.0 - fixed}
        try:
            serialize({**record, "writers": trial})
        except PayloadTooLargeError:
            return {**record, "writers": owners}
        owners = trial


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1] / "tests/data/sample_meta.json")
    typical = json.loads(path.read_text())
    records = {"typical": typical, "maximal": maximal(typical)}
    print(f"{'record':8s} {'bytes':>5s} {'code':9s} {'blocks':>6s} {'k+p':>8s} {'cycle':>6s} {'coded bits':>10s} "
          f"{'encode ms':>9s} {'decode ms (clean, 1 cycle)':>26s}")
    for name, record in records.items():
        size = len(serialize(record))
        for code, settings in PRESETS.items():
            encoded = encode_payload(record, DEMO_KEY, settings)
            chunks = simulate_channel(encoded.chunk_bits(encoded.cycle_chunks), ber=0.0, rng=np.random.default_rng(0))
            enc = median_seconds(lambda r=record, s=settings: encode_payload(r, DEMO_KEY, s))
            dec = median_seconds(lambda c=chunks, s=settings: decode_stream([c], DEMO_KEY, s), repeats=3)
            lay = encoded.layout
            print(f"{name:8s} {size:5d} {code:9s} {lay.blocks:6d} {f'{lay.data_packets}+{lay.parity_packets}':>8s} "
                  f"{encoded.cycle_chunks:6d} {encoded.cycle_chunks * settings.packet_bits:10,d} {enc * 1e3:9.1f} "
                  f"{dec * 1e3:26.0f}")


if __name__ == "__main__":
    main()
